"""The two-head wrapper of IDFF (spec §2).

Any backbone ``net(t, x, cond) -> y`` whose output has twice the channels of ``x`` along
``split_dim`` becomes ``F_θ(t, x, cond) -> (x̂1, ŝ)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from idff.path import expand_t

PARAMETRIZATIONS = ("x1", "skip")


class TwoHead(nn.Module):
    """Split a backbone's output into the implicit-flow head ``x̂1`` and the score head ``ŝ``.

    Args:
        backbone: module called as ``backbone(t, x, cond)``; its output has shape ``x``'s
            with ``2C`` instead of ``C`` entries along ``split_dim``.
        parametrization: ``"x1"``: the first half *is* ``x̂1`` (the published recipe).
            ``"skip"``: ``x̂1 = x_t + (1 - t)·F`` where ``F`` is the first half, so that the
            flow term of the sampler, ``(x̂1 - x)/(1 - t) = F``, carries no ``1/(1 - t)``
            amplification of network error (spec §4c).
        split_dim: the channel dimension to split (1 for ``(B, D)`` and ``(B, C, H, W)``).
        duplicate_input: feed ``cat(x, x)`` along ``split_dim`` (the published image
            checkpoints' 2C-input layout, spec §6).
    """

    def __init__(
        self,
        backbone: nn.Module,
        parametrization: str = "skip",
        split_dim: int = 1,
        duplicate_input: bool = False,
    ):
        super().__init__()
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"unknown parametrization {parametrization!r}; choose one of "
                f"{', '.join(PARAMETRIZATIONS)}."
            )
        self.backbone = backbone
        self.parametrization = parametrization
        self.split_dim = split_dim
        self.duplicate_input = duplicate_input

    def forward(self, t: Tensor, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return ``(x̂1, ŝ)``, each of ``x``'s shape.

        Args:
            t: times ``(B,)`` (or a scalar, broadcast).
            x: states ``(B, ...)``.
            cond: optional conditioning passed to the backbone.
        """
        if not torch.is_tensor(t) or t.dim() == 0:
            t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        inp = torch.cat([x, x], dim=self.split_dim) if self.duplicate_input else x
        out = self.backbone(t, inp, cond) if cond is not None else self.backbone(t, inp)
        c = x.shape[self.split_dim]
        if out.shape[self.split_dim] != 2 * c:
            raise ValueError(
                f"the backbone returned {out.shape[self.split_dim]} channels along dim "
                f"{self.split_dim}, but TwoHead needs 2×{c}={2 * c} (flow and score heads); "
                "build the backbone with twice the output channels."
            )
        flow, score = torch.split(out, c, dim=self.split_dim)
        if self.parametrization == "skip":
            flow = x + (1 - expand_t(t, x)) * flow
        return flow, score
