"""Lorenz-63: a fast chaotic time series for the time-series pipeline, its metrics and figure.

``ẋ = σ(y − x), ẏ = x(ρ − z) − y, ż = xy − βz`` with the classic ``σ = 10, ρ = 28,
β = 8/3``; largest Lyapunov exponent ≈ 0.906, so one Lyapunov time is ≈ 1.10 time units.
Metrics: forecast error over a few Lyapunov times from many starts (normalised by the
attractor's standard deviation), the valid prediction time, and the distance between
invariant measures (Jensen–Shannon divergence of histograms) of long free rollouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from idff.io import atomic_savefig
from idff.metrics import js_divergence

__all__ = ["LYAPUNOV_EXPONENT", "lorenz63", "forecast_errors", "valid_time",
           "invariant_js", "compare_lorenz", "plot_lorenz"]

LYAPUNOV_EXPONENT = 0.9056


def _rhs(_t, u, sigma, rho, beta):
    x, y, z = u
    return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]


def lorenz63(n: int, dt: float = 0.02, x0: np.ndarray | None = None, seed: int = 0,
             transient: float = 20.0, sigma: float = 10.0, rho: float = 28.0,
             beta: float = 8.0 / 3.0) -> np.ndarray:
    """``n`` states of Lorenz-63 sampled every ``dt``, after a ``transient`` (time units).

    Integrated with scipy's DOP853 at ``rtol = 1e-10``. ``x0`` defaults to a random point
    near the attractor drawn with ``seed``.

    Returns:
        Array ``(n, 3)``.
    """
    from scipy.integrate import solve_ivp

    if n < 1 or dt <= 0:
        raise ValueError(f"need n >= 1 and dt > 0, got n={n}, dt={dt}.")
    if x0 is None:
        x0 = np.array([1.0, 1.0, 25.0]) + np.random.default_rng(seed).normal(0, 5.0, 3)
    args = (sigma, rho, beta)
    if transient > 0:
        x0 = solve_ivp(_rhs, (0, transient), x0, args=args, method="DOP853",
                       rtol=1e-10, atol=1e-10).y[:, -1]
    t = np.arange(n) * dt
    sol = solve_ivp(_rhs, (0, t[-1] if n > 1 else 0.0), x0, t_eval=t, args=args,
                    method="DOP853", rtol=1e-10, atol=1e-10)
    return sol.y.T


def forecast_errors(gen: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Normalised RMS error per lead time: ``sqrt(mean_d ((g − r)/scale_d)²)``.

    Args:
        gen, ref: forecasts and truths, ``(M, H, 3)`` (M starts, H lead times).
        scale: per-coordinate scale ``(3,)`` (the attractor's standard deviation).

    Returns:
        ``(M, H)`` errors.
    """
    gen, ref = np.asarray(gen, float), np.asarray(ref, float)
    if gen.shape != ref.shape:
        raise ValueError(f"forecast {gen.shape} and truth {ref.shape} differ in shape.")
    return np.sqrt((((gen - ref) / np.asarray(scale)) ** 2).mean(-1))


def valid_time(errors: np.ndarray, dt: float, threshold: float = 0.5) -> np.ndarray:
    """Lead time (Lyapunov times) until the error first exceeds ``threshold``, per start."""
    errors = np.atleast_2d(errors)
    over = errors > threshold
    first = np.where(over.any(1), over.argmax(1), errors.shape[1])
    return first * dt * LYAPUNOV_EXPONENT


def invariant_js(gen: np.ndarray, ref: np.ndarray, bins: int = 40) -> dict[str, float]:
    """JS divergences (bits) of the (x, z) histogram and of each coordinate's histogram.

    Bin edges span the reference's range padded by 10%; generated points outside count in
    an overflow bin, so escaping the attractor is penalised.
    """
    gen, ref = np.asarray(gen, float), np.asarray(ref, float)
    lo, hi = ref.min(0), ref.max(0)
    pad = 0.1 * (hi - lo)
    edges = [np.concatenate([[-np.inf], np.linspace(lo[d] - pad[d], hi[d] + pad[d], bins + 1),
                             [np.inf]]) for d in range(3)]
    out = {}
    h = [np.histogram2d(a[:, 0], a[:, 2], bins=[edges[0], edges[2]])[0] for a in (gen, ref)]
    out["js_xz"] = js_divergence(h[0], h[1])
    for d, name in enumerate("xyz"):
        hd = [np.histogram(a[:, d], bins=edges[d])[0] for a in (gen, ref)]
        out[f"js_{name}"] = js_divergence(hd[0], hd[1])
    return out


def compare_lorenz(forecast: np.ndarray, truth: np.ndarray, free: np.ndarray,
                   reference: np.ndarray, dt: float, scale: np.ndarray) -> dict[str, float]:
    """Forecast errors at 1, 2, 3 Lyapunov times, valid time, and invariant-measure JS."""
    err = forecast_errors(forecast, truth, scale)
    out = {}
    lt_steps = 1.0 / (LYAPUNOV_EXPONENT * dt)
    for n_lt in (1, 2, 3):
        k = int(round(n_lt * lt_steps))
        if k < err.shape[1]:
            out[f"err_{n_lt}lt"] = float(err[:, k].mean())
    out["valid_lt"] = float(valid_time(err, dt).mean())
    out.update(invariant_js(free, reference))
    return out


def plot_lorenz(panels: Mapping[str, np.ndarray], path: str | Path) -> None:
    """(x, z) projections of long Lorenz-63 trajectories, one panel per entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False, sharex=True, sharey=True)
    for ax, (title, a) in zip(axes[0], panels.items()):
        a = np.asarray(a)
        ax.plot(a[:, 0], a[:, 2], lw=0.3)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x (standardised)")
    axes[0, 0].set_ylabel("z (standardised)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
