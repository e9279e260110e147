"""Figures of 2D toy runs: samples with their trajectories.

Quality versus NFE is drawn by :func:`idff.eval.bench.plot.plot_quality_vs_nfe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from idff.io import atomic_savefig


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_samples_and_trajectories(
    results: Mapping[str, object],
    path: str | Path,
    reference=None,
    n_traj: int = 30,
    lim: float = 3.0,
) -> None:
    """A data panel, then one panel per entry: samples and a few trajectories (blue start,
    red end).

    Args:
        results: title -> :class:`~idff.sampler.SampleResult` with a trajectory ``(K, N, 2)``.
        path: output image file.
        reference: optional true samples ``(M, 2)`` drawn in grey underneath.
    """
    plt = _plt()
    panels = ([("data", None)] if reference is not None else []) + list(results.items())
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.8), squeeze=False)
    for ax, (title, res) in zip(axes[0], panels):
        if res is None:
            ref = np.asarray(reference)
            ax.scatter(ref[:, 0], ref[:, 1], s=0.5, c="k", alpha=0.5)
        else:
            x = res.x.numpy()
            ax.scatter(x[:, 0], x[:, 1], s=0.5, c="k", alpha=0.5)
            if res.trajectory is not None:
                traj = res.trajectory.numpy()
                for i in range(min(n_traj, traj.shape[1])):
                    ax.plot(traj[:, i, 0], traj[:, i, 1], c="tab:olive", lw=0.8, alpha=0.9)
                ax.scatter(traj[0, :n_traj, 0], traj[0, :n_traj, 1], s=6, c="tab:blue", zorder=3)
                ax.scatter(traj[-1, :n_traj, 0], traj[-1, :n_traj, 1], s=6, c="tab:red", zorder=3)
        ax.set_title(title)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)
