"""Distributional and kinetic metrics for peptides with several residues (MDGen's set).

All angles are in degrees, trajectories ``(T, 2R)`` ordered ``φ_1, ψ_1, ..., φ_R, ψ_R``
(as :func:`idff.md.dihedrals.phi_psi` returns them). Every Jensen–Shannon number here is
the JS *divergence* in bits (:func:`idff.metrics.js_divergence`, in ``[0, 1]``), not the
JS distance (its square root, in nats by default) that ``scipy.spatial.distance.jensenshannon``
returns.

- per-torsion and per-residue (Ramachandran) JS;
- TICA (time-lagged independent component analysis) fitted on a reference, and the JS of
  the histogram of the first two TICA components;
- an MSM on ``2^R`` states (each residue αR or β, the β set holding everything that is not
  αR): transition matrix at a lag, stationary populations and mean first-passage times;
- torsion decorrelation times (the first lag where the autocorrelation of ``e^{iθ}``
  falls below ``1/e``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from idff.md.dihedrals import to_features
from idff.md.metrics import assign_basins, autocorrelation, histogram_1d, histogram_2d
from idff.metrics import js_divergence

__all__ = ["js_per_torsion", "js_ramachandran", "Tica", "fit_tica", "js_tica",
           "helix_states", "Msm", "fit_msm", "mean_first_passage_times",
           "decorrelation_time", "peptide_compare"]


def _angles(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, float)
    if a.ndim != 2 or a.shape[1] % 2 or a.shape[0] < 2:
        raise ValueError(f"{name} must be (T, 2R) angles (φ, ψ per residue), got {a.shape}.")
    return a


def js_per_torsion(gen: np.ndarray, ref: np.ndarray, bins: int = 72) -> np.ndarray:
    """JS divergence (bits) of each torsion's 1-D histogram, shape ``(K,)``."""
    gen, ref = np.atleast_2d(gen), np.atleast_2d(ref)
    if gen.shape[1] != ref.shape[1]:
        raise ValueError(f"generated has {gen.shape[1]} torsions, reference {ref.shape[1]}.")
    return np.array([js_divergence(histogram_1d(gen[:, k], bins), histogram_1d(ref[:, k], bins))
                     for k in range(gen.shape[1])])


