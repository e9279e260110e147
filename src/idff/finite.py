"""NaN/inf checks that a training loop can defer instead of waiting for the device.

``if not torch.isfinite(x).all(): raise ...`` reads a device value, so on a GPU it stalls
the host until all queued work is done. Checks written with :func:`require_finite` raise
at once, except inside :func:`deferred_checks`, where they are collected as device-side
flags; the caller reads them later (the trainer does so on logging and checkpoint steps)
and raises the error of the first one that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Check", "deferred_checks", "require_finite"]


@dataclass
class Check:
    """A deferred check: ``ok`` (0-d bool tensor), the checked scalar's ``value`` (0-d,
    or ``None`` for non-scalars) and ``error(value) -> Exception``."""

    ok: Tensor
    value: Tensor | None
    error: Callable[[float], Exception]


_SINK: ContextVar[list[Check] | None] = ContextVar("idff_deferred_checks", default=None)


@contextmanager
def deferred_checks() -> Iterator[list[Check]]:
    """Collect the :func:`require_finite` checks made in this block instead of raising."""
    sink: list[Check] = []
    token = _SINK.set(sink)
    try:
        yield sink
    finally:
        _SINK.reset(token)


def require_finite(x: Tensor, error: Callable[[float], Exception]) -> None:
    """Raise ``error(value)`` unless every entry of ``x`` is finite (``value``: ``x``
    itself when it is a scalar, else NaN); inside :func:`deferred_checks`, record it."""
    scalar = x.numel() == 1
    sink = _SINK.get()
    if sink is not None:
        sink.append(Check(torch.isfinite(x).all(), x.detach().reshape(()) if scalar else None,
                          error))
        return
    if not torch.isfinite(x).all():
        raise error(x.item() if scalar else float("nan"))
