"""The losses of the distilled students (docs/METHOD.md, "One and two calls: distilled
students").

Both regress on teacher pairs ``(x0, x1 = T(x0))`` along the straight line
``x_t = (1 - t) x0 + t x1``; the pair stream passes ``x0`` where a batch's conditioning sits.

- ``reflow`` (rectified flow): ``t ~ U[0, 1)``, the student's velocity against ``x1 - x0``.
  The straight field is then a fixed point of the flow, so few Euler steps follow it.
- ``x1head``: only at the times ``t_k`` of the student's own samplers, the endpoint the
  student would jump to against ``x1``: IDFF's ``x̂1(t_k, x_{t_k})``, a velocity network's
  ``x_{t_k} + (1 - t_k) v``. At ``t = 0`` that is the one-call map ``x0 -> x1``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from idff.errors import ConfigError
from idff.network import as_two_heads, as_velocity
from idff.objective import LossOutput
from idff.path import expand_t

__all__ = ["DISTILL_METHODS", "DistillObjective", "grid_times"]

DISTILL_METHODS = ("reflow", "x1head")
#: IDFF's x̂1 error is a velocity error times (1 - t); the floor bounds the weight near t = 1
T_FLOOR = 0.05


def grid_times(budgets: tuple[int, ...]) -> tuple[float, ...]:
    """The times ``k/N`` (``k < N``) at which Euler with ``N`` calls evaluates the network,
    for every budget ``N``."""
    return tuple(sorted({k / n for n in budgets for k in range(n)}))


class DistillObjective:
    """``loss(model, x1, x0) -> LossOutput`` on teacher pairs.

    Args:
        method: ``"reflow"`` or ``"x1head"``.
        network: ``"two_head"`` (IDFF) or ``"velocity"`` (CFM).
        times: ``x1head`` only: the times its samplers evaluate (:func:`grid_times`).
    """

    def __init__(self, method: str, network: str, times: tuple[float, ...] = (0.0,)):
        if method not in DISTILL_METHODS:
            raise ConfigError(f"unknown distillation method {method!r}; choose one of "
                              f"{', '.join(DISTILL_METHODS)}.")
        if network not in ("two_head", "velocity"):
            raise ConfigError(f"unknown network kind {network!r}; 'two_head' or 'velocity'.")
        if not times or any(not 0 <= t < 1 for t in times):
            raise ConfigError(f"x1head times must lie in [0, 1), got {times!r}.")
        self.method, self.network = method, network
        self.times = torch.tensor(sorted(times), dtype=torch.float32)

    def _draw_t(self, x1: Tensor) -> Tensor:
        b = x1.shape[0]
        if self.method == "reflow":
            return torch.rand(b, device=x1.device, dtype=x1.dtype)
        idx = torch.randint(0, len(self.times), (b,))
        return self.times[idx].to(device=x1.device, dtype=x1.dtype)

    def __call__(self, model: nn.Module, x1: Tensor, x0: Tensor | None = None) -> LossOutput:
        if x0 is None or not torch.is_tensor(x0) or x0.shape != x1.shape:
            raise ValueError("distillation batches are pairs (x1, x0) of one shape; the source "
                             "x0 is missing or has another shape.")
        t = self._draw_t(x1)
        tt = expand_t(t, x1)
        xt = (1 - tt) * x0 + tt * x1
        out = model(t, xt)
        if self.network == "two_head":
            x1_hat, _ = as_two_heads(out, "the IDFF student")
            err = (x1_hat - x1) ** 2
            if self.method == "reflow":  # the velocity error (x̂1 - x_t)/(1 - t) - (x1 - x0)
                err = err / (1 - tt).clamp(min=T_FLOOR) ** 2
        else:
            v = as_velocity(out, "the velocity student")
            if self.method == "reflow":
                err = (v - (x1 - x0)) ** 2
            else:
                err = (xt + (1 - tt) * v - x1) ** 2
        loss = err.flatten(1).mean(1).mean()
        zero = torch.zeros((), device=x1.device)
        return LossOutput(loss=loss, flow=loss.detach(), score=zero)