def js_ramachandran(gen: np.ndarray, ref: np.ndarray, bins: int = 36) -> np.ndarray:
    """JS divergence (bits) of each residue's (φ, ψ) histogram, shape ``(R,)``."""
    gen, ref = _angles(gen, "generated"), _angles(ref, "reference")
    return np.array([js_divergence(histogram_2d(gen[:, 2 * r], gen[:, 2 * r + 1], bins),
                                   histogram_2d(ref[:, 2 * r], ref[:, 2 * r + 1], bins))
                     for r in range(ref.shape[1] // 2)])


@dataclass
class Tica:
    """A fitted TICA model: ``y = (x - mean) @ vectors``, slowest component first.

    Attributes:
        mean: feature mean, ``(D,)``.
        vectors: eigenvectors (columns, ``C0``-orthonormal), ``(D, D)``.
        eigenvalues: autocorrelations of the components at ``lag``, descending.
        lag: lag in frames.
    """

    mean: np.ndarray
    vectors: np.ndarray
    eigenvalues: np.ndarray
    lag: int

    def transform(self, x: np.ndarray, dim: int | None = None) -> np.ndarray:
        y = (np.asarray(x, float) - self.mean) @ self.vectors
        return y if dim is None else y[..., :dim]

    def timescales(self, dt: float = 1.0) -> np.ndarray:
        """Implied timescales ``-lag·dt / ln|λ|`` (``inf`` for ``|λ| ≥ 1``)."""
        lam = np.clip(np.abs(self.eigenvalues), 1e-300, None)
        with np.errstate(divide="ignore"):
            return np.where(lam < 1, -self.lag * dt / np.log(lam), np.inf)


def fit_tica(series: list[np.ndarray] | np.ndarray, lag: int, eps: float = 1e-10) -> Tica:
    """TICA of feature trajectories (each ``(T, D)``) at ``lag`` frames.

    Symmetrised estimator: ``C0 = ½(X₀ᵀX₀ + X_τᵀX_τ)/N``, ``Cτ = ½(X₀ᵀX_τ + X_τᵀX₀)/N`` on
    mean-free data, then the generalised eigenproblem ``Cτ v = λ C0 v``.
    """
    from scipy.linalg import eigh

    series = [np.asarray(s, float) for s in (series if isinstance(series, list) else [series])]
    if lag < 1 or not any(len(s) > lag for s in series):
        raise ValueError(f"TICA needs lag >= 1 and a trajectory longer than the lag ({lag}).")
    pairs = [(s[:-lag], s[lag:]) for s in series if len(s) > lag]
    x0 = np.concatenate([a for a, _ in pairs])
    xt = np.concatenate([b for _, b in pairs])
    mean = 0.5 * (x0.mean(0) + xt.mean(0))
    x0, xt = x0 - mean, xt - mean
    n = len(x0)
    c0 = (x0.T @ x0 + xt.T @ xt) / (2 * n)
    ct = (x0.T @ xt + xt.T @ x0) / (2 * n)
    lam, vec = eigh(ct, c0 + eps * np.eye(len(c0)))
    order = np.argsort(lam)[::-1]
    return Tica(mean, vec[:, order], lam[order], lag)


def js_tica(gen: np.ndarray, ref: np.ndarray, tica: Tica, dim: int = 2, bins: int = 30) -> float:
    """JS divergence (bits) of the ``dim``-D histogram (``dim`` ≤ 2) of the first TICA
    components of the (sin, cos) features, on a grid spanning the reference."""
    yg = tica.transform(to_features(gen), dim)
    yr = tica.transform(to_features(ref), dim)
    lo, hi = yr.min(0), yr.max(0)
    edges = [np.linspace(lo[k], hi[k] + 1e-9, bins + 1) for k in range(dim)]
    hg, _ = np.histogramdd(np.clip(yg, lo, hi), bins=edges)
    hr, _ = np.histogramdd(yr, bins=edges)
    return js_divergence(hg, hr)


def helix_states(angles: np.ndarray) -> np.ndarray:
    """MSM state of each frame: ``Σ_r 2^r·[residue r is αR]``, in ``0..2^R - 1``.

    αR is the αR basin of :func:`idff.md.metrics.assign_basins` (φ outside [0°, 120°),
    -120° ≤ ψ < 50°); β is every other (φ, ψ). With three residues: 8 states.
    """
    a = _angles(angles, "angles")
    s = np.zeros(len(a), dtype=int)
    for r in range(a.shape[1] // 2):
        s += (assign_basins(a[:, 2 * r], a[:, 2 * r + 1]) == 1).astype(int) << r
    return s


@dataclass
class Msm:
    """A Markov state model: row-stochastic ``transition`` at ``lag`` frames.

    Attributes:
        transition: ``(n, n)``; rows of never-visited states are the identity row.
        populations: stationary distribution of ``transition``, ``(n,)``.
        counts: transition counts at the lag, ``(n, n)``.
        lag: lag in frames.
    """

    transition: np.ndarray
    populations: np.ndarray
    counts: np.ndarray
    lag: int


def fit_msm(dtrajs: list[np.ndarray] | np.ndarray, n_states: int, lag: int = 1,
            reversible: bool = True) -> Msm:
    """MSM from discrete trajectories: count ``i → j`` at ``lag`` (sliding window).

    ``reversible``: symmetrise the counts (``C + Cᵀ``), which gives a detailed-balance
    transition matrix whose stationary populations are the row sums' share.
    """
    dtrajs = [np.asarray(d, int) for d in (dtrajs if isinstance(dtrajs, list) else [dtrajs])]
    if lag < 1:
        raise ValueError(f"MSM lag must be >= 1 frame, got {lag}.")
    c = np.zeros((n_states, n_states))
    for d in dtrajs:
        if d.size and (d.min() < 0 or d.max() >= n_states):
            raise ValueError(f"states must lie in 0..{n_states - 1}, got {d.min()}..{d.max()}.")
        if len(d) > lag:
            np.add.at(c, (d[:-lag], d[lag:]), 1.0)
    cs = c + c.T if reversible else c
    rows = cs.sum(1)
    t = np.eye(n_states)
    seen = rows > 0
    t[seen] = cs[seen] / rows[seen, None]
    if reversible:
        pi = rows / max(rows.sum(), 1)
    else:
        w, v = np.linalg.eig(t.T)
        pi = np.abs(np.real(v[:, np.argmin(np.abs(w - 1))]))
        pi = pi / pi.sum()
    return Msm(t, pi, c, lag)


def mean_first_passage_times(transition: np.ndarray, lag_time: float = 1.0) -> np.ndarray:
    """MFPT ``m[i, j]`` from ``i`` to ``j`` (units of ``lag_time``), diagonal 0.

    Solves ``m_i = lag_time + Σ_{k≠j} T_ik m_k`` for each target ``j`` over the states
    that reach ``j`` with probability one; from every other state (``j`` unreachable, or
    a path to a state that never returns) the MFPT is ``inf``.
    """
    t = np.asarray(transition, float)
    n = len(t)
    m = np.full((n, n), np.inf)
    np.fill_diagonal(m, 0.0)
    edges = t > 0
    for j in range(n):
        # states that reach j at all (backward search over the transition graph)
        reach = np.zeros(n, bool)
        reach[j] = True
        while True:
            new = reach | edges[:, reach].any(1)
            if (new == reach).all():
                break
            reach = new
        # ... and surely: drop states that can step to a state that does not reach j
        sure = reach.copy()
        while True:
            new = sure & ~(edges[:, ~sure].any(1))
            new[j] = True
            if (new == sure).all():
                break
            sure = new
        idx = [i for i in range(n) if sure[i] and i != j]
        if idx:
            a = np.eye(len(idx)) - t[np.ix_(idx, idx)]
            m[idx, j] = np.linalg.solve(a, np.full(len(idx), lag_time))
    return m


def decorrelation_time(theta: np.ndarray, dt: float = 1.0, max_lag: int | None = None) -> float:
    """First lag (times ``dt``) where the autocorrelation of ``e^{iθ}`` is ≤ ``1/e``
    (linearly interpolated); ``nan`` if it never gets there within ``max_lag``."""
    theta = np.asarray(theta, float)
    c = autocorrelation(theta, max_lag or max(len(theta) // 2, 1))
    below = np.nonzero(c <= np.exp(-1))[0]
    if not below.size:
        return float("nan")
    k = below[0]
    frac = (c[k - 1] - np.exp(-1)) / (c[k - 1] - c[k]) if c[k - 1] != c[k] else 1.0
    return float(dt * (k - 1 + frac))


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    return np.abs(np.log(a[ok] / b[ok]))


def peptide_compare(gen: np.ndarray, ref: np.ndarray, dt_ps: float, msm_lag: int = 1,
                    tica_lag: int = 1, tica: Tica | None = None,
                    min_population: float = 0.01) -> dict[str, float]:
    """MDGen-style metrics of a generated ``(T, 2R)`` trajectory against a reference one.

    Returns (JS in bits): ``js_torsion`` (mean over torsions), ``js_rama_res`` (mean over
    residues), ``js_tica`` (first two TICA components, fitted on the reference unless
    ``tica`` is given), ``msm_pop_err`` (total absolute error of the 2^R populations),
    ``mfpt_factor`` (geometric-mean factor ``exp(mean |ln(m_gen/m_ref)|)`` over the MFPTs
    between states holding ≥ ``min_population`` in the reference), ``decorr_factor``
    (the same factor over the torsion decorrelation times), and the worst single ones.
    """
    gen, ref = _angles(gen, "generated"), _angles(ref, "reference")
    n_states = 2 ** (ref.shape[1] // 2)
    out: dict[str, float] = {}
    out["js_torsion"] = float(js_per_torsion(gen, ref).mean())
    out["js_rama_res"] = float(js_ramachandran(gen, ref).mean())
    tica = tica or fit_tica(to_features(ref), tica_lag)
    out["js_tica"] = js_tica(gen, ref, tica)
    mg = fit_msm(helix_states(gen), n_states, msm_lag)
    mr = fit_msm(helix_states(ref), n_states, msm_lag)
    out["msm_pop_err"] = float(np.abs(mg.populations - mr.populations).sum())
    keep = mr.populations >= min_population
    tg = mean_first_passage_times(mg.transition, msm_lag * dt_ps)[np.ix_(keep, keep)]
    tr = mean_first_passage_times(mr.transition, msm_lag * dt_ps)[np.ix_(keep, keep)]
    off = ~np.eye(keep.sum(), dtype=bool)
    lr = _log_ratio(tg[off], tr[off])
    out["mfpt_factor"] = float(np.exp(lr.mean())) if lr.size else float("nan")
    out["mfpt_worst"] = float(np.exp(lr.max())) if lr.size else float("nan")
    out["mfpt_missing"] = float(off.sum() - lr.size)
    dg = np.array([decorrelation_time(gen[:, k], dt_ps) for k in range(gen.shape[1])])
    dr = np.array([decorrelation_time(ref[:, k], dt_ps) for k in range(ref.shape[1])])
    ld = _log_ratio(dg, dr)
    out["decorr_factor"] = float(np.exp(ld.mean())) if ld.size else float("nan")
    return out

