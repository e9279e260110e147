"""The two-head wrapper of IDFF (docs/METHOD.md, "Heads").

Any backbone ``net(t, x, cond) -> y`` whose output has twice the channels of ``x`` along
``split_dim`` becomes ``F_θ(t, x, cond) -> (x̂1, ŝ)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from idff.errors import ConfigError
from idff.network import check_call_order
from idff.path import expand_t

PARAMETRIZATIONS = ("x1", "skip", "velocity")


class TwoHead(nn.Module):
    """Split a backbone's output into the implicit-flow head ``x̂1`` and the score head ``ŝ``.

    Args:
        backbone: module called as ``backbone(t, x, cond)``; its output has shape ``x``'s
            with ``2C`` instead of ``C`` entries along ``split_dim``.
        parametrization: ``"x1"``: the first half *is* ``x̂1`` (the published recipe).
            ``"skip"``: ``x̂1 = x_t + (1 - t)·F`` where ``F`` is the first half, so that the
            flow term of the sampler, ``(x̂1 - x)/(1 - t) = F``, carries no ``1/(1 - t)``
            amplification of network error (docs/METHOD.md, "Why the published
            recipe gets worse with more steps, and the fix").
            ``"velocity"`` (needs ``sigma``): the halves are ``D ≈ E[x1 - x0 | x_t]`` and
            ``G ≈ E[ε | x_t]/√t``, both bounded, and
            ``x̂1 = x_t + (1 - t)·D - σ·t·√(1 - t)·G``, ``ŝ = -σ·G / (2√(1 - t))``. The
            probability-flow field is then ``v* = D + σ(1 - 2t)/(2√(1 - t))·G``: the flow
            head is a CFM velocity and the score head an ε-prediction, so neither has to
            output the ``1/√(1 - t)`` growth of the exact heads near ``t = 1``; the score
            loss becomes ``‖ε - √t·G‖²`` (see docs/METHOD.md).
        sigma: the path's ``σ``; required by ``"velocity"``. The network carries it, so
            :class:`~idff.objective.IDFFObjective`, :class:`~idff.fields.IDFFField` and
            :class:`~idff.sampling.SamplingConfig` use it when given no σ and refuse
            another (:func:`idff.network.resolve_sigma`).
        split_dim: the channel dimension to split (1 for ``(B, D)`` and ``(B, C, H, W)``).
        duplicate_input: feed ``cat(x, x)`` along ``split_dim`` (the published image
            checkpoints' 2C-input layout, docs/METHOD.md, "Published
            checkpoints").
    """

    def __init__(
        self,
        backbone: nn.Module,
        parametrization: str = "skip",
        split_dim: int = 1,
        duplicate_input: bool = False,
        sigma: float | None = None,
    ):
        super().__init__()
        check_call_order(backbone, "TwoHead")
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"unknown parametrization {parametrization!r}; choose one of "
                f"{', '.join(PARAMETRIZATIONS)}."
            )
        if parametrization == "velocity" and (sigma is None or sigma <= 0):
            raise ValueError(
                "parametrization='velocity' needs the path's sigma > 0 (TwoHead(..., sigma=σ); "
                f"in a model config, \"sigma\": σ), got {sigma!r}."
            )
        self.sigma = None if sigma is None else float(sigma)
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
        if not torch.is_tensor(out):
            raise ConfigError(
                f"the backbone returned a {type(out).__name__}, not a tensor; TwoHead needs one "
                f"tensor with 2×{c} channels along dim {self.split_dim} (flow and score heads). "
                "Return a single tensor (e.g. the first element, or torch.cat of the parts)."
            )
        if out.shape[self.split_dim] != 2 * c:
            raise ValueError(
                f"the backbone returned {out.shape[self.split_dim]} channels along dim "
                f"{self.split_dim}, but TwoHead needs 2×{c}={2 * c} (flow and score heads); "
                "build the backbone with twice the output channels."
            )
        flow, score = torch.split(out, c, dim=self.split_dim)
        if self.parametrization == "skip":
            flow = x + (1 - expand_t(t, x)) * flow
        elif self.parametrization == "velocity":
            tt = expand_t(t, x)
            root = (1 - tt).clamp(min=1e-12).sqrt()
            d, g = flow, score
            flow = x + (1 - tt) * d - self.sigma * tt * root * g
            score = -self.sigma * g / (2 * root)
        return flow, score
