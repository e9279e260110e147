"""Sampling: solvers and time grids as classes, one registry, one integration loop, and the
config that turns a trained network into samples (docs/METHOD.md, "Integration" and
"Few-step solvers").

- :mod:`idff.sampling.base`: what a solver is (:class:`Solver`) and one grid interval
  (:class:`Step`);
- :mod:`idff.sampling.onestep`, :mod:`~idff.sampling.multistep`, :mod:`~idff.sampling.srk`,
  :mod:`~idff.sampling.adaptive`: the solver families;
- :mod:`idff.sampling.grids`: the time grids;
- :mod:`idff.sampling.registry`: the table every surface reads, and the spellings
  ``rk2:0.25`` / ``power:1.5``;
- :mod:`idff.sampling.integrate`: :func:`integrate` and the loop :func:`solve_on_grid`;
- :mod:`idff.sampling.config`: :class:`SamplingConfig`.
"""

from idff.sampling.base import Solver, Step
from idff.sampling.config import (
    ADAPTIVE,
    FIELD_KINDS,
    GRIDS,
    METHOD_NAMES,
    SAMPLER_KNOBS,
    SOLVERS,
    SamplingConfig,
    cli_options,
)
from idff.sampling.grids import Grid
from idff.sampling.integrate import integrate, solve_on_grid
from idff.sampling.registry import (
    effective_solver,
    nfe_for_steps,
    parse_grid,
    parse_solver,
    register_grid,
    register_solver,
    steps_for_nfe,
    time_grid,
    unregister_grid,
    unregister_solver,
)
from idff.sampling.result import SampleResult

__all__ = [
    "SamplingConfig", "METHOD_NAMES", "FIELD_KINDS", "SAMPLER_KNOBS", "SOLVERS", "ADAPTIVE",
    "GRIDS", "cli_options", "nfe_for_steps", "steps_for_nfe", "effective_solver",
    "Solver", "Step", "Grid", "SampleResult", "integrate", "solve_on_grid", "time_grid",
    "parse_solver", "parse_grid", "register_solver", "unregister_solver", "register_grid",
    "unregister_grid",
]
