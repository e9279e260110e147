"""One interface to every trained run: ``idff.load(path)`` and the registry of run kinds.

A run directory (``config.json`` + weights) records its ``"kind"``; each kind registers,
in one place, how to rebuild its network (``load``), how to draw unconditional samples
(``sample``, absent for forecasters that need observed states) and, optionally, the
training batches of a generic run (``stream``). The built-in kinds (``toy``, ``image``,
``sst``, ``md``) register when their module is imported; a new data kind is one module
that calls :func:`register_kind`, after which ``idff.load``, ``idff.train_run``,
``idff sample`` and ``idff bench nfe`` all work with it::

    register_kind("rings", stream=lambda cfg: my_batches(cfg),
                  sample=gaussian_sampler(lambda cfg: (cfg["data"]["dim"],)))
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from idff.errors import UserError
from idff.sampling import SamplingConfig

__all__ = [
    "Run",
    "RunKind",
    "KINDS",
    "register_kind",
    "load",
    "load_weights",
    "gaussian_sampler",
    "train_run",
]

#: ``load(path) -> (model, config)``
LoadFn = Callable[[Path], tuple[nn.Module, dict[str, Any]]]
#: ``sample(model, config, n, sampling, seed, device) -> (x, nfe)``
SampleFn = Callable[..., tuple[Tensor, int]]


@dataclass
class RunKind:
    """What a kind of run needs: see the module docstring.

    Attributes:
        name: the ``"kind"`` recorded in ``config.json``.
        load: rebuild ``(model, config)`` from a run path (default: :func:`load_weights`).
        sample: draw ``n`` unconditional samples; ``None`` for kinds that forecast from
            observed states (their own commands sample them).
        stream: ``stream(config)`` yields training batches ``(x1, cond)`` for
            :func:`train_run`; ``None`` for kinds with their own training entry point.
        published_sde: ``idff bench nfe`` candidates of the published field add its
            diffusion (the toys' published recipe) instead of integrating its ODE.
        note: how to use a kind without ``sample`` (shown in errors).
    """

    name: str
    load: LoadFn | None = None
    sample: SampleFn | None = None
    stream: Callable[[dict[str, Any]], Iterable] | None = None
    published_sde: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if self.load is None:
            self.load = load_weights


KINDS: dict[str, RunKind] = {}

#: modules that register the built-in kinds when imported
BUILTIN = {"toy": "idff.experiments.toy", "image": "idff.experiments.images",
           "sst": "idff.experiments.sst", "md": "idff.experiments.md",
           "kolmogorov": "idff.experiments.kolmogorov"}


def register_kind(name: str, load: LoadFn | None = None, sample: SampleFn | None = None,
                  stream: Callable[[dict[str, Any]], Iterable] | None = None,
                  published_sde: bool = False, note: str = "") -> RunKind:
    """Register (or replace) the kind ``name``; returns its :class:`RunKind`."""
    KINDS[name] = RunKind(name, load, sample, stream, published_sde, note)
    return KINDS[name]


def get_kind(name: str) -> RunKind:
    """The registered kind ``name`` (built-ins are imported on first use)."""
    if name not in KINDS and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in KINDS:
        known = ", ".join(sorted(set(KINDS) | set(BUILTIN)))
        raise UserError(f"no run kind {name!r} is registered (known: {known}); import the "
                        "module that calls idff.runs.register_kind for it first.")
    return KINDS[name]


def load_weights(path: str | Path, kind: str | None = None,
                 build: Callable[[dict[str, Any]], nn.Module] | None = None,
                 ) -> tuple[nn.Module, dict[str, Any]]:
    """The one loader of run directories: the config, ``build(config)`` (default
    ``build_model(config["model"])``) and the EMA snapshot into it, in eval mode.

    Raises:
        RunError: not a run directory, a run of another ``kind``, or weights that do not fit.
    """
    from idff.models import build_model
    from idff.training.checkpoint import RunError, load_run, load_state_dict_checked

    config, state, step = load_run(path)
    found = config.get("kind", "toy")
    if kind is not None and found != kind:
        raise RunError(f"{path} is a {found!r} run, not a {kind} run (idff train {kind}); this "
                       f"command takes {kind} runs.")
    model = build(config) if build is not None else build_model(config["model"])
    snap = Path(path) / "snapshot.pt"
    load_state_dict_checked(model, state, str(snap if snap.is_file() else
                                              Path(path) / "snapshot.safetensors"))
    config["step"] = step
    return model.eval(), config


def gaussian_sampler(shape: Callable[[dict[str, Any]], tuple[int, ...]]) -> SampleFn:
    """A ``sample`` function for unconditional runs: ``N(0, I)`` sources of ``shape(config)``."""

    @torch.no_grad()
    def sample(model: nn.Module, config: dict[str, Any], n: int, sampling: SamplingConfig,
               seed: int = 0, device: str | torch.device = "cpu") -> tuple[Tensor, int]:
        g = torch.Generator().manual_seed(seed)
        x0 = torch.randn(n, *shape(config), generator=g).to(device)
        if torch.device(device).type != "cpu":
            g = torch.Generator(device=device).manual_seed(seed)
        res = sampling.integrate(model.to(device), x0, generator=g)
        return res.x.cpu(), res.nfe

    return sample


@dataclass
class Run:
    """A trained run: its network, its configs and how to sample it.

    Attributes:
        path: the run directory (or published checkpoint file).
        kind: its registered kind.
        model: the EMA network, in eval mode.
        config: the run config (current layout, see :mod:`idff.run_config`).
        sampling: the run's sampling settings.
    """

    path: Path
    kind: str
    model: nn.Module
    config: dict[str, Any]
    sampling: SamplingConfig

    @property
    def train(self) -> dict[str, Any]:
        """The training settings the run recorded."""
        return self.config.get("train", {})

    def sample(self, n: int, seed: int = 0, device: str | torch.device = "cpu",
               sampling: SamplingConfig | None = None, **overrides: Any) -> tuple[Tensor, int]:
        """``n`` samples and the counted NFE per sample, with the run's sampling settings
        (or ``sampling``) changed by ``overrides`` (``nfe=``, ``solver=``, ...)."""
        spec = get_kind(self.kind)
        if spec.sample is None:
            raise UserError(f"{self.path} is a {self.kind!r} run, which samples from observed "
                            f"states, not from noise. {spec.note}".strip())
        s = (sampling or self.sampling).replace(**overrides)
        return spec.sample(self.model, self.config, n, s, seed=seed, device=device)


def run_kind_of(path: str | Path) -> str:
    """The kind of the run at ``path`` (a ``.pt``/``.pth`` file is a published image
    checkpoint).

    Raises:
        UserError: no run there.
    """
    p = Path(path)
    if p.is_file() and p.suffix in (".pt", ".pth"):
        return "image"
    cfg = p / "config.json"
    if not cfg.is_file():
        raise UserError(f"{p} is not a run: it has no config.json (pass the --out folder of an "
                        "'idff train' command, or a published .pt checkpoint).")
    try:
        return json.loads(cfg.read_text()).get("kind", "toy")
    except json.JSONDecodeError as e:
        raise UserError(f"{cfg} is not valid JSON ({e}).") from e


def load(path: str | Path) -> Run:
    """Load any trained run: toy, image (or a published image checkpoint), SST, MD, or a
    registered kind. ``run.sample(n, nfe=4)`` draws samples where the kind allows it."""
    p = Path(path)
    kind = run_kind_of(p)
    model, config = get_kind(kind).load(p)
    return Run(p, kind, model, config, SamplingConfig.from_run(config))


def train_run(config: dict[str, Any], out: str | Path, train: Any, progress: bool = True,
              device: str | torch.device = "cpu", resume: bool = False,
              init_from: str | Path | None = None) -> nn.Module:
    """Train a run of a kind that registered a ``stream``; returns the EMA model.

    ``config`` holds ``kind``, ``method``, ``objective``, ``model`` and whatever the kind's
    stream reads; ``train`` is a :class:`~idff.training.TrainConfig`. ``out`` must hold no
    run, unless ``resume=True`` continues the one saved there; ``init_from`` starts from
    the weights of another run of the same network (fine-tuning into ``out``).

    Raises:
        UserError: ``out`` holds another run (or nothing to resume), the device is not on
            this machine, or the ``sampling`` section is invalid; nothing is written.
    """
    from idff.errors import check_device
    from idff.methods import make_objective
    from idff.models import build_model
    from idff.training import Trainer
    from idff.training.checkpoint import claim_run_dir, init_from_run

    spec = get_kind(config.get("kind", "toy"))
    if spec.stream is None:
        raise UserError(f"runs of kind {spec.name!r} train with their own command "
                        f"(idff train {spec.name}).")
    if init_from is not None and resume:
        raise UserError("init_from starts a new run from another run's weights; resume=True "
                        "continues the run in out. Give one of them.")
    check_device(str(device), "device")
    claim_run_dir(out, resume)
    if "sampling" in config:  # invalid sampling settings fail now, not after training
        SamplingConfig.from_run(config)
    torch.manual_seed(train.seed)
    model = build_model(config["model"])
    if init_from is not None:
        init_from_run(model, config, init_from)
    objective = make_objective(config["objective"])
    trainer = Trainer(model, objective, spec.stream(config), train, out, config,
                      progress=progress, device=device, resume=resume)
    return trainer.fit()
