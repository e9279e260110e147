"""The one table of solvers and time grids that every surface reads: the command-line
choices and spellings (``rk2:0.25``, ``power:1.5``), :class:`~idff.sampling.SamplingConfig`'s
checks, ``idff bench nfe`` and the per-budget store. A new solver or grid is one class
passed to :func:`register_solver` / :func:`register_grid`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from torch import Tensor

from idff.sampling.adaptive import ADAPTIVE_METHODS, Adaptive, budget_refusal, grid_refusal
from idff.sampling.base import Solver
from idff.sampling.grids import Custom, Grid, LogSNR, Power, Uniform
from idff.sampling.multistep import AdamsBashforth, DPMSolverPP, UniPC
from idff.sampling.onestep import DDIM, DDIM2, RK2, Euler, Heun, Midpoint
from idff.sampling.srk import SRK

__all__ = ["register_solver", "unregister_solver", "register_grid", "unregister_grid",
           "solver_class", "grid_class", "solver_names", "grid_names", "Names",
           "parse_solver", "parse_grid", "steps_for_nfe", "nfe_for_steps", "effective_solver",
           "time_grid", "check_solver_params", "budget_refusal", "grid_refusal"]

_SOLVERS: dict[str, type[Solver]] = {}
_GRIDS: dict[str, type[Grid]] = {}


def register_solver(cls: type[Solver]) -> type[Solver]:
    """Add a solver class under ``cls.name`` (usable as a class decorator)."""
    if not cls.name or ":" in cls.name or cls.name in _SOLVERS:
        raise ValueError(f"a solver needs a new name without ':', got {cls.name!r}.")
    _SOLVERS[cls.name] = cls
    return cls


def unregister_solver(name: str) -> None:
    _SOLVERS.pop(name)


def register_grid(cls: type[Grid]) -> type[Grid]:
    """Add a grid class under ``cls.name``."""
    if not cls.name or ":" in cls.name or cls.name in _GRIDS:
        raise ValueError(f"a grid needs a new name without ':', got {cls.name!r}.")
    _GRIDS[cls.name] = cls
    return cls


def unregister_grid(name: str) -> None:
    _GRIDS.pop(name)


for _cls in (Euler, Heun, Midpoint, RK2, DDIM, DDIM2, SRK,
             *(AdamsBashforth.of(k) for k in (2, 3, 4)), *(DPMSolverPP.of(k) for k in (2, 3)),
             *(UniPC.of(k) for k in (2, 3)), *(Adaptive.of(m) for m in ADAPTIVE_METHODS)):
    register_solver(_cls)
for _g in (Uniform, Power, LogSNR, Custom):
    register_grid(_g)


class Names(Sequence):
    """A live view of registered names, filtered by a fact (``Names(adaptive=True)``): what
    click choices and ``in`` checks read, so a class registered later is seen."""

    def __init__(self, table: str = "solvers", **facts: Any) -> None:
        self.table, self.facts = table, facts

    def _names(self) -> list[str]:
        if self.table == "grids":
            return list(_GRIDS)
        return [n for n, c in _SOLVERS.items()
                if all(getattr(c, k) == v for k, v in self.facts.items())]

    def __getitem__(self, i):
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __add__(self, other: Sequence[str]) -> tuple[str, ...]:
        return (*self, *other)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


def solver_names(**facts: Any) -> tuple[str, ...]:
    """The registered solver names with these facts (``adaptive=False``, ...)."""
    return tuple(Names(**facts))


def grid_names() -> tuple[str, ...]:
    return tuple(_GRIDS)


def solver_class(name: str) -> type[Solver]:
    """The class of a registered solver name (ValueError listing the names)."""
    try:
        return _SOLVERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(_SOLVERS)}.") \
            from None


def grid_class(name: str) -> type[Grid]:
    try:
        return _GRIDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown grid {name!r}; choose one of {', '.join(_GRIDS)}.") \
            from None


def parse_solver(spec: str) -> tuple[str, dict[str, Any]]:
    """``name`` or ``name:PARAM`` (``rk2:0.25``) -> ``(name, sampling overrides)``.

    Raises:
        ValueError: an unknown name, a parameter on a solver without one, or a bad value.
    """
    name, _, arg = str(spec).strip().partition(":")
    cls = solver_class(name)
    return name, (cls.parse_param(spec, arg) if arg else {})


def parse_grid(spec: str) -> dict[str, Any]:
    """``name`` or ``name:PARAM`` (``power:1.5``) -> the sampling overrides
    ``{"grid": ..., "rho": ...}`` (``power`` alone: ρ = 2).

    Raises:
        ValueError: an unknown grid, a parameter on a grid without one, or a bad value.
    """
    name, _, arg = str(spec).strip().partition(":")
    if name not in _GRIDS:
        raise ValueError(f"unknown grid {spec!r}; choose from {', '.join(_GRIDS)} "
                         "(power:RHO for another exponent, e.g. power:1.5).")
    cls = _GRIDS[name]
    params = cls.parse_param(spec, arg) if arg else {}
    if cls.param and not arg:
        params = {cls.param: cls.param_default}
    return {"grid": name, **params}


def check_solver_params(solver: str, **params: Any) -> None:
    """Refuse a bad parameter of ``solver`` (``alpha`` of rk2): the one check of its range."""
    solver_class(solver).check_params(**params)


def effective_solver(solver: str, nfe: int | None) -> str:
    """The solver actually run: one evaluation allows only a first-order step."""
    if nfe == 1:
        return solver_class(solver).one_call or solver
    return solver


def steps_for_nfe(nfe: int, solver: str, singular_at_one: bool = True) -> int:
    """Largest step count whose fixed-step solve uses at most ``nfe`` evaluations."""
    if nfe < 1:
        raise ValueError(f"nfe must be >= 1, got {nfe}.")
    return solver_class(solver).steps_for_nfe(nfe, singular_at_one)


def nfe_for_steps(steps: int, solver: str, singular_at_one: bool = True) -> int:
    """Network evaluations of ``steps`` fixed solver steps (the inverse of ``steps_for_nfe``)."""
    return solver_class(solver).nfe_for_steps(steps, singular_at_one)


def time_grid(steps: int, grid: str = "uniform", rho: float = 2.0,
              times: Sequence[float] | None = None) -> Tensor:
    """The ``steps + 1`` times of a registered grid, float64, ``t_0 = 0`` and ``t_N = 1``.

    Args:
        steps: number of steps ``N >= 1``.
        grid: a registered grid name (:mod:`idff.sampling.grids`).
        rho: the exponent of the power grid.
        times: the custom grid.

    Raises:
        ValueError: an unknown grid, a bad ``rho`` or custom times that are not a grid of
            ``steps`` steps.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"a grid needs an integer number of steps >= 1, got {steps!r}.")
    cls = grid_class(grid)
    return cls(rho=rho, times=times).times(steps)
