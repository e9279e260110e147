"""Training a run from Python: :func:`train_run`, with the kind's defaults and every check
of the command line (devices, σ, the folder, the threads)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from idff.errors import ConfigError, UserError, check_device
from idff.runs import Run, RunKind, attach_sigma, get_kind
from idff.sampling import SamplingConfig
from idff.threads import check_threads, using_threads

__all__ = ["train_run", "train_settings"]


def _lookup(config: dict[str, Any], dotted: str) -> bool:
    cur: Any = config
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False
        cur = cur[part]
    return True


def train_settings(kind: RunKind, config: dict[str, Any], train: Any) -> dict[str, Any]:
    """The training settings of a run: the kind's defaults, the config's ``"train"``
    section, then ``train`` (a :class:`~idff.training.TrainConfig` replaces them all; a
    dict changes them).

    Raises:
        ConfigError: an unknown key (naming the closest valid one).
    """
    from dataclasses import asdict, fields, is_dataclass

    from idff.errors import unknown_key_message
    from idff.training import TrainConfig

    if is_dataclass(train) and not isinstance(train, type):
        return asdict(train)
    if train is not None and not isinstance(train, dict):
        raise ConfigError(f"train must be a TrainConfig, a dict of its settings or None, got "
                          f"{type(train).__name__}.")
    given = {**(config.get("train") or {}), **(train or {})}
    valid = {f.name for f in fields(TrainConfig)} | {"batch_size"}
    for k in given:
        if k not in valid:
            raise ConfigError(unknown_key_message(k, "train", valid))
    return {**(kind.train_defaults or {}), **given}


def train_run(config: dict[str, Any], out: str | Path, train: Any = None, progress: bool = True,
              device: str | torch.device = "cpu", resume: bool = False,
              init_from: str | Path | None = None,
              on_log: Callable[[int, dict[str, float]], None] | None = None,
              threads: int | None = None) -> Run:
    """Train a run and return it (its EMA network, config and sampling settings).

    ``config`` comes from a builder (:func:`idff.toy_config`, :func:`idff.image_config`) or
    holds ``kind``, ``method``, ``objective``, ``model`` and whatever the kind's stream
    reads. Training settings are the kind's defaults (toys: a 200-step warm-up and EMA
    0.999; images: their preset's), then the config's ``"train"`` section, then ``train``:
    a dict of changes (``{"steps": 2000}``) or a whole :class:`~idff.training.TrainConfig`.

    Args:
        resume: ``out`` must hold no run, unless ``resume=True`` continues the one saved
            there.
        init_from: start from the weights of another run of the same network (fine-tuning
            into ``out``).
        on_log: called as ``on_log(step, metrics)`` at every logging step (``loss``,
            ``flow``, ``score``, ``grad_norm``, ``lr``, ...): hook W&B or another logger here.
        threads: CPU threads for torch while training; ``None`` (default): one for a network
            under 5 M parameters on the CPU, torch's count otherwise (:mod:`idff.threads`).

    Raises:
        ConfigError: a missing or unknown config section or key, or σ that disagree.
        UserError: ``out`` holds another run (or nothing to resume), the device is not on
            this machine, or the ``sampling`` section is invalid; nothing is written.
    """
    from idff.config_schema import check_config
    from idff.methods import check_sigma, make_objective
    from idff.models import build_model
    from idff.training import TrainConfig, Trainer
    from idff.training.checkpoint import claim_run_dir, init_from_run
    from idff.training.memory import check_step_memory

    if not isinstance(config, dict):
        raise ConfigError(f"config must be a dict (see idff.toy_config), got "
                          f"{type(config).__name__}.")
    check_config(config, "the run config", "build it with idff.toy_config or idff.image_config.")
    spec = get_kind(config.get("kind", "toy"))
    if spec.stream is None and spec.train is None:
        raise UserError(f"runs of kind {spec.name!r} train with their own command "
                        f"(idff train {spec.name}).")
    if init_from is not None and resume:
        raise UserError("init_from starts a new run from another run's weights; resume=True "
                        "continues the run in out. Give one of them.")
    missing = [k for k in ("method", "model", "objective", "objective.name", "objective.sigma",
                           *spec.requires) if not _lookup(config, k)]
    if missing:
        raise ConfigError(f"the run config lacks {', '.join(missing)}; build it with "
                          "idff.toy_config(method, dataset) or idff.image_config(preset), or "
                          "add them.")
    check_sigma(config)
    settings = train_settings(spec, config, train)
    config = {**config, "train": settings}
    check_device(str(device), "device")
    check_threads(threads)
    if "sampling" in config:  # invalid sampling settings fail now, not after training
        SamplingConfig.from_run(config)
    if spec.train is not None:
        with using_threads(None, device, threads):
            model = spec.train(config, out, progress=progress, device=device, on_log=on_log,
                               resume=resume, init_from=init_from)
    else:
        tc = TrainConfig(**{k: v for k, v in settings.items() if k != "batch_size"})
        check_step_memory({**config, "data": {**config.get("data", {}), **settings}})
        claim_run_dir(out, resume)
        torch.manual_seed(tc.seed)
        model = build_model(config["model"])
        if init_from is not None:
            init_from_run(model, config, init_from)
        objective = make_objective(config["objective"])
        trainer = Trainer(model, objective, spec.stream(config), tc, out, config,
                          progress=progress, device=device, on_log=on_log, resume=resume,
                          threads=threads)
        model = trainer.fit()
        config = trainer.run_config
    model = attach_sigma(model.eval(), config)
    return Run(Path(out), spec.name, model, config, SamplingConfig.from_run(config),
               device=torch.device(device))
