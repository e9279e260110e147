"""What a solver is: its facts, declared once as class attributes, and its ``step``.

A fixed-step solver is driven by :func:`idff.sampling.integrate.solve_on_grid`, one loop that
hands it a :class:`Step` per grid interval. A solver that integrates by itself (SRK, the
adaptive torchdiffeq methods) overrides :meth:`Solver.solve` instead. Every surface (the
command line, :class:`~idff.sampling.SamplingConfig`, ``idff bench nfe``, the budget store)
reads these facts through :mod:`idff.sampling.registry`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from idff.fields import Field

__all__ = ["Solver", "Step"]


class Step:
    """One interval ``[t_k, t_{k+1}]`` of a grid, in the arithmetic its solver uses.

    ``tk``, ``tn`` and ``dt`` are float64 tensors of the grid (gradients flow through them).
    ``stochastic``: the field has diffusion somewhere on the grid. ``t`` is ``t_k`` as a
    batch of times in the states' dtype and ``h`` the step as it multiplies states. With
    ``floats`` (the uniform grid of the first-order and two-stage solvers) they are Python
    floats, ``t_k = k·(1/N)``: the arithmetic of the original loop, which the stored
    reference samples reproduce bit for bit.
    """

    __slots__ = ("k", "last", "tk", "tn", "dt", "t", "h", "t_float", "floats", "stochastic",
                 "generator", "_b", "_dtype")

    def __init__(self, k: int, n: int, times: Tensor, x: Tensor, floats: bool,
                 stochastic: bool = False, generator: torch.Generator | None = None) -> None:
        self.k, self.last, self.floats = k, k == n - 1, floats
        self.stochastic, self.generator = stochastic, generator
        self.tk, self.tn = times[k], times[k + 1]
        self.dt = self.tn - self.tk
        self._b, self._dtype = x.shape[0], x.dtype
        if floats:
            h = 1.0 / n
            self.h, self.t_float = h, k * h
            self.t = torch.full((self._b,), k * h, dtype=x.dtype, device=x.device)
        else:
            self.h, self.t_float = self.dt.to(x.dtype), float(self.tk.detach())
            self.t = self.tk.to(x.dtype).expand(self._b)

    def at(self, frac: float) -> Tensor:
        """The batch of times ``t_k + frac·h`` (``frac = 1``: ``t_{k+1}``)."""
        if self.floats:
            return self.t + frac * self.h
        if frac == 1:
            return self.tn.to(self._dtype).expand(self._b)
        return (self.tk + frac * self.dt).to(self._dtype).expand(self._b)

    def randn(self, x: Tensor) -> Tensor:
        """A Gaussian draw shaped like ``x`` from the solve's generator."""
        return torch.randn(x.shape, generator=self.generator, dtype=x.dtype, device=x.device)

    @property
    def sqrt_h(self) -> Any:
        return self.h**0.5 if self.floats else self.h.sqrt()


class Solver:
    """A solver family. Subclasses declare their facts and implement :meth:`step`.

    Facts (class attributes):
        name: its registry name (``"rk2"``); spelled ``name:PARAM`` with a parameter.
        order: its order of accuracy on a smooth ODE.
        calls_per_step: counted network calls per step.
        fixed_calls: calls spent once per solve (SRK's shape check).
        jump_calls: calls added (or, negative, saved) at the end on a field singular at
            ``t = 1`` (SRK's final jump ``x̂1``; Heun's last step falls back to Euler).
        min_nfe: fewest calls of one step (a smaller budget is skipped by ``bench nfe``).
        diffusion: integrates a field with diffusion (an SDE); else ODEs only.
        on_grid: runs on any time grid; else the uniform grid only (or none, if adaptive).
        adaptive: chooses its own steps, so spends no fixed budget.
        two_heads: needs an IDFF field (``ddim_step``).
        one_call: the solver run instead when the budget is one call (``None``: itself).
        uniform_in_floats: steps the uniform grid in Python floats (see :class:`Step`).
        param: the name of its one parameter (``rk2:0.25`` sets ``alpha``), or ``None``.
        summary: one line for help texts.
    """

    name: ClassVar[str] = ""
    order: ClassVar[int] = 1
    calls_per_step: ClassVar[int] = 1
    fixed_calls: ClassVar[int] = 0
    jump_calls: ClassVar[int] = 0
    min_nfe: ClassVar[int] = 1
    diffusion: ClassVar[bool] = False
    on_grid: ClassVar[bool] = True
    adaptive: ClassVar[bool] = False
    two_heads: ClassVar[bool] = False
    one_call: ClassVar[str | None] = None
    uniform_in_floats: ClassVar[bool] = False
    param: ClassVar[str | None] = None
    summary: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        self.params = params

    # -- budgets ------------------------------------------------------------------------

    @classmethod
    def steps_for_nfe(cls, nfe: int, singular_at_one: bool = True) -> int:
        """Largest step count whose solve spends at most ``nfe`` counted calls."""
        spare = nfe - cls.fixed_calls - cls.jump_calls * int(singular_at_one)
        return max(spare // cls.calls_per_step, 1)

    @classmethod
    def nfe_for_steps(cls, steps: int, singular_at_one: bool = True) -> int:
        """Counted calls of ``steps`` steps (the inverse of :meth:`steps_for_nfe`)."""
        return cls.calls_per_step * steps + cls.fixed_calls + cls.jump_calls * int(
            singular_at_one)

    # -- its parameter ------------------------------------------------------------------

    @classmethod
    def parse_param(cls, spec: str, arg: str) -> dict[str, Any]:
        """``name:ARG`` -> the sampling overrides it sets (refused without a parameter)."""
        raise ValueError(f"solver {spec!r}: only rk2 takes a parameter (rk2:ALPHA); "
                         f"write {cls.name!r}.")

    @classmethod
    def check_params(cls, **params: Any) -> None:
        """Refuse a bad parameter value (ValueError naming the fix)."""

    # -- solving ------------------------------------------------------------------------

    def start(self, field: Field, x0: Tensor) -> None:
        """Called before the first step (multistep solvers clear their history)."""

    def step(self, field: Field, x: Tensor, s: Step) -> Tensor:
        """The state at ``t_{k+1}`` from ``x`` at ``t_k`` (noise, if any, from ``s.randn``)."""
        raise NotImplementedError

    def solve(self, field: Field, x0: Tensor, steps: int, generator, t_end: float,
              return_trajectory: bool, **kw: Any):
        """Integrate by itself (solvers not driven by the grid loop)."""
        raise NotImplementedError
