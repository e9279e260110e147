"""Metrics for generated torsion trajectories (all angles in degrees).

Pointwise, against a reference trajectory from the same start (the published metrics,
made periodic): circular correlation (CC), RMSE and MAE of wrapped differences.
Distributional and kinetic, against held-out simulations: Jensen–Shannon divergences
of the Ramachandran (φ, ψ) histogram and of each torsion's histogram, integrated
autocorrelation times, basin populations and transition rates between the metastable
basins of alanine dipeptide (C7eq/C5, αR, C7ax/αL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from idff.md.dihedrals import wrap, wrapped_diff
from idff.metrics import js_divergence

__all__ = [
    "BASINS", "circular_cc", "pointwise_errors", "histogram_2d", "histogram_1d",
    "js_divergence", "autocorrelation", "autocorrelation_time", "assign_basins",
    "assign_cores", "basin_populations", "transition_rates", "TrajectoryStats",
    "trajectory_stats", "compare",
]

#: metastable basins of the (φ, ψ) plane; every point belongs to exactly one.
BASINS = ("C7eq/C5", "alphaR", "C7ax/alphaL")


def _check_angles(a: np.ndarray, name: str, ndim: int = 2) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions (frames, torsions), got {a.shape}.")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf; the generator diverged or the data is bad.")
    return a


def circular_cc(a: np.ndarray, b: np.ndarray) -> float:
    """Circular correlation of two angle series (Jammalamadaka–SenGupta), in ``[-1, 1]``.

    ``ρ = Σ sin(a - ā) sin(b - b̄) / sqrt(Σ sin²(a - ā) Σ sin²(b - b̄))`` with circular
    means ``ā = atan2(Σ sin a, Σ cos a)``. It is Pearson's correlation for small spreads
    and does not jump when a series crosses ±180°.
    """
    ra, rb = np.deg2rad(np.asarray(a, float)), np.deg2rad(np.asarray(b, float))
    ma = np.arctan2(np.sin(ra).sum(), np.cos(ra).sum())
    mb = np.arctan2(np.sin(rb).sum(), np.cos(rb).sum())
    sa, sb = np.sin(ra - ma), np.sin(rb - mb)
    den = np.sqrt((sa**2).sum() * (sb**2).sum())
    return float((sa * sb).sum() / den) if den > 0 else 0.0


def pointwise_errors(gen: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """CC, RMSE and MAE (wrapped, degrees) averaged over torsions; shapes ``(T, K)``."""
    gen, ref = _check_angles(gen, "generated"), _check_angles(ref, "reference")
    if gen.shape != ref.shape:
        raise ValueError(
            f"generated {gen.shape} and reference {ref.shape} differ; compare trajectories "
            "of the same length and torsions."
        )
    d = wrapped_diff(gen, ref)
    return {
        "cc": float(np.mean([circular_cc(gen[:, k], ref[:, k]) for k in range(gen.shape[1])])),
        "rmse": float(np.sqrt(np.mean(d**2))),
        "mae": float(np.mean(np.abs(d))),
    }


def histogram_2d(phi: np.ndarray, psi: np.ndarray, bins: int = 36) -> np.ndarray:
    """Normalised ``bins × bins`` histogram of (φ, ψ) on ``[-180, 180)²``."""
    edges = np.linspace(-180, 180, bins + 1)
    h, _, _ = np.histogram2d(wrap(phi).ravel(), wrap(psi).ravel(), bins=[edges, edges])
    return h / max(h.sum(), 1)


def histogram_1d(theta: np.ndarray, bins: int = 72) -> np.ndarray:
    """Normalised histogram of one torsion on ``[-180, 180)``."""
    h, _ = np.histogram(wrap(theta).ravel(), bins=np.linspace(-180, 180, bins + 1))
    return h / max(h.sum(), 1)


def autocorrelation(theta: np.ndarray, max_lag: int) -> np.ndarray:
    """Normalised autocorrelation of a torsion's unit vector ``e^{iθ}``, lags ``0..max_lag``.

    ``C(l) = (Re⟨e^{i(θ_{s+l} - θ_s)}⟩ - |⟨e^{iθ}⟩|²) / (1 - |⟨e^{iθ}⟩|²)``, so ``C(0) = 1``.
    """
    z = np.exp(1j * np.deg2rad(np.asarray(theta, float)))
    n = z.size
    max_lag = min(max_lag, n - 1)
    m2 = abs(z.mean()) ** 2
    var = 1.0 - m2
    if var <= 1e-12:
        return np.ones(max_lag + 1)
    # Σ_s z_{s+l} conj(z_s) for every lag at once, by FFT with zero padding (O(n log n))
    size = 1 << int(np.ceil(np.log2(2 * n)))
    fz = np.fft.fft(z, size)
    acf = np.fft.ifft(np.abs(fz) ** 2)[: max_lag + 1]
    c = np.real(np.conj(acf)) / (n - np.arange(max_lag + 1))
    return (c - m2) / var


def autocorrelation_time(theta: np.ndarray, dt: float = 1.0, max_lag: int | None = None) -> float:
    """Integrated autocorrelation time ``dt·(½ + Σ_{l≥1} C(l))``, summed to the first ``C ≤ 0``."""
    theta = np.asarray(theta, float)
    c = autocorrelation(theta, max_lag or max(len(theta) // 4, 1))
    neg = np.nonzero(c[1:] <= 0)[0]
    end = neg[0] + 1 if neg.size else len(c)
    return float(dt * (0.5 + c[1:end].sum()))


def assign_basins(phi: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Basin index (into :data:`BASINS`) of each (φ, ψ) point; every point gets one.

    ``C7ax/αL``: 0° ≤ φ < 120°. Otherwise ``αR`` when -120° ≤ ψ < 50°, else ``C7eq/C5``.
    """
    phi, psi = wrap(phi), wrap(psi)
    left = ~((phi >= 0) & (phi < 120))
    alpha_r = left & (psi >= -120) & (psi < 50)
    out = np.full(phi.shape, 2, dtype=int)
    out[left] = 0
    out[alpha_r] = 1
    return out


