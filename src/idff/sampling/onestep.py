"""One-step solvers: Euler(–Maruyama), midpoint, the two-stage ``rk2(α)``, Heun, DDIM 1st and
2nd order (docs/METHOD.md, "Integration" and "Few-step solvers").

``rk2`` is the two-stage second-order Runge–Kutta family: its second call at ``t + α·h``
(``α = 1/2``: midpoint, ``α = 1``: Heun, ``α = 2/3``: Ralston; small ``α``: a finite-difference
second-order Taylor step).
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from idff.fields import Field
from idff.sampling.base import Solver, Step

__all__ = ["Euler", "Midpoint", "RK2", "Heun", "DDIM", "DDIM2"]


class Euler(Solver):
    name, order, diffusion, uniform_in_floats = "euler", 1, True, True
    summary = "Euler (Euler–Maruyama with diffusion, no noise on the last step)"

    def step(self, field: Field, x: Tensor, s: Step) -> Tensor:
        x_new = x + s.h * field.drift(s.t, x)
        g = field.diffusion(s.t_float)
        if g > 0 and not s.last:
            x_new = x_new + g * s.sqrt_h * s.randn(x)
        return x_new


class Midpoint(Solver):
    name, order, calls_per_step, min_nfe = "midpoint", 2, 2, 2
    one_call, uniform_in_floats = "euler", True
    summary = "explicit midpoint rule"

    def step(self, field: Field, x: Tensor, s: Step) -> Tensor:
        xm = x + 0.5 * s.h * field.drift(s.t, x)
        return x + s.h * field.drift(s.at(0.5), xm)


class RK2(Solver):
    """The two-stage family; ``alpha`` places its second call at ``t + α·h``, ``0 < α <= 1``."""

    name, order, calls_per_step, min_nfe, one_call = "rk2", 2, 2, 2, "euler"
    param = "alpha"
    summary = "two-stage second order, second call at t + alpha·h (rk2:ALPHA)"

    @classmethod
    def parse_param(cls, spec: str, arg: str) -> dict[str, Any]:
        try:
            alpha = float(arg)
        except ValueError:
            alpha = float("nan")
        try:
            cls.check_params(alpha=alpha)
        except ValueError:
            raise ValueError(f"solver {spec!r}: alpha must be in (0, 1], e.g. rk2:0.25.") \
                from None
        return {"alpha": alpha}

    @classmethod
    def check_params(cls, alpha: Any = 0.5, **_: Any) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or \
                not 0 < alpha <= 1 or math.isnan(alpha):
            raise ValueError(f"alpha (where rk2's second call sits in a step) must be in "
                             f"(0, 1], got {alpha!r}; 0.5 is the midpoint rule.")

    def step(self, field: Field, x: Tensor, s: Step) -> Tensor:
        alpha = self.params.get("alpha", 0.5)
        d = field.drift(s.t, x)
        xa = x + (alpha * s.h) * d
        da = field.drift(s.at(alpha), xa)
        return x + s.h * ((1 - 0.5 / alpha) * d + (0.5 / alpha) * da)


class Heun(Solver):
    """Heun's method; its last step falls back to Euler on a field singular at ``t = 1``."""

    name, order, calls_per_step, jump_calls, min_nfe = "heun", 2, 2, -1, 2
    one_call, uniform_in_floats = "euler", True
    summary = "Heun's method (Euler on the last step of a field singular at t = 1)"

    def step(self, field: Field, x: Tensor, s: Step) -> Tensor:
        d = field.drift(s.t, x)
        x_pred = x + s.h * d
        if s.last and field.singular_at_one:
            return x_pred
        return x + 0.5 * s.h * (d + field.drift(s.at(1.0), x_pred))


class DDIM(Solver):
    """IDFF's DDIM step (:meth:`idff.fields.IDFFField.ddim_step`), with noise on an SDE."""

    name, order, diffusion, two_heads, uniform_in_floats = "ddim", 1, True, True, True
    second_order = False
    summary = "DDIM step of an IDFF field"

    def step(self, field: Field, x: Tensor, s: Step) -> Tensor:
        noise = s.randn(x) if s.stochastic and not s.last else None
        return field.ddim_step(s.t, s.at(1.0), x, noise=noise, second_order=self.second_order)


class DDIM2(DDIM):
    name, order, calls_per_step, min_nfe, one_call = "ddim2", 2, 2, 2, "ddim"
    second_order = True
    summary = "second-order (midpoint) DDIM, two calls per step"
