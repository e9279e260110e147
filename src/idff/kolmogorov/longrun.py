"""Long free rollouts of a Kolmogorov run (nothing observed after the start) and their
statistics against the test set: enstrophy, energy spectrum and the distribution of cell
values per window of frames (docs/METHOD.md, "Kolmogorov flow")."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from idff.kolmogorov.forecast import _prepare, _roll
from idff.kolmogorov.solver import energy_spectrum
from idff.progress import progress_bar
from idff.sampling import SamplingConfig

__all__ = ["LONG_FRAMES", "LONG_WINDOWS", "free_rollout", "long_run_statistics",
           "long_rollout_score"]


#: frames of the long free rollouts (every 0.2 time units: T = 30)
LONG_FRAMES = 150

#: windows (first, last frame, 1-based) over which long rollouts are compared with the
#: test set's statistics: T in (0, 5], (5, 10] and (10, 30]
LONG_WINDOWS = ((1, 25), (26, 50), (51, 150))


def free_rollout(model: nn.Module, config: dict[str, Any], test: np.ndarray, frames: int,
                 members: int = 1, sampling: SamplingConfig | None = None, *,
                 trajectories: int = 8, seed: int = 0, device: str | torch.device = "cpu",
                 progress: bool = False, **overrides: Any) -> Tensor:
    """Free-running rollouts of ``frames`` frames from the first frames of the first
    ``trajectories`` test trajectories, ``members`` each: blocks of the model's horizon,
    every block conditioned on the last generated frame as its observed one (nothing
    observed after the start). Returns ``(frames, members·B, H, W)`` in normalised units.

    Raises:
        FloatingPointError: the rollout diverged (NaN/inf states).
    """
    model, sampling, members, g = _prepare(model, config, sampling, overrides, members, seed,
                                           device)
    context, k_train = config["context"], config["horizon"]
    start = torch.from_numpy(np.ascontiguousarray(test[:trajectories, :context])).to(device)
    seq = [start[:, c][:, None].repeat(members, 1, 1, 1) for c in range(context)]
    out: list[Tensor] = []
    bar = progress_bar(frames, "free rollout", unit="frame", enable=progress)
    while len(out) < frames:
        block = min(k_train, frames - len(out))
        obs, older = seq[-1], seq[len(seq) - context:-1]
        res = _roll(model, config, sampling, obs, obs, older, block, 1, g)
        new = list(res.trajectory[1:])
        seq = (seq + new)[-context:]
        out += [f[:, 0].cpu() for f in new]
        bar.update(block)
    bar.close()
    return torch.stack(out)


def _fit_windows(windows: tuple[tuple[int, int], ...], frames: int) -> tuple[tuple[int, int], ...]:
    return tuple(w for w in windows if w[1] <= frames) or ((1, frames),)


def _w1(a: Tensor, b: Tensor, levels: int = 1000, seed: int = 0) -> float:
    """Wasserstein-1 distance between the value distributions of ``a`` and ``b`` (the mean
    gap between their quantiles at ``levels`` evenly spaced levels; at most 10⁶ values of
    each, drawn at random)."""
    g = torch.Generator().manual_seed(seed)
    x, y = a.flatten().double(), b.flatten().double()
    x = x[torch.randperm(x.numel(), generator=g)[:1_000_000]]
    y = y[torch.randperm(y.numel(), generator=g)[:1_000_000]]
    q = (torch.arange(levels, dtype=torch.float64) + 0.5) / levels
    return float((torch.quantile(x, q) - torch.quantile(y, q)).abs().mean())


def long_run_statistics(traj: Tensor, reference: Tensor, frame_dt: float,
                        windows: tuple[tuple[int, int], ...] = LONG_WINDOWS,
                        kmax: int = 10) -> list[dict[str, Any]]:
    """Statistics of rollout frames ``traj`` ``(F, N, H, W)`` per window of frames against
    ``reference`` frames ``(..., H, W)`` (the test set, same units): the ratio of mean
    squared vorticity (enstrophy), the mean ``|log E(k)/E_ref(k)|`` over ``1 ≤ k ≤ kmax``
    and the Wasserstein-1 distance between the distributions of cell values
    (docs/METHOD.md, "Kolmogorov flow"). Windows past ``F`` are left out (all ``F`` frames
    make one window when none fits)."""
    ref = reference.reshape(-1, *reference.shape[-2:])
    windows = _fit_windows(windows, traj.shape[0])
    e_ref = energy_spectrum(ref)[1:kmax + 1]
    z_ref = float(ref.double().pow(2).mean())
    rows = []
    for a, b in windows:
        x = traj[a - 1:b].reshape(-1, *traj.shape[-2:])
        e = energy_spectrum(x)[1:kmax + 1]
        rows.append({"frames": [a, b], "time": [round((a - 1) * frame_dt, 6),
                                                round(b * frame_dt, 6)],
                     "enstrophy_ratio": float(x.double().pow(2).mean()) / z_ref,
                     "spectrum_log_error": float((e / e_ref).log().abs().mean()),
                     "w1": _w1(x, ref)})
    return rows


def long_rollout_score(traj: Tensor, reference: Tensor, frame_dt: float) -> dict[str, Any]:
    """:func:`long_run_statistics` per window, plus what the figure draws: the enstrophy
    ratio of every frame and the energy spectra of the last window and of ``reference``."""
    ref = reference.reshape(-1, *reference.shape[-2:])
    a, b = _fit_windows(LONG_WINDOWS, traj.shape[0])[-1]
    z_ref = float(ref.double().pow(2).mean())
    return {"windows": long_run_statistics(traj, ref, frame_dt),
            "enstrophy": (traj.double().pow(2).mean((1, 2, 3)) / z_ref).tolist(),
            "spectrum": energy_spectrum(traj[a - 1:b].reshape(-1, *traj.shape[-2:])).tolist(),
            "spectrum_reference": energy_spectrum(ref).tolist()}

