"""Training and loading SST runs: :func:`train_sst` (the :class:`~idff.sst.data.SSTWindows`
batches and :class:`~idff.timeseries.objective.ForecastObjective`), :func:`load_sst_model`
and the run kind ``"sst"`` (:data:`KIND`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from idff.models import SSTNet, build_sst_model, pad_size
from idff.run_kind import RunKind, load_weights
from idff.sst.config import load_sst_data
from idff.sst.data import SSTWindows
from idff.timeseries.objective import ForecastObjective
from idff.training import TrainConfig, Trainer
from idff.training.checkpoint import init_from_run

__all__ = ["train_sst", "load_sst_model", "KIND"]


def _contiguous(idx: np.ndarray) -> np.ndarray:
    if idx.size and (np.diff(idx) != 1).any():
        raise ValueError("a split must be a contiguous range of time steps.")
    return idx


def train_sst(config: dict[str, Any], out: str | Path, train: TrainConfig,
              progress: bool = True, device: str | torch.device = "cpu",
              resume: bool | str = False, init_from: str | Path | None = None) -> nn.Module:
    """Train the SST run a config describes into ``out``; return the EMA model (``resume``:
    see :class:`~idff.training.Trainer`; ``init_from``: start from another run's weights)."""
    cube, splits = load_sst_data(config["data"])
    tr = cube.select(_contiguous(splits["train"]))
    _, h, w = cube.mask.shape
    model_cfg = config["model"]
    levels = len(model_cfg.get("channel_mult", [1])) if model_cfg["backbone"] == "unet" else 1
    model_cfg.update({"in_channels": 1, "cond_channels": config["context"] + 2, "size": [h, w],
                      "pad_to": list(pad_size(h, w, levels))})
    config["data"]["stats"] = cube.stats  # forecasts reuse the training statistics
    torch.manual_seed(train.seed)
    model = build_sst_model(config)
    if init_from is not None:
        init_from_run(model, config, init_from)
    windows = SSTWindows(tr, config["horizon"], config["context"], config["batch_size"],
                         seed=train.seed)
    trainer = Trainer(model, ForecastObjective(config["objective"]), windows, train, out, config,
                      progress=progress, device=device, resume=resume)
    return trainer.fit()


def load_sst_model(run_dir: str | Path) -> tuple[SSTNet, dict[str, Any]]:
    """Rebuild the EMA model of an SST run directory."""
    return load_weights(run_dir, "sst", build_sst_model)



KIND = RunKind("sst", load=load_sst_model,
               note="Forecast it with 'idff forecast RUN' (idff.sst.forecast.sst_forecast).")
