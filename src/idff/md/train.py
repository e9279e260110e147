"""Training and loading MD (and Lorenz-63) runs: the (frame k, frame k+τ) pairs as
batches (:class:`PairedObjective`), :func:`train_md`, :func:`load_md_model` and the run kind
``"md"`` (:data:`KIND`). A run directory holds the JSON config (model, objective, data
source and split, lag/history/conditioning, sampling defaults) beside the EMA weights, so
evaluation rebuilds everything from the run alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from idff.md.data import TransitionStream, make_transitions
from idff.md.series import load_series
from idff.methods import make_objective
from idff.models import build_model
from idff.run_kind import RunKind, load_weights
from idff.training import TrainConfig, Trainer
from idff.training.checkpoint import init_from_run

__all__ = ["PairedObjective", "train_md", "load_md_model", "KIND"]


class PairedObjective:
    """Adapt ``objective(model, x1, cond, x0=...)`` to batches whose ``cond`` is ``(x0, c)``."""

    def __init__(self, objective):
        self.objective = objective

    def __call__(self, model: nn.Module, x1: torch.Tensor, cond) -> Any:
        x0, c = cond
        return self.objective(model, x1, c, x0=x0)


def _transitions(cfg: dict[str, Any], series: dict[str, Any]):
    d = cfg["data"]
    return make_transitions(series["train"], d["lag"], d["history"], d["cond"],
                            periodic=series["periodic"], index_scale=d.get("index_scale"))


def train_md(run_config: dict[str, Any], out: str | Path, train: TrainConfig,
             series: dict[str, Any] | None = None, progress: bool = True,
             device: str | torch.device = "cpu", resume: bool | str = False,
             init_from: str | Path | None = None) -> nn.Module:
    """Train the run a config describes; return the EMA model (``resume``: see
    :class:`~idff.training.Trainer`; ``init_from``: start from another run's weights)."""
    torch.manual_seed(train.seed)
    series = series or load_series(run_config["data"], progress)
    d = run_config["data"]
    d.setdefault("index_scale", float(max(len(s) for s in series["train"])))
    pairs = _transitions(run_config, series)
    model = build_model(run_config["model"])
    if init_from is not None:
        init_from_run(model, run_config, init_from)
    objective = PairedObjective(make_objective(run_config["objective"]))
    stream = TransitionStream(pairs, d["batch_size"], seed=train.seed)
    trainer = Trainer(model, objective, stream, train, out, run_config, progress=progress,
                      device=device, resume=resume)
    return trainer.fit()


def load_md_model(run_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the EMA model of an MD/Lorenz run directory."""
    return load_weights(run_dir, "md")


KIND = RunKind("md", load=load_md_model,
               note="Roll it out with 'idff md-eval RUN' (idff.md.evaluate.evaluate_md).")