def assign_cores(phi: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Core-set (milestoning) assignment for transition counting.

    A frame inside a basin's core gets that basin; a frame between cores keeps the last
    core visited (``-1`` before the first), so barrier recrossings are not counted as
    transitions. Cores: C7eq/C5 φ < -45°, ψ ≥ 100° or ψ < -150°; αR -160° ≤ φ < -30°,
    -90° ≤ ψ < 20°; C7ax/αL 30° ≤ φ < 100°.
    """
    phi, psi = wrap(np.asarray(phi, float)), wrap(np.asarray(psi, float))
    core = np.full(phi.shape, -1, dtype=int)
    core[(phi < -45) & ((psi >= 100) | (psi < -150))] = 0
    core[(phi >= -160) & (phi < -30) & (psi >= -90) & (psi < 20)] = 1
    core[(phi >= 30) & (phi < 100)] = 2
    last = -1
    for i in range(core.size):
        if core[i] < 0:
            core[i] = last
        else:
            last = core[i]
    return core


def basin_populations(phi: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Fraction of frames in each basin of :data:`BASINS`, shape ``(3,)``."""
    b = assign_basins(phi, psi)
    return np.bincount(b.ravel(), minlength=len(BASINS)) / max(b.size, 1)


def transition_rates(phi: np.ndarray, psi: np.ndarray, dt_ps: float) -> np.ndarray:
    """Rates ``k_ij`` (1/ns) of core-to-core transitions: counts ``i→j`` / time in ``i``.

    Returns:
        ``(3, 3)`` matrix, zero diagonal; ``NaN`` rows for basins never visited.
    """
    c = assign_cores(phi, psi)
    counts = np.zeros((3, 3))
    for a, b in zip(c[:-1], c[1:]):
        if a >= 0 and b >= 0 and a != b:
            counts[a, b] += 1
    dwell_ns = np.array([(c == i).sum() for i in range(3)]) * dt_ps / 1000.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = counts / dwell_ns[:, None]
    rates[dwell_ns == 0] = np.nan
    return rates


@dataclass
class TrajectoryStats:
    """Distributional/kinetic summary of one (φ, ψ) trajectory."""

    populations: np.ndarray
    rates: np.ndarray
    act_phi_ps: float
    act_psi_ps: float


def trajectory_stats(angles: np.ndarray, dt_ps: float) -> TrajectoryStats:
    """Populations, rates and autocorrelation times of a ``(T, 2)`` (φ, ψ) trajectory."""
    a = _check_angles(angles, "angles")
    return TrajectoryStats(
        populations=basin_populations(a[:, 0], a[:, 1]),
        rates=transition_rates(a[:, 0], a[:, 1], dt_ps),
        act_phi_ps=autocorrelation_time(a[:, 0], dt_ps),
        act_psi_ps=autocorrelation_time(a[:, 1], dt_ps),
    )


def compare(gen: np.ndarray, ref: np.ndarray, dt_ps: float, bins: int = 36) -> dict[str, float]:
    """All metrics of a generated ``(T, 2)`` (φ, ψ) trajectory against a reference one.

    The reference sets the pointwise comparison (same length needed) and the histograms;
    kinetic numbers of the generated trajectory itself are returned too (``pop_*``,
    ``k_*`` in 1/ns, ``act_*`` in ps) with their absolute errors where useful.
    """
    gen, ref = _check_angles(gen, "generated"), _check_angles(ref, "reference")
    if gen.shape[1] < 2 or ref.shape[1] < 2:
        raise ValueError("compare needs (φ, ψ) columns: arrays of shape (T, 2).")
    out: dict[str, float] = {}
    if gen.shape == ref.shape:
        out.update(pointwise_errors(gen[:, :2], ref[:, :2]))
    out["js_rama"] = js_divergence(histogram_2d(gen[:, 0], gen[:, 1], bins),
                                   histogram_2d(ref[:, 0], ref[:, 1], bins))
    for j, name in enumerate(("phi", "psi")):
        out[f"js_{name}"] = js_divergence(histogram_1d(gen[:, j], 2 * bins),
                                          histogram_1d(ref[:, j], 2 * bins))
    sg = trajectory_stats(gen[:, :2], dt_ps)
    sr = trajectory_stats(ref[:, :2], dt_ps)
    short = ("C7eq", "aR", "aL")
    for i, name in enumerate(short):
        out[f"pop_{name}"] = float(sg.populations[i])
    out["pop_abs_err"] = float(np.abs(sg.populations - sr.populations).sum())
    out["k_C7eq_aR"] = float(sg.rates[0, 1])
    out["k_aR_C7eq"] = float(sg.rates[1, 0])
    out["k_to_aL"] = float(np.nansum(sg.rates[:2, 2]))
    out["act_phi"] = sg.act_phi_ps
    out["act_psi"] = sg.act_psi_ps
    return out
