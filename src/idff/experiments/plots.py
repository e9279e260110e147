"""Figures: samples with trajectories, and quality versus NFE."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_samples_and_trajectories(
    results: Mapping[str, object],
    path: str | Path,
    reference=None,
    n_traj: int = 40,
    lim: float = 4.0,
) -> None:
    """One panel per entry: final samples (dots) and a few trajectories (lines).

    Args:
        results: title -> :class:`~idff.sampler.SampleResult` with a trajectory ``(K, N, 2)``.
        path: output image file.
        reference: optional true samples ``(M, 2)`` drawn in grey underneath.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.2), squeeze=False)
    for ax, (title, res) in zip(axes[0], results.items()):
        x = res.x.numpy()
        if reference is not None:
            ref = np.asarray(reference)
            ax.scatter(ref[:, 0], ref[:, 1], s=1, c="0.8", label="data")
        if res.trajectory is not None:
            traj = res.trajectory.numpy()
            ax.scatter(traj[0, :, 0], traj[0, :, 1], s=1, c="tab:blue", alpha=0.15)
            for i in range(min(n_traj, traj.shape[1])):
                ax.plot(traj[:, i, 0], traj[:, i, 1], c="olive", lw=0.6, alpha=0.7)
        ax.scatter(x[:, 0], x[:, 1], s=1.5, c="k")
        ax.set_title(title)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_quality_vs_nfe(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    path: str | Path,
    ylabel: str = "MMD",
    floor: float | None = None,
    title: str = "",
) -> None:
    """Log-x line plot of ``(nfe, value)`` pairs per method."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, pts in curves.items():
        pts = sorted(p for p in pts if np.isfinite(p[1]))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
    if floor is not None:
        ax.axhline(floor, color="k", ls=":", label="true vs true")
    ax.set_xscale("log")
    ax.set_xlabel("NFE (counted)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
