"""``idff train PRESET --dry-run``: build a run's model, objective and data pipeline and
evaluate one loss, writing nothing."""

from __future__ import annotations

import json
from typing import Any

import torch

from idff.images.config import per_rank_batch
from idff.methods import make_objective
from idff.models import build_model

__all__ = ["dry_run_report"]


def dry_run_report(cfg: dict[str, Any], device: str = "cpu") -> list[str]:
    """Build a run's model, objective and data pipeline and evaluate one loss; write nothing.

    When the dataset is not on this machine the pipeline is built over random images of
    the configured shape and the report says what is missing.
    """
    from idff.errors import DataNotFound
    from idff.images.batches import ImageBatches, build_image_data
    from idff.images.datasets import NumpyImages

    lines = [f"preset {cfg['preset']}: {json.dumps(cfg['data'])}"]
    model = build_model(cfg["model"]).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    lines.append(f"model: {cfg['model']['backbone']} with {n_params / 1e6:.2f} M parameters")
    objective = make_objective(cfg["objective"])
    bs = per_rank_batch(cfg, 1)
    try:
        data = build_image_data(cfg["data"], bs)
        lines.append(f"data: {len(data.dataset)} images, {len(data)} batches of {bs} per epoch")
    except DataNotFound as e:  # absent data is checked on random images; corrupt data fails
        c, size = int(cfg["data"]["channels"]), int(cfg["data"]["image_size"])
        fake = torch.randint(0, 256, (max(2, bs), c, size, size), dtype=torch.uint8)
        data = ImageBatches(NumpyImages(fake), 2)
        lines.append(f"data: NOT FOUND ({e}) — pipeline checked on random images instead")
    x1, cond = next(iter(data))
    x1 = x1[:2].to(device)
    cond = None if cond is None else cond[:2].to(device)
    with torch.no_grad():
        out = objective(model, x1, cond)
    lines.append(f"one loss on a batch of {tuple(x1.shape)}: {out.loss.item():.4f} "
                 f"(flow {out.flow.item():.4f}, score {out.score.item():.4f})")
    lines.append(f"train: {json.dumps(cfg['train'])}")
    lines.append(f"sampling: {json.dumps(cfg['sampling'])}")
    return lines
