"""Moved to idff.md; this path stays for one release.

Its pieces are in idff.md.config, .series, .train, .evaluate, .lorenz_eval, .report and
.benchmark.
"""

from idff.md.benchmark import SELECT_METRICS, run_md_benchmark, select_md_sampling
from idff.md.config import LABELS, METHOD_DEFAULTS, SAMPLING, input_dim, md_run_config
from idff.md.evaluate import evaluate_md
from idff.md.lorenz_eval import evaluate_lorenz, run_lorenz_benchmark
from idff.md.report import (
    KINETIC_COLUMNS,
    LORENZ_COLUMNS,
    MD_COLUMNS,
    PEPTIDE_COLUMNS,
    benchmark_tables,
    metric_table,
    save_json,
    selection_table,
)
from idff.md.series import load_series
from idff.md.train import KIND, PairedObjective, load_md_model, train_md

__all__ = ["METHOD_DEFAULTS", "SAMPLING", "LABELS", "md_run_config", "input_dim", "load_series",
           "PairedObjective", "train_md", "load_md_model", "KIND", "evaluate_md",
           "evaluate_lorenz", "run_lorenz_benchmark", "MD_COLUMNS", "KINETIC_COLUMNS",
           "PEPTIDE_COLUMNS", "LORENZ_COLUMNS", "metric_table", "save_json", "benchmark_tables",
           "selection_table", "SELECT_METRICS", "select_md_sampling", "run_md_benchmark"]
