"""The former home of the per-budget set-aside checks; kept so older imports work. The code
lives in :mod:`idff.sampling.aside`."""

from idff.sampling.aside import NOISE_SOLVERS, check_set_aside, config_repr

__all__ = ["config_repr", "check_set_aside", "NOISE_SOLVERS"]
