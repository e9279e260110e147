"""Figures for torsion trajectories: Ramachandran maps and torsion time series (Agg)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from idff.io import atomic_savefig

__all__ = ["plot_ramachandran", "plot_torsion_series"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ramachandran(panels: Mapping[str, np.ndarray], path: str | Path, bins: int = 72,
                      ncols: int = 4) -> None:
    """One log-density (φ, ψ) heat map per entry (title → angles ``(T, 2)`` or ``(R, T, 2)``)."""
    from matplotlib.colors import LogNorm

    plt = _plt()
    n = len(panels)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    edges = np.linspace(-180, 180, bins + 1)
    for ax, (title, a) in zip(axes.ravel(), panels.items()):
        a = np.asarray(a).reshape(-1, np.asarray(a).shape[-1])
        h, _, _ = np.histogram2d(a[:, 0], a[:, 1], bins=[edges, edges], density=True)
        dens = np.ma.masked_equal(h.T, 0.0)  # empty bins stay white
        vmax = max(h.max(), 1e-6)
        ax.pcolormesh(edges, edges, dens, norm=LogNorm(vmin=vmax * 1e-3, vmax=vmax),
                      cmap="viridis", shading="flat")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("φ (deg)")
        ax.set_xlim(-180, 180)
        ax.set_ylim(-180, 180)
        ax.set_xticks([-180, -90, 0, 90, 180])
        ax.set_yticks([-180, -90, 0, 90, 180])
        ax.set_ylabel("ψ (deg)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)


def plot_torsion_series(series: Mapping[str, np.ndarray], dt_ps: float, path: str | Path,
                        names: tuple[str, ...] = ("φ", "ψ"), max_frames: int = 1000) -> None:
    """Torsions against time, one row per entry (title → ``(T, K)``), dots (periodic axes)."""
    plt = _plt()
    n = len(series)
    k = len(names)
    fig, axes = plt.subplots(n, k, figsize=(5.0 * k, 1.9 * n), squeeze=False, sharex=True)
    for i, (title, a) in enumerate(series.items()):
        a = np.asarray(a)[:max_frames]
        t = np.arange(len(a)) * dt_ps
        for j in range(k):
            ax = axes[i, j]
            ax.plot(t, a[:, j], ".", ms=1.5)
            ax.set_ylim(-180, 180)
            ax.set_yticks([-180, 0, 180])
            ax.set_ylabel(f"{names[j]}\n{title}" if j == 0 else names[j], fontsize=8)
    for j in range(k):
        axes[-1, j].set_xlabel("time (ps)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
