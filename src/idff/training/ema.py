"""Exponential moving average of a model's weights, updated without host synchronisation.

``torch.optim.swa_utils.AveragedModel`` tests ``n_averaged == 0`` in Python on every update,
which waits for the device; this subclass keeps that count on the host as well and updates
all floating-point tensors with one ``torch._foreach_lerp_`` per device and dtype. The
arithmetic is AveragedModel's with ``get_ema_multi_avg_fn`` and ``use_buffers=True``, so
``.module`` and ``.n_averaged`` (and the checkpoints that hold them) are unchanged.

With ``warmup=True`` the decay of the n-th update (n counted from 0) is
``min(decay, (1 + n) / (10 + n))``, so a short run's average is not dominated by the
first weights (docs/METHOD.md, "Optimisation"). The count is stored with the weights, so
a resumed run continues the same schedule.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

__all__ = ["EMA"]


class EMA(AveragedModel):
    """``W_ema ← decay·W_ema + (1 − decay)·W`` over parameters and buffers; the first
    update copies ``W``.

    Args:
        model: the trained network (copied).
        decay: EMA decay in ``[0, 1)``.
        warmup: ramp the decay up as ``min(decay, (1 + n) / (10 + n))`` over the updates.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = False):
        super().__init__(model, use_buffers=True)
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self._count = 0  # host copy of n_averaged: no device read per update

    def current_decay(self) -> float:
        """The decay the next update uses."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self._count) / (10 + self._count))

    def load_count(self, n: int) -> None:
        """Set the number of averaged updates (after loading ``n_averaged`` from a state)."""
        self._count = int(n)
        self.n_averaged.fill_(self._count)

    def _tensors(self, model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
        own = [*self.module.parameters(), *self.module.buffers()]
        src = [*model.parameters(), *model.buffers()]
        return [(a.detach(), b.detach()) for a, b in zip(own, src, strict=True)]

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        pairs = self._tensors(model)
        if self._count == 0:
            torch._foreach_copy_([a for a, _ in pairs], [b.to(a.device) for a, b in pairs])
        else:
            decay = self.current_decay()
            groups: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
            for a, b in pairs:
                if a.is_floating_point() or a.is_complex():
                    own, src = groups[(a.device, a.dtype)]
                    own.append(a)
                    src.append(b.to(a.device))
                else:  # integer buffers, as AveragedModel's EMA does them
                    a.copy_(a * decay + b.to(a.device) * (1 - decay))
            for own, src in groups.values():
                torch._foreach_lerp_(own, src, 1 - decay)
        self._count += 1
        self.n_averaged += 1
