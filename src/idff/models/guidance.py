"""Classifier-free guidance around a class-conditional network."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GuidedNet"]


class GuidedNet(nn.Module):
    """Classifier-free guidance for a class-conditional two-head network.

    ``F_w = F(·, y) + (w − 1)·(F(·, y) − F(·, ∅))`` for both heads; the conditional and the
    unconditional pass run as one doubled batch, so NFE counts one call per step.
    """

    def __init__(self, net: nn.Module, scale: float, null_label: int):
        super().__init__()
        self.net, self.scale, self.null_label = net, float(scale), int(null_label)

    def forward(self, t: Tensor, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        null = torch.full_like(cond, self.null_label)
        out = self.net(torch.cat([t, t]), torch.cat([x, x]), torch.cat([cond, null]))
        b = x.shape[0]
        return tuple(o[:b] + (self.scale - 1) * (o[:b] - o[b:]) for o in out)  # type: ignore[return-value]
