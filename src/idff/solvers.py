"""The former home of the time grids and the grid loop; kept so older imports work. The
code lives in :mod:`idff.sampling` (:mod:`~idff.sampling.grids`,
:mod:`~idff.sampling.integrate`, :mod:`~idff.sampling.registry`)."""

from idff.sampling.grids import LOGSNR_SPAN, check_times
from idff.sampling.integrate import solve_on_grid
from idff.sampling.multistep import _unipc_step  # noqa: F401  (older tests and notebooks)
from idff.sampling.registry import Names, solver_class, time_grid

GRIDS = Names("grids")
#: multistep solvers (one call per step) and their orders
MULTISTEP = {n: solver_class(n).order for n in ("ab2", "ab3", "ab4", "dpm2m", "dpm3m",
                                                "unipc2", "unipc3")}
#: every solver :func:`solve_on_grid` runs (a live view of the registry)
GRID_SOLVERS = Names(on_grid=True)

__all__ = ["GRIDS", "MULTISTEP", "GRID_SOLVERS", "LOGSNR_SPAN", "time_grid", "check_times",
           "solve_on_grid"]
