"""A multilayer perceptron with a sinusoidal time embedding, for vector data ``(B, D)``."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class TimeEmbedding(nn.Module):
    """Sinusoidal features of ``t ∈ [0, 1]`` (Vaswani et al.), shape ``(B,) -> (B, dim)``."""

    def __init__(self, dim: int = 32, max_period: float = 1000.0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"time embedding dim must be even, got {dim}.")
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half) / half)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        arg = 1000.0 * t.reshape(-1, 1).float() * self.freqs
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)


class MLP(nn.Module):
    """``MLP(t, x, cond) -> y`` for ``x`` of shape ``(B, D)``.

    Args:
        dim: input dimension ``D``.
        out_dim: output dimension (``2D`` under :class:`~idff.models.TwoHead`, ``D`` for CFM).
        hidden: width of each hidden layer.
        depth: number of hidden layers.
        cond_dim: dimension of an optional conditioning vector, concatenated to the input.
        time_dim: size of the time embedding.
        dropout: dropout rate after each hidden activation.
    """

    def __init__(
        self,
        dim: int,
        out_dim: int | None = None,
        hidden: int = 256,
        depth: int = 3,
        cond_dim: int = 0,
        time_dim: int = 32,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.dim, self.cond_dim = dim, cond_dim
        self.time = TimeEmbedding(time_dim)
        layers: list[nn.Module] = []
        width = dim + cond_dim + time_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, out_dim or dim))
        self.net = nn.Sequential(*layers)

    def forward(self, t: Tensor, x: Tensor, cond: Tensor | None = None) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"MLP expects x of shape (B, {self.dim}), got {tuple(x.shape)}; "
                "flatten the data or build the MLP with dim=x.shape[1]."
            )
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        parts = [x, self.time(t).to(x.dtype)]
        if self.cond_dim:
            if cond is None or cond.reshape(x.shape[0], -1).shape[1] != self.cond_dim:
                raise ValueError(
                    f"this MLP was built with cond_dim={self.cond_dim}; pass cond of shape "
                    f"(B, {self.cond_dim})."
                )
            parts.append(cond.reshape(x.shape[0], -1).to(x.dtype))
        return self.net(torch.cat(parts, dim=1))
