"""Networks on gridded fields (sea-surface temperature): zero-pad to a size the UNet
accepts, apply the network, crop back."""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from idff.models.factory import build_model

__all__ = ["SSTNet", "build_sst_model", "pad_size"]


def pad_size(h: int, w: int, levels: int) -> tuple[int, int]:
    """The smallest ``(H, W) ≥ (h, w)`` a UNet of ``levels`` resolutions accepts (multiples
    of ``2^(levels-1)``)."""
    m = 2 ** (levels - 1)
    return math.ceil(h / m) * m, math.ceil(w / m) * m


class SSTNet(nn.Module):
    """Zero-pad ``(B, C, H, W)`` fields to ``pad_to``, apply ``inner``, crop back.

    ``inner`` is a two-head network (IDFF) or a velocity network (CFM) built by
    :func:`~idff.models.build_model` for the padded size; the padding is centred.
    """

    def __init__(self, inner: nn.Module, size: tuple[int, int], pad_to: tuple[int, int]):
        super().__init__()
        self.inner, self.size, self.pad_to = inner, tuple(size), tuple(pad_to)
        dh, dw = self.pad_to[0] - self.size[0], self.pad_to[1] - self.size[1]
        if dh < 0 or dw < 0:
            raise ValueError(f"pad_to {pad_to} is smaller than the field {size}.")
        self.pads = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)

    def _pad(self, x: Tensor) -> Tensor:
        return F.pad(x, self.pads) if any(self.pads) else x

    def _crop(self, y: Tensor) -> Tensor:
        left, _, top, _ = self.pads
        return y[..., top : top + self.size[0], left : left + self.size[1]]

    def forward(self, t: Tensor, x: Tensor, cond: Tensor | None = None):
        if tuple(x.shape[-2:]) != self.size:
            raise ValueError(
                f"this SST model was built for {self.size[0]}×{self.size[1]} fields, got "
                f"{tuple(x.shape[-2:])}; use the patch size the run was trained on."
            )
        out = self.inner(t, self._pad(x), None if cond is None else self._pad(cond))
        if isinstance(out, tuple):
            return tuple(self._crop(o) for o in out)
        return self._crop(out)


def build_sst_model(config: dict[str, Any]) -> SSTNet:
    """Build the :class:`SSTNet` a run config describes."""
    m = dict(config["model"])
    size = tuple(m.pop("size"))
    pad_to = tuple(m.pop("pad_to"))
    m["image_size"] = list(pad_to)
    return SSTNet(build_model(m), size, pad_to)
