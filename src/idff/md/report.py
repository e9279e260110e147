"""Tables and files of MD and Lorenz-63 results: the metric columns, :func:`metric_table`,
the benchmark's tables (:func:`benchmark_tables`), the validation choice of grid
(:func:`selection_table`) and :func:`save_json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from idff.io import atomic_write_json
from idff.md.config import LABELS

__all__ = ["MD_COLUMNS", "KINETIC_COLUMNS", "PEPTIDE_COLUMNS", "LORENZ_COLUMNS", "metric_table",
           "save_json", "benchmark_tables", "selection_table"]


def metric_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Markdown table: ``columns`` are ``(key, header, format)``; ``±sd`` shown when present."""
    head = "| method | " + " | ".join(c[1] for c in columns) + " |"
    sep = "|---|" + "---|" * len(columns)
    lines = [head, sep]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            if v is None or (isinstance(v, float) and not np.isfinite(v)):
                cells.append("–")
                continue
            cell = format(v, fmt)
            sd = r.get(key + "_sd")
            if sd is not None and np.isfinite(sd):
                cell += f" ± {format(sd, fmt)}"
            cells.append(cell)
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON (NaN kept as ``NaN``)."""
    atomic_write_json(obj, path, indent=2, default=float)


MD_COLUMNS = [
    ("cc", "CC ↑", ".3f"), ("rmse", "RMSE (°) ↓", ".1f"), ("mae", "MAE (°) ↓", ".1f"),
    ("js_rama", "JS Rama ↓", ".3f"), ("js_phi", "JS φ ↓", ".3f"), ("js_psi", "JS ψ ↓", ".3f"),
    ("pop_abs_err", "Σ|Δpop| ↓", ".3f"),
]
KINETIC_COLUMNS = [
    ("pop_C7eq", "p(C7eq/C5)", ".3f"), ("pop_aR", "p(αR)", ".3f"), ("pop_aL", "p(C7ax/αL)", ".3f"),
    ("k_C7eq_aR", "k C7eq→αR (1/ns)", ".1f"), ("k_aR_C7eq", "k αR→C7eq (1/ns)", ".1f"),
    ("k_to_aL", "k →αL (1/ns)", ".2f"), ("act_phi", "τ_φ (ps)", ".1f"),
    ("act_psi", "τ_ψ (ps)", ".1f"),
]
#: several residues (idff.md.kinetics); JS are divergences in bits
PEPTIDE_COLUMNS = [
    ("js_torsion", "JS torsion ↓", ".3f"), ("js_rama_res", "JS Rama/residue ↓", ".3f"),
    ("js_tica", "JS TICA 1-2 ↓", ".3f"), ("msm_pop_err", "Σ|Δpop| MSM ↓", ".3f"),
    ("mfpt_factor", "MFPT factor ↓", ".2f"), ("mfpt_worst", "worst MFPT factor", ".1f"),
    ("decorr_factor", "decorrelation factor ↓", ".2f"),
]
LORENZ_COLUMNS = [
    ("err_1lt", "error @1 LT ↓", ".3f"), ("err_2lt", "error @2 LT ↓", ".3f"),
    ("err_3lt", "error @3 LT ↓", ".3f"), ("valid_lt", "valid time (LT) ↑", ".2f"),
    ("js_xz", "JS (x,z) ↓", ".3f"), ("js_x", "JS x ↓", ".3f"), ("js_z", "JS z ↓", ".3f"),
]


def benchmark_tables(rows: list[dict[str, Any]],
                     lorenz_rows: list[dict[str, Any]] | None = None) -> list[str]:
    """The benchmark's tables, as ``md-eval`` prints them: structure, states and rates (of the
    first residue), and, when the rows carry them (systems with several residues), the
    kinetics of :mod:`idff.md.kinetics`; then Lorenz-63."""
    tables = [metric_table(rows, MD_COLUMNS), metric_table(rows, KINETIC_COLUMNS)]
    if any("js_torsion" in r for r in rows):
        tables.append(metric_table(rows, PEPTIDE_COLUMNS))
    if lorenz_rows:
        tables.append(metric_table(lorenz_rows, LORENZ_COLUMNS))
    return tables


def selection_table(selection: list[dict[str, Any]]) -> str:
    """Markdown: every model's validation candidates, their metrics and the choice."""
    metrics = selection[0]["metrics"]
    out = ["**grid chosen on the validation trajectory** (lowest mean rank over "
           + ", ".join(metrics) + ")", "",
           "| model | NFE | grid | " + " | ".join(metrics) + " | mean rank | chosen |",
           "|---|---|---|" + "---:|" * len(metrics) + "---:|:---:|"]
    for sel in selection:
        for g, r in sel["rows"].items():
            out.append(f"| {LABELS[sel['method']]} σ={sel['sigma']:g} | {sel['nfe']} | {g} | "
                       + " | ".join(f"{r[k]:.3f}" for k in metrics)
                       + f" | {sel['ranks'][g]:.2f} | "
                       + ("**yes**" if g == sel["chosen"] else "") + " |")
    return "\n".join(out)

