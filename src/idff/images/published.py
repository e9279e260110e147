"""Published IDFF image checkpoints (``net_model``/``ema_model`` dicts): the UNet layout read
off the weights, and the two-head model and run config that reproduce them (docs/METHOD.md,
"Published checkpoints")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from idff.errors import load_error_reason
from idff.models import build_model
from idff.presets import get_preset
from idff.training.checkpoint import RunError, load_state_dict_checked

__all__ = ["PUBLISHED_SIGMA", "infer_unet_layout", "published_model_config", "load_published"]


def infer_unet_layout(state: dict[str, Tensor], image_size: int) -> dict[str, Any]:
    """Read an ADM UNet's width, levels and attention placement off its ``state_dict``.

    Returns ``num_channels``, ``num_res_blocks``, ``channel_mult`` and
    ``attention_resolutions`` (the attention head layout is not stored in the weights).
    Works for the published layout (convolutional downsampling); raises :class:`RunError`
    for state dicts it cannot read.
    """
    first = state.get("input_blocks.0.0.weight")
    if first is None or first.dim() != 4:
        raise RunError("the checkpoint has no 'input_blocks.0.0.weight': it is not an ADM UNet "
                       "state dict as published.")
    width = int(first.shape[0])
    levels: list[list[int]] = [[]]
    attention, ds, i = set(), 1, 1
    while True:
        if f"input_blocks.{i}.0.op.weight" in state:
            levels.append([])
            ds *= 2
        elif f"input_blocks.{i}.0.out_layers.3.weight" in state:
            levels[-1].append(int(state[f"input_blocks.{i}.0.out_layers.3.weight"].shape[0]))
            if f"input_blocks.{i}.1.norm.weight" in state:
                attention.add(ds)
        else:
            break
        i += 1
    counts = {len(level) for level in levels}
    if len(counts) != 1 or 0 in counts or any(c % width for lv in levels for c in lv):
        raise RunError("cannot read the UNet layout off this checkpoint (uneven levels); pass "
                       "the model settings explicitly.")
    return {
        "num_channels": width,
        "num_res_blocks": counts.pop(),
        "channel_mult": [level[0] // width for level in levels],
        "attention_resolutions": ",".join(str(image_size // d) for d in sorted(attention)),
    }


#: path noise σ of the published image checkpoints (docs/METHOD.md, "Published checkpoints")
PUBLISHED_SIGMA = 0.2


def published_model_config(state: dict[str, Tensor], image_size: int = 32,
                           preset: str = "cifar10",
                           overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model config reproducing a published checkpoint's layout (docs/METHOD.md,
    "Published checkpoints").

    The published UNet takes ``cat(x_t, x_t)`` (2C input channels) and returns 2C
    channels split into ``x̂1`` (first C) and ``ŝ``. Width, levels, blocks and attention
    resolutions are read off the weights (:func:`infer_unet_layout`); the attention head
    layout, dropout and the rest come from ``preset``, then ``overrides``. The network
    carries the published σ (:data:`PUBLISHED_SIGMA`), not the preset's.
    """
    layout = infer_unet_layout(state, image_size)
    model = dict(get_preset(preset)["model"])
    model.update(layout)
    model.update(in_channels=int(state["input_blocks.0.0.weight"].shape[1]) // 2,
                 image_size=image_size, in_mult=2, duplicate_input=True, parametrization="x1",
                 sigma=PUBLISHED_SIGMA)
    model.update(overrides or {})
    return model


def _strip_module(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_published(path: str | os.PathLike, which: str = "ema_model", image_size: int = 32,
                   preset: str = "cifar10", model_overrides: dict[str, Any] | None = None,
                   ) -> tuple[nn.Module, dict[str, Any]]:
    """Load a published IDFF image checkpoint (``net_model``/``ema_model`` dicts).

    Returns the two-head model (``duplicate_input=True``, ``"x1"`` heads) and a run config
    whose ``sampling`` section holds the published settings: the published field with
    ``s = 2σ``, NFE 10.
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RunError(f"cannot read checkpoint {path} ({load_error_reason(e)}); the file is "
                       "truncated or not a torch checkpoint.") from e
    if not isinstance(ckpt, dict) or which not in ckpt:
        keys = ", ".join(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise RunError(f"{path} has no {which!r} entry (found: {keys}); a published IDFF "
                       "checkpoint holds 'net_model' and 'ema_model'.")
    state = _strip_module(ckpt[which])
    cfg = get_preset(preset)
    cfg["model"] = published_model_config(state, image_size, preset, model_overrides)
    cfg["data"].update(image_size=image_size, channels=cfg["model"]["in_channels"])
    sigma = float(cfg["model"]["sigma"])  # the published σ (or an override), not the preset's
    cfg["objective"]["sigma"] = sigma
    cfg["sampling"] = {"field": "published", "s": 2 * sigma, "solver": "midpoint", "nfe": 10}
    cfg.update(kind="image", preset=preset, method="idff", published=str(path),
               step=int(ckpt.get("step", 0)) if not torch.is_tensor(ckpt.get("step")) else
               int(ckpt["step"]))
    model = build_model(cfg["model"])
    load_state_dict_checked(model, {"backbone.net." + k: v for k, v in state.items()}, str(path))
    return model.eval(), cfg
