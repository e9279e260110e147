"""How many CPU threads torch uses: a policy that is fast for the network at hand.

torch starts with one thread per core. For the small networks of this package (the 2D-toy
MLPs, the time-series and Fashion-MNIST UNets) that is much slower than one thread: each
operation is too small to split, and the threads spend the step synchronising. Measured on a
2-core machine (docs/results/performance.md): a toy MLP step takes 11 ms on one thread and
139 ms on two; a 1.1 M-parameter UNet step at batch 32 0.55 s and 1.2 s.

The policy (``threads=None``, the default everywhere): on the CPU, a network with fewer than
:data:`SMALL_NETWORK` parameters runs on one thread; a larger one, or any network on a GPU,
keeps torch's count. An explicit count (``--threads N``, ``threads=N``) always wins, and
the Python entry points put the previous count back when they return.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

import torch
from torch import nn

from idff.errors import ConfigError

__all__ = ["SMALL_NETWORK", "check_threads", "choose_threads", "threads_for", "using_threads"]

#: networks with fewer parameters than this run on one CPU thread by default
SMALL_NETWORK = 5_000_000

_chosen: int | None = None  # the process-wide count a command line asked for (--threads)
_scoped: list[int] = []  # explicit counts of the enclosing using_threads blocks


def choose_threads(threads: int | None) -> None:
    """Use ``threads`` for everything this process computes from now on (``--threads``);
    ``None`` goes back to the policy."""
    global _chosen
    _chosen = check_threads(threads, "--threads")
    if _chosen is not None:
        torch.set_num_threads(_chosen)


def check_threads(threads: object, what: str = "threads") -> int | None:
    """``threads`` if it is ``None`` or an integer >= 1; otherwise a one-line ConfigError."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ConfigError(f"{what} must be an integer >= 1 (CPU threads for torch) or None "
                          f"(one thread for small networks on the CPU), got {threads!r}.")
    return int(threads)


def threads_for(model: nn.Module | None, device: str | torch.device = "cpu",
                threads: int | None = None) -> int:
    """The thread count the policy picks for ``model`` on ``device`` (see the module)."""
    threads = check_threads(threads)
    if threads is not None:
        return threads
    if _scoped:
        return _scoped[-1]
    if _chosen is not None:
        return _chosen
    if torch.device(device).type != "cpu" or model is None:
        return torch.get_num_threads()
    size = sum(p.numel() for p in model.parameters())
    return 1 if size < SMALL_NETWORK else torch.get_num_threads()


@contextlib.contextmanager
def using_threads(model: nn.Module | None, device: str | torch.device = "cpu",
                  threads: int | None = None) -> Iterator[int]:
    """Run the block with :func:`threads_for`'s count; the previous count comes back after.

    An explicit ``threads`` also holds for the blocks nested in this one.
    """
    before = torch.get_num_threads()
    n = threads_for(model, device, threads)
    if n != before:
        torch.set_num_threads(n)
    explicit = check_threads(threads) is not None
    if explicit:
        _scoped.append(n)
    try:
        yield n
    finally:
        if explicit:
            _scoped.pop()
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
