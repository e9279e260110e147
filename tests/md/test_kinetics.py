"""Closed-form checks of the peptide metrics (idff.md.kinetics)."""

import numpy as np
import pytest

from idff.md.dihedrals import to_features
from idff.md.kinetics import (
    decorrelation_time,
    fit_msm,
    fit_tica,
    helix_states,
    js_per_torsion,
    js_tica,
    mean_first_passage_times,
    peptide_compare,
)


def _chain(t: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cum = np.cumsum(t, 1)
    s = np.zeros(n, dtype=int)
    u = rng.random(n)
    for k in range(1, n):
        s[k] = min(np.searchsorted(cum[s[k - 1]], u[k]), len(t) - 1)
    return s


def test_msm_recovers_a_known_chain():
    p, q = 0.05, 0.2
    t = np.array([[1 - p, p], [q, 1 - q]])
    m = fit_msm(_chain(t, 40000), 2)
    np.testing.assert_allclose(m.transition, t, atol=0.01)
    np.testing.assert_allclose(m.populations, [q / (p + q), p / (p + q)], atol=0.02)


def test_mfpt_closed_forms():
    p, q = 0.05, 0.2
    m = mean_first_passage_times(np.array([[1 - p, p], [q, 1 - q]]), lag_time=2.0)
    np.testing.assert_allclose(m, [[0, 2 / p], [2 / q, 0]])
    # a three-state ring 0 → 1 → 2 → 0 that moves with probability 1/2 each step
    ring = np.array([[0.5, 0.5, 0], [0, 0.5, 0.5], [0.5, 0, 0.5]])
    m3 = mean_first_passage_times(ring)
    np.testing.assert_allclose(m3[0, 1], 2.0)
    np.testing.assert_allclose(m3[0, 2], 4.0)
    absorbing = mean_first_passage_times(np.eye(2))
    assert np.isinf(absorbing[0, 1]) and np.isinf(absorbing[1, 0])
    # a never-visited state (identity row) leaves the MFPTs between the others unchanged
    padded = np.eye(3)
    padded[:2, :2] = [[1 - p, p], [q, 1 - q]]
    mp = mean_first_passage_times(padded, lag_time=2.0)
    np.testing.assert_allclose(mp[:2, :2], [[0, 2 / p], [2 / q, 0]])
    assert np.isinf(mp[0, 2]) and np.isinf(mp[2, 0])
    # 0 may fall into the trap 2 and never reach 1: infinite MFPT 0 → 1, finite 0 → 2
    trap = np.array([[0.5, 0.25, 0.25], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    mt = mean_first_passage_times(trap)
    assert np.isinf(mt[0, 1]) and np.isfinite(mt[0, 2]) and np.isfinite(mt[1, 0])


def test_msm_rejects_out_of_range_states():
    with pytest.raises(ValueError, match="states must lie"):
        fit_msm(np.array([0, 3]), 2)


def test_js_identical_and_disjoint():
    rng = np.random.default_rng(0)
    a = rng.uniform(-170, -100, size=(500, 2))
    np.testing.assert_allclose(js_per_torsion(a, a), 0.0, atol=1e-12)
    b = rng.uniform(20, 90, size=(500, 2))
    np.testing.assert_allclose(js_per_torsion(a, b), 1.0)  # bits: disjoint supports give 1


def test_tica_finds_the_slow_mode():
    # x0: a slow two-state switch (rarely flips); x1, x2: white noise with larger variance.
    rng = np.random.default_rng(1)
    n = 20000
    slow = np.where(_chain(np.array([[0.99, 0.01], [0.01, 0.99]]), n, seed=2) == 0, -1.0, 1.0)
    x = np.stack([slow + 0.1 * rng.normal(size=n), 3 * rng.normal(size=n),
                  3 * rng.normal(size=n)], 1)
    model = fit_tica(x, lag=5)
    v = model.vectors[:, 0] / np.linalg.norm(model.vectors[:, 0])
    assert abs(v[0]) > 0.99
    # the switch's autocorrelation at lag 5 is (1 - 2·0.01)^5, damped by the small noise
    assert model.eigenvalues[0] == pytest.approx(0.98**5 / (1 + 0.01), abs=0.03)
    assert abs(model.eigenvalues[1]) < 0.05


def test_js_tica_zero_on_itself():
    rng = np.random.default_rng(3)
    a = rng.uniform(-180, 180, size=(2000, 6))
    model = fit_tica(to_features(a), 1)
    assert js_tica(a, a, model) == pytest.approx(0.0, abs=1e-12)


def test_helix_states_and_decorrelation():
    # residue 1 αR, residue 2 β, residue 3 αR → 1 + 4 = 5
    a = np.array([[-60.0, -45.0, -120.0, 130.0, -65.0, -40.0]] * 3)
    np.testing.assert_array_equal(helix_states(a), [5, 5, 5])
    # an AR(1) angle with coefficient r has autocorrelation ≈ r^l: 1/e at l = -1/ln r
    rng = np.random.default_rng(4)
    r, n = 0.9, 200000
    x = np.zeros(n)
    for k in range(1, n):
        x[k] = r * x[k - 1] + rng.normal() * 0.05
    assert decorrelation_time(np.rad2deg(x), dt=2.0) == pytest.approx(-2.0 / np.log(r), rel=0.1)


def test_peptide_compare_on_itself():
    rng = np.random.default_rng(5)
    a = np.cumsum(rng.normal(0, 20, size=(3000, 6)), 0)
    out = peptide_compare(a, a, dt_ps=1.0)
    assert out["js_torsion"] == pytest.approx(0.0, abs=1e-12)
    assert out["js_tica"] == pytest.approx(0.0, abs=1e-12)
    assert out["msm_pop_err"] == pytest.approx(0.0, abs=1e-12)
    assert out["mfpt_factor"] == pytest.approx(1.0)
    assert out["decorr_factor"] == pytest.approx(1.0)


def test_evaluate_reports_peptide_metrics(tmp_path):
    from idff.md.config import md_run_config
    from idff.md.evaluate import evaluate_md
    from idff.md.train import train_md
    from idff.training import TrainConfig

    rng = np.random.default_rng(6)

    def walk(n):  # three residues, each hopping between β and αR
        centers = np.array([[-80.0, 150.0], [-70.0, -40.0]])
        s = _chain(np.array([[0.95, 0.05], [0.1, 0.9]]), n * 3, seed=int(rng.integers(99)))
        s = s.reshape(3, n).T
        return (centers[s] + rng.normal(0, 10, (n, 3, 2))).reshape(n, 6)

    series = {"train": [walk(300), walk(300)], "reference": walk(200), "floor": walk(200),
              "dt": 1.0, "periodic": True}
    data = {"source": "files", "system": "alanine", "frame_ps": 1.0, "dim": 12}
    cfg = md_run_config("idff", data, lag=2, history=0, hidden=16, depth=1, batch_size=32)
    train_md(cfg, tmp_path / "run", TrainConfig(steps=5, lr=1e-3, warmup=1, ema_decay=0.9),
             series=series, progress=False)
    r = evaluate_md(tmp_path / "run", n_rollouts=2, series=series, progress=False, nfe=2)
    model_row, floor_row = r["rows"][0], r["rows"][1]
    for row in (model_row, floor_row):
        assert 0 <= row["js_torsion"] <= 1 and 0 <= row["js_tica"] <= 1
        assert 0 <= row["msm_pop_err"] <= 2
    assert "js_torsion" not in r["rows"][-1]  # the reference against itself: trivial, left out
