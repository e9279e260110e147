"""Training a toy run: a stream of fresh toy batches (or minibatches of a user's array) into
the one trainer.

Shared by ``idff demo``, ``idff train toy``, ``idff.train_run`` and ``benchmarks/toy_nfe.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from idff.methods import make_objective
from idff.models import build_model
from idff.toy.data import TOYS, sample_toy
from idff.training import TrainConfig, Trainer
from idff.training.checkpoint import init_from_run

__all__ = ["ToyStream", "train_toy"]


class ToyStream:
    """Infinite stream of fresh toy batches ``(x1, None)``, or minibatches of a fixed array."""

    def __init__(self, dataset: str | None, batch_size: int, data: np.ndarray | None = None):
        if data is None and dataset not in TOYS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(TOYS)}.")
        self.dataset, self.batch_size = dataset, batch_size
        self.data = None if data is None else torch.as_tensor(data, dtype=torch.float32)

    def __iter__(self):
        while True:
            if self.data is None:
                yield sample_toy(self.dataset, self.batch_size), None
            else:
                idx = torch.randint(0, self.data.shape[0], (self.batch_size,))
                yield self.data[idx], None


def train_toy(
    run_config: dict[str, Any],
    out: str | Path,
    train: TrainConfig,
    data: np.ndarray | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    resume: bool | str = False,
    init_from: str | Path | None = None,
) -> nn.Module:
    """Train the run a config describes; return the EMA model.

    ``resume``: continue the run saved in ``out`` (see :class:`~idff.training.Trainer`);
    ``init_from``: start from the weights of another run of the same network (fine-tuning).
    """
    from idff.methods import check_sigma
    from idff.training.memory import check_step_memory

    check_sigma(run_config)
    check_step_memory(run_config)
    if data is not None:  # a resume on a changed array is refused
        from idff.data.fingerprint import array_sha256, stamp_data

        stamp_data(run_config, out, resume, array_sha256(data))
    torch.manual_seed(train.seed)
    model = build_model(run_config["model"])
    if init_from is not None:
        init_from_run(model, run_config, init_from)
    objective = make_objective(run_config["objective"])
    stream = ToyStream(run_config["data"]["dataset"], run_config["data"]["batch_size"], data)
    trainer = Trainer(model, objective, stream, train, out, run_config, progress=progress,
                      device=device, resume=resume)
    return trainer.fit()
