"""What a kind of run is, and the pieces every kind shares: :class:`RunKind`, the one
loader of run folders (:func:`load_weights`), the seeded source (:func:`draw_source`), an
unconditional sampler (:func:`gaussian_sampler`) and where runs are found by name
(:func:`resolve`).

Each task module declares its kind as a ``KIND = RunKind(...)`` constant and imports only
this module, never :mod:`idff.runs`; :mod:`idff.runs` finds the built-in kinds through its
explicit table (``idff.runs.BUILTIN``), so nothing registers by being imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from idff.errors import ConfigError, UserError
from idff.sampling import SamplingConfig
from idff.sampling.result import SampleResult

__all__ = [
    "RunKind",
    "SAMPLE_EXTRAS",
    "SMALL_TRAIN",
    "SHIPPED",
    "CACHE_ENV",
    "attach_sigma",
    "load_weights",
    "draw_source",
    "gaussian_sampler",
    "run_folders",
    "resolve",
    "run_kind_of",
]

#: ``load(path) -> (model, config)``
LoadFn = Callable[[Path], tuple[nn.Module, dict[str, Any]]]
#: ``sample(model, config, n, sampling, seed, device, **extras) -> SampleResult | (x, nfe)``;
#: ``extras`` are those of :meth:`Run.sample` the kind supports (``generator``, ``x0``,
#: ``labels``, ``guidance``, ``return_trajectory``), named in its signature
SampleFn = Callable[..., "SampleResult | tuple[Tensor, int]"]
#: ``train(config, out, progress, device, on_log, resume, init_from) -> nn.Module`` (the EMA
#: network); ``config["train"]`` holds the training settings
TrainFn = Callable[..., nn.Module]

#: training settings of a kind that names none: the small-network recipe of the toy, MD and
#: demo commands (a short warm-up and a fast EMA; the image presets carry their own)
SMALL_TRAIN: dict[str, Any] = {"steps": 5000, "lr": 1e-3, "warmup": 200, "ema_decay": 0.999}

#: the runs shipped with idff, loadable by name
SHIPPED = ("fashion_mnist/idff", "fashion_mnist/otcfm", "fashion_mnist/icfm",
           "fashion_mnist/idff-b128", "fashion_mnist/otcfm-b128",
           "fashion_mnist/idff-b128-student", "fashion_mnist/otcfm-b128-student")
#: environment variable naming a folder of runs loadable by name (``NAME/config.json``)
CACHE_ENV = "IDFF_CHECKPOINTS"


@dataclass
class RunKind:
    """What a kind of run needs: see the module docstring.

    Attributes:
        name: the ``"kind"`` recorded in ``config.json``.
        load: rebuild ``(model, config)`` from a run path (default: :func:`load_weights`).
        sample: draw ``n`` unconditional samples; ``None`` for kinds that forecast from
            observed states (their own commands sample them).
        stream: ``stream(config)`` yields training batches ``(x1, cond)`` for
            :func:`idff.train_run`; ``None`` for kinds with their own training entry point.
        published_sde: ``idff bench nfe`` candidates of the published field add its
            diffusion (the toys' published recipe) instead of integrating its ODE.
        note: how to use a kind without ``sample`` (shown in errors).
        data_range: ``(low, high)`` of the data (images: ``(-1, 1)``); :meth:`Run.sample`
            clamps to it by default. ``None``: no fixed range, nothing is clamped.
        train: a training function of its own (:data:`TrainFn`) used by :func:`idff.train_run`
            instead of ``stream`` (images: DDP-ready data loaders and sample grids).
        train_defaults: the :class:`~idff.training.TrainConfig` settings of this kind
            (default :data:`SMALL_TRAIN`); a config's ``"train"`` section overrides them.
        requires: dotted config keys :func:`idff.train_run` needs (``"data.dataset"``).
        takes: the options of :meth:`idff.runs.Run.sample` that ``sample`` accepts besides
            ``n``, ``sampling``, ``seed`` and ``device`` (of :data:`SAMPLE_EXTRAS`); ``None``
            (default): read from its signature once, when the kind is made. A kind without
            ``progress`` samples without a bar when one is asked for.
    """

    name: str
    load: LoadFn | None = None
    sample: SampleFn | None = None
    stream: Callable[[dict[str, Any]], Iterable] | None = None
    published_sde: bool = False
    note: str = ""
    data_range: tuple[float, float] | None = None
    train: TrainFn | None = None
    train_defaults: dict[str, Any] | None = None
    requires: tuple[str, ...] = ()
    takes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.load is None:
            self.load = load_weights
        if self.train_defaults is None:
            self.train_defaults = dict(SMALL_TRAIN)
        if self.takes is None:
            self.takes = _extras_of(self.sample)
        unknown = sorted(set(self.takes) - set(SAMPLE_EXTRAS))
        if unknown:
            raise ValueError(f"kind {self.name!r}: takes={unknown} are not options of "
                             f"Run.sample; choose from {', '.join(SAMPLE_EXTRAS)}.")


#: the options of :meth:`idff.runs.Run.sample` that a kind's ``sample`` may accept
SAMPLE_EXTRAS = ("generator", "x0", "labels", "guidance", "return_trajectory", "progress")


def _extras_of(sample: SampleFn | None) -> tuple[str, ...]:
    """The :data:`SAMPLE_EXTRAS` a sample function's signature names (all, with ``**kw``)."""
    import inspect

    if sample is None:
        return ()
    params = inspect.signature(sample).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return SAMPLE_EXTRAS
    return tuple(k for k in SAMPLE_EXTRAS if k in params)


def attach_sigma(model: nn.Module, config: dict[str, Any]) -> nn.Module:
    """Record the run's σ on its two-head network when the model config did not, so that
    the network carries every σ its sampling uses (:mod:`idff.network`)."""
    from idff.network import unwrap

    heads = unwrap(model)
    sigma = (config.get("objective") or {}).get("sigma")
    if (config.get("method", "idff") == "idff" and sigma is not None
            and hasattr(heads, "parametrization") and getattr(heads, "sigma", None) is None):
        heads.sigma = float(sigma)
    return model


def load_weights(path: str | Path, kind: str | None = None,
                 build: Callable[[dict[str, Any]], nn.Module] | None = None,
                 ) -> tuple[nn.Module, dict[str, Any]]:
    """The one loader of run directories: the config, ``build(config)`` (default
    ``build_model(config["model"])``) and the EMA snapshot into it, in eval mode.

    Raises:
        RunError: not a run directory, a run of another ``kind``, or weights that do not fit.
    """
    from idff.config_schema import require_model
    from idff.models import build_model
    from idff.training.checkpoint import (
        RunError,
        load_run,
        load_state_dict_checked,
        snapshot_file,
    )

    path = resolve(path)
    config, state, step = load_run(path)
    require_model(config, str(path / "config.json"))
    found = config.get("kind", "toy")
    if kind is not None and found != kind:
        raise RunError(f"{path} is a {found!r} run, not a {kind} run (idff train {kind}); this "
                       f"command takes {kind} runs.")
    model = build(config) if build is not None else build_model(config["model"])
    load_state_dict_checked(model, state, str(snapshot_file(path)))
    config["step"] = step
    return model.eval(), config


def draw_source(n: int, shape: tuple[int, ...], *, seed: int | None = None,
                generator: torch.Generator | None = None, x0: Tensor | None = None,
                device: str | torch.device = "cpu") -> tuple[Tensor, torch.Generator]:
    """The source ``x0 ~ N(0, I)`` of ``n`` samples of ``shape`` on ``device``, and the
    generator for the solver's noise.

    ``seed``: drawn on the CPU from ``torch.Generator().manual_seed(seed)`` (the same numbers
    on every device); ``generator``: drawn from it; ``x0``: used as given (checked).

    Raises:
        ConfigError: ``x0`` of another shape.
    """
    device = torch.device(device)
    if x0 is not None:
        x0 = torch.as_tensor(x0)
        if tuple(x0.shape) != (n, *shape):
            raise ConfigError(f"x0 has shape {tuple(x0.shape)}, but this run samples "
                              f"{(n, *shape)} (n={n} sources of shape {tuple(shape)}).")
        x0 = x0.to(device=device, dtype=torch.float32)
        if generator is None:
            generator = torch.Generator(device=device).manual_seed(0 if seed is None else seed)
        return x0, generator
    if generator is not None:
        x0 = torch.randn(n, *shape, generator=generator, device=generator.device).to(device)
        if generator.device.type != device.type:  # the solver's noise lives on ``device``
            derived = int(torch.randint(0, 2**62, (1,), generator=generator,
                                        device=generator.device))
            generator = torch.Generator(device=device).manual_seed(derived)
        return x0, generator
    g = torch.Generator().manual_seed(0 if seed is None else seed)
    x0 = torch.randn(n, *shape, generator=g).to(device)
    if device.type != "cpu":
        g = torch.Generator(device=device).manual_seed(0 if seed is None else seed)
    return x0, g


def gaussian_sampler(shape: Callable[[dict[str, Any]], tuple[int, ...]]) -> SampleFn:
    """A ``sample`` function for unconditional runs: ``N(0, I)`` sources of ``shape(config)``."""

    @torch.no_grad()
    def sample(model: nn.Module, config: dict[str, Any], n: int, sampling: SamplingConfig,
               seed: int = 0, device: str | torch.device = "cpu",
               generator: torch.Generator | None = None, x0: Tensor | None = None,
               return_trajectory: bool = False) -> SampleResult:
        x0, g = draw_source(n, tuple(shape(config)), seed=seed, generator=generator, x0=x0,
                            device=device)
        res = sampling.integrate(model.to(device), x0, generator=g,
                                 return_trajectory=return_trajectory)
        return _to_cpu(res)

    return sample


def _to_cpu(res: SampleResult) -> SampleResult:
    res.x = res.x.cpu()
    if res.trajectory is not None:
        res.trajectory = res.trajectory.cpu()
    if res.times is not None:
        res.times = res.times.cpu()
    return res


def run_kind_of(path: str | Path) -> str:
    """The kind of the run at ``path`` (a ``.pt``/``.pth`` file is a published image
    checkpoint; a shipped name is resolved, see :func:`resolve`).

    Raises:
        UserError: no run there.
    """
    p = resolve(path)
    if p.is_file() and p.suffix in (".pt", ".pth"):
        return "image"
    cfg = p / "config.json"
    if not cfg.is_file():
        raise UserError(f"{p} is not a run: it has no config.json (pass the --out folder of an "
                        "'idff train' command, or a published .pt checkpoint).")
    from idff.config_schema import read_config

    return read_config(cfg).get("kind", "toy")


def run_folders() -> list[Path]:
    """Where runs are looked up by name, in order: ``$IDFF_CHECKPOINTS``, the installed
    package's ``checkpoints`` (wheels carry :data:`SHIPPED`), a clone's ``checkpoints/``."""
    here = Path(__file__).resolve().parent
    dirs = [Path(os.environ[CACHE_ENV]).expanduser()] if os.environ.get(CACHE_ENV) else []
    return dirs + [here / "checkpoints", here.parents[1] / "checkpoints"]


def resolve(path_or_name: str | os.PathLike) -> Path:
    """The run at ``path_or_name``: an existing path, else a name such as
    ``"fashion_mnist/idff"`` looked up in :func:`run_folders`.

    Raises:
        UserError: a shipped name that none of those folders holds.
    """
    p = Path(path_or_name).expanduser()
    if p.exists() or p.is_absolute():
        return p
    name = p.as_posix().strip("/")
    for d in run_folders():
        if (d / name / "config.json").is_file():
            return d / name
    if name in SHIPPED:
        where = ", ".join(str(d) for d in run_folders())
        raise UserError(f"the shipped run {name!r} is in none of {where}; reinstall idff, or "
                        f"set {CACHE_ENV} to a folder holding {name}/ (a copy of the "
                        "repository's checkpoints/ folder).")
    return p
