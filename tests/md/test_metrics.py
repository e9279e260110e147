"""Distributional and kinetic metrics of torsion trajectories (idff.md.metrics)."""

import numpy as np
import pytest

from idff.md.metrics import (
    BASINS,
    assign_basins,
    assign_cores,
    autocorrelation_time,
    basin_populations,
    circular_cc,
    compare,
    histogram_1d,
    histogram_2d,
    js_divergence,
    pointwise_errors,
    transition_rates,
)


def test_js_identical_and_disjoint():
    rng = np.random.default_rng(0)
    phi, psi = rng.uniform(-180, 180, 500), rng.uniform(-180, 180, 500)
    h = histogram_2d(phi, psi)
    assert js_divergence(h, h) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    half = js_divergence(np.array([1.0, 1.0]), np.array([1.0, 0.0]))
    assert 0.0 < half < 1.0
    with pytest.raises(ValueError, match="same bins"):
        js_divergence(histogram_1d(phi, 10), histogram_1d(phi, 20))


@pytest.mark.parametrize(
    "phi, psi, basin",
    [(-80, 150, "C7eq/C5"), (-150, -170, "C7eq/C5"), (-170, 80, "C7eq/C5"),
     (-65, -40, "alphaR"), (-100, 0, "alphaR"), (60, 40, "C7ax/alphaL"),
     (75, -65, "C7ax/alphaL"), (170, 170, "C7eq/C5")],
)
def test_basin_of_known_points(phi, psi, basin):
    assert BASINS[assign_basins(np.array([phi]), np.array([psi]))[0]] == basin


def test_populations_and_rates_of_a_known_sequence():
    c7, ar, al = (-80.0, 150.0), (-65.0, -40.0), (60.0, 40.0)
    seq = [c7] * 30 + [ar] * 10 + [c7] * 30 + [ar] * 10 + [al] * 20
    a = np.array(seq)
    np.testing.assert_allclose(basin_populations(a[:, 0], a[:, 1]), [0.6, 0.2, 0.2])
    k = transition_rates(a[:, 0], a[:, 1], dt_ps=1.0)  # 1 ps frames
    assert k[0, 1] == pytest.approx(2 / 0.060)  # two C7eq→αR in 60 ps of C7eq
    assert k[1, 0] == pytest.approx(1 / 0.020)
    assert k[1, 2] == pytest.approx(1 / 0.020)
    assert k[2].sum() == 0 and np.isfinite(k).all()


def test_barrier_recrossings_are_not_transitions():
    c7, edge = (-80.0, 150.0), (-80.0, 40.0)  # edge: in the αR basin, outside its core
    seq = np.array([c7] * 5 + [edge, c7] * 10)
    assert (np.diff(assign_basins(seq[:, 0], seq[:, 1])) != 0).sum() == 20
    cores = assign_cores(seq[:, 0], seq[:, 1])
    assert (cores == 0).all()
    assert np.nansum(transition_rates(seq[:, 0], seq[:, 1], 1.0)) == 0


def test_circular_cc():
    rng = np.random.default_rng(1)
    a = rng.uniform(-180, 180, 300)
    assert circular_cc(a, a) == pytest.approx(1.0)
    assert circular_cc(a, a + 360.0) == pytest.approx(1.0)
    small = rng.normal(0, 20, 300)
    assert circular_cc(small, -small) == pytest.approx(-1.0)
    assert abs(circular_cc(small, rng.normal(0, 20, 300))) < 0.3


def test_autocorrelation_time_of_ar1():
    rng = np.random.default_rng(2)
    a, n = 0.8, 200_000
    x = np.zeros(n)
    noise = rng.normal(0, 1.0, n)  # degrees: small angles, e^{iθ} ≈ 1 + iθ
    for i in range(1, n):
        x[i] = a * x[i - 1] + noise[i]
    expected = (1 + a) / (2 * (1 - a))  # ½ + Σ a^l
    assert autocorrelation_time(x, dt=2.0) == pytest.approx(2.0 * expected, rel=0.1)


def test_compare_and_pointwise_shape_errors():
    rng = np.random.default_rng(3)
    a = np.stack([rng.normal(-80, 20, 400), rng.normal(140, 20, 400)], 1)
    out = compare(a, a, dt_ps=1.0)
    assert out["cc"] == pytest.approx(1.0) and out["rmse"] == 0 and out["js_rama"] == 0
    assert out["pop_abs_err"] == 0
    with pytest.raises(ValueError, match="same length"):
        pointwise_errors(a[:10], a[:11])
    with pytest.raises(ValueError, match="NaN"):
        pointwise_errors(np.full((3, 2), np.nan), a[:3])
