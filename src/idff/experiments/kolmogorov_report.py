"""Moved to idff.kolmogorov.report; this path stays for one release."""

from idff.kolmogorov.report import (
    TABLE_LEADS,
    long_table,
    plot_calibration,
    plot_fields,
    plot_long,
    plot_scores,
    selection_table,
    tables,
)

__all__ = ["tables", "selection_table", "long_table", "plot_scores", "plot_calibration",
           "plot_fields", "plot_long", "TABLE_LEADS"]
