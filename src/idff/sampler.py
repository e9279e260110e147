"""The former home of :func:`integrate`; kept so older imports work. The code lives in
:mod:`idff.sampling` (:mod:`idff.sampling.integrate`, :mod:`idff.sampling.registry`)."""

from idff.sampling.config import ADAPTIVE, SOLVERS
from idff.sampling.integrate import integrate
from idff.sampling.registry import Names, effective_solver, steps_for_nfe
from idff.sampling.result import SampleResult
from idff.sampling.srk import SRK_CALLS_PER_STEP

#: fixed-step solvers (a live view of the registry)
FIXED = Names(adaptive=False)

__all__ = ["SOLVERS", "ADAPTIVE", "FIXED", "SampleResult", "integrate", "steps_for_nfe",
           "effective_solver", "SRK_CALLS_PER_STEP"]
