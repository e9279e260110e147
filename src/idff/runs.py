"""One interface to every trained run: ``idff.load(path_or_name)``, :class:`Run` and the
registry of run kinds.

A run directory (``config.json`` + weights) records its ``"kind"``; each kind is a
:class:`~idff.run_kind.RunKind` that says, in one place, how to rebuild its network
(``load``), how to draw unconditional samples (``sample``, absent for forecasters that
need observed states) and, optionally, the training batches of a generic run (``stream``).
The built-in kinds (``toy``, ``image``, ``sst``, ``md``, ``kolmogorov``) are the ``KIND``
constants of the modules in the explicit table :data:`BUILTIN`, read on first use; a new
data kind is one call to :func:`register_kind`, after which ``idff.load``,
``idff.train_run``, ``idff sample`` and ``idff bench nfe`` all work with it::

    register_kind("rings", stream=lambda cfg: my_batches(cfg),
                  sample=gaussian_sampler(lambda cfg: (cfg["data"]["dim"],)))

The runs shipped with idff load by name (:data:`SHIPPED`, ``idff.load("fashion_mnist/idff")``):
from the folder named by ``$IDFF_CHECKPOINTS`` when set, else from the installed package
(the wheel carries them) or, in a clone, from ``checkpoints/``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from idff.errors import ConfigError, UserError, check_device
from idff.run_kind import (
    CACHE_ENV,
    SHIPPED,
    SMALL_TRAIN,
    LoadFn,
    RunKind,
    SampleFn,
    TrainFn,
    attach_sigma,
    draw_source,
    gaussian_sampler,
    load_weights,
    resolve,
    run_folders,
    run_kind_of,
)
from idff.sampling import SamplingConfig
from idff.sampling.result import SampleResult
from idff.threads import using_threads

__all__ = [
    "Run",
    "RunKind",
    "KINDS",
    "BUILTIN",
    "SHIPPED",
    "SMALL_TRAIN",
    "CACHE_ENV",
    "register_kind",
    "get_kind",
    "load",
    "resolve",
    "run_folders",
    "run_kind_of",
    "attach_sigma",
    "load_weights",
    "gaussian_sampler",
    "draw_source",
]

KINDS: dict[str, RunKind] = {}

#: the built-in kinds: the module whose ``KIND`` constant each one is (read on first use)
BUILTIN = {"toy": "idff.toy.kind", "image": "idff.images.kind", "sst": "idff.sst.train",
           "md": "idff.md.train", "kolmogorov": "idff.kolmogorov.train"}


def register_kind(name: str, load: LoadFn | None = None, sample: SampleFn | None = None,
                  stream: Callable[[dict[str, Any]], Iterable] | None = None,
                  published_sde: bool = False, note: str = "", *,
                  data_range: tuple[float, float] | None = None, train: TrainFn | None = None,
                  train_defaults: dict[str, Any] | None = None,
                  requires: tuple[str, ...] = (),
                  takes: tuple[str, ...] | None = None) -> RunKind:
    """Register (or replace) the kind ``name``; returns its :class:`RunKind`."""
    KINDS[name] = RunKind(name, load, sample, stream, published_sde, note, data_range, train,
                          train_defaults, tuple(requires),
                          None if takes is None else tuple(takes))
    return KINDS[name]


def get_kind(name: str) -> RunKind:
    """The kind ``name``: one registered by :func:`register_kind`, else a built-in of
    :data:`BUILTIN` (its module is imported on first use)."""
    if name not in KINDS and name in BUILTIN:
        kind = importlib.import_module(BUILTIN[name]).KIND
        if kind.name != name:
            raise RuntimeError(f"{BUILTIN[name]}.KIND is the kind {kind.name!r}, not {name!r}.")
        KINDS[name] = kind
    if name not in KINDS:
        known = ", ".join(sorted(set(KINDS) | set(BUILTIN)))
        raise UserError(f"no run kind {name!r} is registered (known: {known}); register it "
                        "first with idff.register_kind.")
    return KINDS[name]


def _check_count(n: Any, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{what} must be an integer >= 1 (the number of samples), got {n!r}.")
    return n


@dataclass
class Run:
    """A trained run: its network, its configs and how to sample it.

    The network carries its σ (and its heads' parametrization); :attr:`sampling` holds the
    same σ, and sampling it with another is refused.

    Attributes:
        path: the run directory (or published checkpoint file).
        kind: its registered kind.
        model: the EMA network, in eval mode.
        config: the run config (current layout, see :mod:`idff.run_config`).
        sampling: the run's sampling settings.
        device: where :meth:`sample` runs by default (see :meth:`to`).
    """

    path: Path
    kind: str
    model: nn.Module
    config: dict[str, Any]
    sampling: SamplingConfig
    device: torch.device | str = "cpu"

    def __repr__(self) -> str:
        return (f"Run(kind={self.kind!r}, path='{self.path}', method={self.sampling.method!r}, "
                f"sigma={self.sampling.sigma!r}, step={self.config.get('step')!r}, "
                f"device='{self.device}')")

    @property
    def train(self) -> dict[str, Any]:
        """The training settings the run recorded."""
        return self.config.get("train", {})

    def to(self, device: str | torch.device) -> Run:
        """Move the network to ``device`` (where :meth:`sample` then runs); returns ``self``.

        Raises:
            UserError: a device name torch does not know, or one this machine lacks.
        """
        check_device(str(device), "device")
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    def sample(
        self,
        n: int | None = None,
        *,
        nfe: int | None = None,
        solver: str | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        x0: Tensor | None = None,
        labels: Tensor | None = None,
        guidance: float = 1.0,
        return_trajectory: bool = False,
        clamp: bool | tuple[float, float] | None = None,
        device: str | torch.device | None = None,
        sampling: SamplingConfig | None = None,
        threads: int | None = None,
        progress: bool = False,
        **overrides: Any,
    ) -> SampleResult:
        """Draw ``n`` samples with the run's sampling settings (or ``sampling``), changed by
        ``nfe``, ``solver`` and ``overrides`` (``field=``, ``gamma=``, ``s=``, ``sde=``).

        Args:
            n: how many (``>= 1``; defaults to ``len(x0)`` when ``x0`` is given).
            nfe: network evaluations per sample; refused with an adaptive solver
                (``dopri5``, ...), which picks its own steps (the result reports the count).
                Where the run stores a sampler for this NFE (``sampling.budgets``) and no
                ``solver`` or other sampling option is given, that sampler is used.
            solver: a solver of :func:`idff.integrate`.
            seed: ``None`` (default): fresh noise from torch's global generator, as
                ``torch.randn`` (so ``torch.manual_seed`` makes it repeatable); an ``int``:
                the same samples on every call.
            generator: draw the source and the solver's noise from this generator instead.
            x0: the source points, ``(n, *shape)``.
            labels: class labels ``(n,)`` of a class-conditional run.
            guidance: classifier-free guidance scale (with ``labels``; 1 = none).
            return_trajectory: also return the states along the way (``.trajectory``).
            clamp: ``None`` (default): clamp to the kind's data range, if it has one (images:
                ``[-1, 1]``); ``False``: return the solver's output as is; ``True`` or
                ``(low, high)``: clamp. The trajectory is never clamped.
            device: where to sample (default: the run's, see :meth:`to`); results come back
                on the CPU.
            threads: CPU threads for torch while sampling; ``None`` (default): one for a
                network under 5 M parameters on the CPU, torch's count otherwise
                (:mod:`idff.threads`). The previous count is restored after.
            progress: show a bar of network evaluations when sampling takes more than two
                seconds (kinds whose sample function takes ``progress=``, such as the toys;
                others sample without one).

        Returns:
            a :class:`~idff.sampler.SampleResult`: ``.x`` (``(n, ...)``), ``.nfe`` (counted
            network calls per sample), ``.trajectory`` and ``.times`` when asked.

        Raises:
            ConfigError: a bad count, option or combination (one line naming the fix).
            UserError: a kind that samples from observed states, not from noise, or a
                ``device`` this machine does not have.
        """
        spec = get_kind(self.kind)
        if device is not None:
            check_device(str(device), "device")
        if spec.sample is None:
            raise UserError(f"{self.path} is a {self.kind!r} run, which samples from observed "
                            f"states, not from noise. {spec.note}".strip())
        if x0 is not None:
            n = len(x0) if n is None else n
            if _check_count(n) != len(x0):
                raise ConfigError(f"n={n} but x0 holds {len(x0)} sources; pass one of them.")
        _check_count(n)
        if seed is not None and generator is not None:
            raise ConfigError("pass seed or generator, not both (the generator is the seed).")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ConfigError(f"seed must be an integer >= 0 or None, got {seed!r}.")
        base = sampling or self.sampling
        if sampling is not None and (sampling.method == "idff") != (self.sampling.method ==
                                                                     "idff"):
            raise ConfigError(f"sampling is a config for method {sampling.method!r}, but this "
                              f"run is {self.sampling.method!r}; start from the run's own: "
                              "run.sampling.replace(...).")
        # an NFE with an adaptive solver is refused by SamplingConfig (one place)
        s = base.replace(nfe=nfe, solver=solver, **overrides)
        if seed is None and generator is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())  # fresh, like torch.randn
        extras = {"generator": generator, "x0": x0, "labels": labels,
                  "guidance": None if guidance == 1.0 else guidance,
                  "return_trajectory": return_trajectory or None}
        extras = {k: v for k, v in extras.items() if v is not None}
        for k in extras:
            if k not in spec.takes:
                raise ConfigError(f"runs of kind {self.kind!r} do not take {k}= (their "
                                  "sample function has no such parameter).")
        if progress and "progress" in spec.takes:
            extras["progress"] = True
        lohi = self._clamp_range(clamp, spec)
        where = device if device is not None else self.device
        with torch.no_grad(), using_threads(self.model, where, threads):
            out = spec.sample(self.model, self.config, n, s, seed=seed if seed is not None else 0,
                              device=where, **extras)
        res = out if isinstance(out, SampleResult) else SampleResult(x=out[0], nfe=out[1])
        if lohi is not None:
            res.x = res.x.clamp(*lohi)
        return res

    def _clamp_range(self, clamp: Any, spec: RunKind) -> tuple[float, float] | None:
        if clamp is None:
            return spec.data_range
        if clamp is False:
            return None
        if clamp is True:
            if spec.data_range is None:
                raise ConfigError(f"runs of kind {self.kind!r} have no fixed data range to "
                                  "clamp to; pass clamp=(low, high).")
            return spec.data_range
        try:
            lo, hi = (float(v) for v in clamp)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"clamp must be None, True, False or (low, high), got "
                              f"{clamp!r}.") from e
        if not lo < hi:
            raise ConfigError(f"clamp=(low, high) needs low < high, got {clamp!r}.")
        return lo, hi

    def save(self, out: str | Path) -> Path:
        """Write the run to the folder ``out`` as ``config.json`` + ``snapshot.safetensors``
        (no pickle; :func:`load` and every command that takes a run read it).

        Raises:
            RunError: ``out`` already holds a run.
        """
        from safetensors.torch import save

        from idff.io import atomic_write, atomic_write_json
        from idff.training.checkpoint import RunError

        out = Path(out)
        if any((out / f).exists() for f in ("config.json", "snapshot.pt",
                                            "snapshot.safetensors")):
            raise RunError(f"{out} already holds a run; save to an empty folder.")
        config = {k: v for k, v in self.config.items() if k != "step"}
        step = int(self.config.get("step", 0))
        # safetensors refuses tensors that share memory; clones are independent and equal
        tensors = {k: v.detach().cpu().contiguous().clone()
                   for k, v in self.model.state_dict().items()}
        blob = save(tensors, metadata={"step": str(step), "format": "idff-snapshot"})
        atomic_write(out / "snapshot.safetensors", lambda f: f.write(blob))
        atomic_write_json(config, out / "config.json", indent=2, sort_keys=True)
        return out


def load(path_or_name: str | os.PathLike) -> Run:
    """Load any trained run: toy, image (or a published image checkpoint), SST, MD, a
    registered kind, or a shipped run by name (:data:`SHIPPED`: ``"fashion_mnist/idff"``,
    ``"fashion_mnist/otcfm"``, ``"fashion_mnist/icfm"``; see :func:`resolve`).
    ``run.sample(n, nfe=4)`` draws samples where the kind allows it."""
    p = resolve(path_or_name)
    kind = run_kind_of(p)
    model, config = get_kind(kind).load(p)
    attach_sigma(model, config)
    return Run(p, kind, model, config, SamplingConfig.from_run(config))
