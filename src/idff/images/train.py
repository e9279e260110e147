"""Training an image run (single process or one rank of ``torchrun``), with sample grids
drawn from the EMA model as it trains."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from idff.images.config import per_rank_batch, train_config_from
from idff.images.grid import write_grid
from idff.images.sample import sample_images
from idff.methods import make_objective
from idff.models import build_model

__all__ = ["build_run", "grid_callback", "train_images"]


def build_run(cfg: dict[str, Any], rank: int = 0, world_size: int = 1,
              device: str | torch.device = "cpu"):
    """Model, objective and data (batches served on ``device``) of an image run config."""
    from idff.images.batches import build_image_data

    model = build_model(cfg["model"])
    objective = make_objective(cfg["objective"])
    data = build_image_data(cfg["data"], per_rank_batch(cfg, world_size), rank=rank,
                            world_size=world_size, seed=int(cfg["train"].get("seed", 0)),
                            device=device)
    return model, objective, data


def grid_callback(trainer, cfg: dict[str, Any], every: int, n: int = 64) -> Callable:
    """``on_log`` hook writing ``samples/step_XXXXXXX.png`` from the EMA model every ``every``."""

    def hook(step: int, metrics: dict) -> None:
        if every <= 0 or step % every or not trainer.is_main:
            return
        ema = trainer.ema.module
        was_training = ema.training
        x, _ = sample_images(ema, cfg, n, device=trainer.device, batch_size=n)
        ema.train(was_training)
        write_grid(x, trainer.run_dir / "samples" / f"step_{step:07d}.png")

    return hook


def train_images(cfg: dict[str, Any], run_dir: str | os.PathLike, device: str = "cpu",
                 progress: bool = True, resume: bool | str = False,
                 init_from: str | os.PathLike | None = None, compile: bool = False,
                 on_log: Callable[[int, dict], None] | None = None):
    """Train an image run (single process or one rank of ``torchrun``); return the trainer.

    ``resume``: continue the run saved in ``run_dir`` (see :class:`~idff.training.Trainer`);
    ``init_from``: start from the EMA weights of another run of the same network;
    ``compile``: ``torch.compile`` the network (see :class:`~idff.training.Trainer`);
    ``on_log(step, metrics)`` is called at every logging step (after the sample grid).
    """
    from idff.training import Trainer
    from idff.training.checkpoint import claim_run_dir, init_from_run
    from idff.training.distributed import DistContext

    claim_run_dir(run_dir, resume)  # before the data pipeline is built: refusals are quick
    ctx = DistContext.from_env(device)
    torch.manual_seed(int(cfg["train"].get("seed", 0)) + ctx.rank)
    model, objective, data = build_run(cfg, ctx.rank, ctx.world_size, ctx.device)
    if init_from is not None:
        init_from_run(model, cfg, init_from)
    trainer = Trainer(model, objective, data, train_config_from(cfg), run_dir,
                      run_config=cfg, device=ctx.device, progress=progress and ctx.is_main,
                      dist=ctx, resume=resume, compile=compile)
    grid = grid_callback(trainer, cfg, int(cfg["train"].get("sample_every", 0)))

    def log(step: int, metrics: dict) -> None:
        grid(step, metrics)
        if on_log is not None:
            on_log(step, metrics)

    trainer.on_log = log
    trainer.fit()
    return trainer
