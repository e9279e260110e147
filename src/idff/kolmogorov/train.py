"""Training and loading Kolmogorov runs: the losses
(:class:`~idff.timeseries.objective.ForecastObjective` for IDFF and OT-CFM,
:class:`IncrementMSE` for the deterministic UNet), :func:`train_kolmogorov`,
:func:`load_kolmogorov_model` and the run kind ``"kolmogorov"`` (:data:`KIND`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from idff.kolmogorov.config import load_data
from idff.kolmogorov.data import KolmogorovWindows
from idff.models import SSTNet, build_sst_model, pad_size
from idff.objective import LossOutput
from idff.run_kind import RunKind, load_weights
from idff.timeseries.objective import ForecastObjective
from idff.training import TrainConfig, Trainer
from idff.training.checkpoint import init_from_run

__all__ = ["IncrementMSE", "make_objective", "train_kolmogorov", "load_kolmogorov_model", "KIND"]


class IncrementMSE:
    """``mean (v(0, x0, cond) − (x1 − x0))²``: a deterministic one-step forecaster whose
    rollout is one Euler step of the velocity it learned."""

    def __call__(self, model: nn.Module, x1: Tensor, cond: dict[str, Tensor],
                 x0: Tensor | None = None, generator: torch.Generator | None = None) -> LossOutput:
        c, prev = cond["cond"].to(x1.device), cond["x0"].to(x1.device)
        t = torch.zeros(x1.shape[0], dtype=x1.dtype, device=x1.device)
        loss = (model(t, prev, c) - (x1 - prev)).pow(2).mean()
        return LossOutput(loss, loss.detach(), torch.zeros_like(loss))


def make_objective(forecaster: str, config: dict[str, Any]):
    """The training loss of ``forecaster`` with objective settings ``config``."""
    return IncrementMSE() if forecaster == "mse" else ForecastObjective(config)


def train_kolmogorov(config: dict[str, Any], out: str | Path, train: TrainConfig,
                     progress: bool = True, device: str | torch.device = "cpu",
                     resume: bool | str = False,
                     init_from: str | Path | None = None) -> nn.Module:
    """Train the run a config describes into ``out``; return the EMA model (``resume``:
    see :class:`~idff.training.Trainer`; ``init_from``: start from another run's weights)."""
    data = load_data(config["data"], ("train",))
    h, w = data.splits["train"].shape[-2:]
    m = config["model"]
    levels = len(m.get("channel_mult", [1]))
    m.update({"in_channels": 1, "cond_channels": config["context"] + 2, "size": [h, w],
              "pad_to": list(pad_size(h, w, levels))})
    config["data"]["stats"] = data.manifest["stats"]
    torch.manual_seed(train.seed)
    model = build_sst_model(config)
    if init_from is not None:
        init_from_run(model, config, init_from)
    windows = KolmogorovWindows(data.splits["train"], config["horizon"], config["context"],
                                config["batch_size"], seed=train.seed)
    trainer = Trainer(model, make_objective(config["forecaster"], config["objective"]), windows,
                      train, out, config, progress=progress, device=device, resume=resume)
    return trainer.fit()


def load_kolmogorov_model(run_dir: str | Path) -> tuple[SSTNet, dict[str, Any]]:
    """Rebuild the EMA model of a Kolmogorov run directory."""
    return load_weights(run_dir, "kolmogorov", build_sst_model)


KIND = RunKind("kolmogorov", load=load_kolmogorov_model,
               note="Forecast it with 'idff forecast RUN' or 'idff kolmogorov-benchmark'.")
