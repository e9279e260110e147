"""Moved to idff.kolmogorov.solver; this path stays for one release."""

from idff.kolmogorov.solver import (
    KolmogorovFlow,
    KolmogorovParams,
    block_average,
    energy_spectrum,
    fine_perturbation,
    random_vorticity,
    taylor_green,
    upsample_consistent,
)

__all__ = ["KolmogorovFlow", "KolmogorovParams", "block_average", "energy_spectrum",
           "fine_perturbation", "random_vorticity", "taylor_green", "upsample_consistent"]
