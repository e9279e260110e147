"""The benchmark's figure: quality and sampling time against counted NFE."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from idff.eval.bench.records import BenchRow
from idff.io import atomic_savefig

__all__ = ["plot_quality_vs_nfe"]


def plot_quality_vs_nfe(rows: Sequence[BenchRow], path: str | Path, title: str = "",
                        floor: float | None = None) -> None:
    """Quality (log-log) and seconds per 1k samples against counted NFE, one line per run
    (where several budgets spend the same counted NFE, the best of them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(11, 4.2))
    metric = rows[0].metric
    for lab in dict.fromkeys(r.label for r in rows):
        fixed = [r for r in rows if r.label == lab and r.nfe_budget != "adaptive"
                 and np.isfinite(r.value)]
        fixed.sort(key=lambda r: (r.nfe, r.value))
        # budgets that spend the same counted NFE (e.g. 3 → one midpoint step, 2 calls):
        # the curve shows the best of them, the quality that many calls buy
        fixed = [r for i, r in enumerate(fixed) if i == 0 or r.nfe != fixed[i - 1].nfe]
        line = ax.plot([r.nfe for r in fixed], [r.value for r in fixed], marker="o", ms=3,
                       label=lab)[0]
        ax_t.plot([r.nfe for r in fixed], [r.seconds_per_1k for r in fixed], marker="o", ms=3,
                  color=line.get_color(), label=lab)
        for r in rows:
            if r.label == lab and r.nfe_budget == "adaptive" and np.isfinite(r.value) and r.nfe > 0:
                ax.scatter([r.nfe], [r.value], marker="*", s=90, color=line.get_color(),
                           label=f"{lab} adaptive")
                ax_t.scatter([r.nfe], [r.seconds_per_1k], marker="*", s=90,
                             color=line.get_color())
    values = [r.value for r in rows if np.isfinite(r.value)]
    if floor is not None and np.isfinite(floor):
        if floor > 0:
            ax.axhline(floor, color="k", ls=":", label="reference floor")
        else:  # an unbiased MMD² between two true samples can be ≤ 0
            ax.text(0.02, 0.02, f"reference floor {floor:.2g}", transform=ax.transAxes,
                    fontsize=7)
    log = "log" if values else "linear"  # every cell failed: nothing to log-scale
    if not values:
        ax.text(0.5, 0.5, "no finite results", ha="center", transform=ax.transAxes)
    ax.set_xscale(log)
    if min(values, default=1.0) > 0:
        ax.set_yscale(log)
    else:
        ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel("NFE (counted network evaluations per sample)")
    ax.set_ylabel(f"{metric} (lower is better)")
    ax.set_title(title or f"{metric} vs NFE")
    ax.legend(fontsize=7)
    ax_t.set_xscale(log)
    ax_t.set_yscale(log)
    ax_t.set_xlabel("NFE (counted)")
    ax_t.set_ylabel("sampling seconds per 1k samples")
    ax_t.set_title("sampling time")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)
