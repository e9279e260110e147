"""The training loss of conditional forecasters of gridded fields (:class:`ForecastObjective`,
formerly ``SSTObjective``), on batches ``(x1, {"x0": previous frame, "cond": channels})``
such as those of :class:`~idff.sst.data.SSTWindows` and
:class:`~idff.kolmogorov.data.KolmogorovWindows`.

* **IDFF** (docs/METHOD.md, "Path and coupling", time series): the path runs from
  ``x0`` = frame ``k-1`` to ``x1`` = frame ``k``; the network also sees ``cond``.
* **OT-CFM**: the same network and conditioning, a flow from Gaussian noise to frame ``k``
  whose noise is paired to the targets by exact minibatch OT (the targets keep their
  conditioning).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from idff.coupling import ot_plan
from idff.methods import make_objective
from idff.objective import LossOutput

__all__ = ["FORECAST_METHODS", "ForecastObjective", "SSTObjective", "ot_assign_sources"]

#: the methods of :class:`ForecastObjective`
FORECAST_METHODS = ("idff", "otcfm")


def ot_assign_sources(x0: Tensor, x1: Tensor) -> Tensor:
    """Re-order the sources ``x0`` (``(B, ...)``) so that row ``j`` is the partner of target
    ``j`` under the exact minibatch OT plan (squared Euclidean cost); the targets, and so
    their conditioning, keep their order. Between equal batches the plan is a permutation.

    The same pairs as :func:`idff.coupling.couple` with ``"ot"``, taken by ``argmax`` instead
    of a draw from the plan's columns: a draw would consume random numbers and so change
    the training stream of the recorded SST results.
    """
    plan = torch.from_numpy(ot_plan(x0, x1))
    return x0[plan.argmax(0).to(x0.device)]


class ForecastObjective:
    """Training loss on batches ``(x1, {"x0", "cond"})`` of one-step forecasting.

    IDFF uses the previous frame as the source ``x0``; OT-CFM draws Gaussian sources and,
    with ``coupling="ot"``, re-assigns them to the targets by the exact minibatch OT plan,
    so every target keeps its own conditioning.
    """

    def __init__(self, config: dict[str, Any]):
        cfg = dict(config)
        self.name = cfg["name"]
        if self.name not in FORECAST_METHODS:
            raise ValueError(f"unknown SST method {self.name!r}; choose one of "
                             f"{FORECAST_METHODS}.")
        coupling = cfg.get("coupling", "independent" if self.name == "idff" else "ot")
        if self.name == "idff" and coupling != "independent":
            raise ValueError(
                "IDFF forecasting pairs each frame with its predecessor; use coupling="
                "'independent' (OT would re-pair frames across time)."
            )
        # the OT pairing is done here, so that each target keeps its conditioning
        self.ot = self.name == "otcfm" and coupling == "ot"
        self.inner = make_objective({**cfg, "coupling": "independent"})

    def __call__(self, model: nn.Module, x1: Tensor, cond: dict[str, Tensor],
                 x0: Tensor | None = None, generator: torch.Generator | None = None) -> LossOutput:
        if not isinstance(cond, dict) or "cond" not in cond or "x0" not in cond:
            raise ValueError("SST batches carry cond = {'x0': previous frame, 'cond': channels}.")
        # the trainer moves tensors only; the dict's entries follow the targets' device
        c, prev = cond["cond"].to(x1.device), cond["x0"].to(x1.device)
        if self.name == "idff":
            return self.inner(model, x1, c, x0=prev, generator=generator)
        noise = torch.randn(x1.shape, generator=generator, dtype=x1.dtype, device=x1.device)
        if self.ot:
            noise = ot_assign_sources(noise, x1)
        return self.inner(model, x1, c, x0=noise, generator=generator)


#: the name this objective had when only SST used it
SSTObjective = ForecastObjective
