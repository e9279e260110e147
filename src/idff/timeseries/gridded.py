"""What the forecasters of gridded fields (sea-surface temperature, Kolmogorov flow) share:
the small UNet they use (:data:`UNET_DEFAULTS`) and the conditioning channels of a frame
(:func:`make_cond_channels`: previous frames, the last observed frame and the lead)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["UNET_DEFAULTS", "make_cond_channels"]

#: a small ADM UNet for coarse grids (no attention; 3 resolution levels).
UNET_DEFAULTS: dict[str, Any] = {
    "backbone": "unet",
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": [1, 2, 2],
    "attention_resolutions": "",
    "num_head_channels": -1,
    "dropout": 0.1,
}


def make_cond_channels(prev: Sequence[Tensor], start: Tensor, lead: Tensor | int,
                       horizon: int) -> Tensor:
    """Stack ``[prev..., start, ℓ/horizon]`` into the conditioning ``(B, context+2, H, W)``.

    Args:
        prev: the previous frames, most recent first, each ``(B, 1, H, W)``.
        start: the last observed frame ``(B, 1, H, W)``.
        lead: the lead ``ℓ`` of the frame being produced, an int or ``(B,)``.
    """
    b = start.shape[0]
    lead_t = torch.as_tensor(lead, dtype=start.dtype, device=start.device).reshape(-1)
    lead_t = lead_t.expand(b) if lead_t.numel() == 1 else lead_t
    lead_ch = (lead_t / horizon).reshape(b, 1, 1, 1).expand_as(start)
    return torch.cat([*prev, start, lead_ch], dim=1)

