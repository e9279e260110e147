"""Probabilistic scores: CRPS against hand and closed forms, MSE, spread-skill, scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from idff.timeseries.forecast import score_forecast
from idff.timeseries.probabilistic import (
    crps_ensemble,
    crps_gaussian,
    ensemble_mean_mse,
    masked_mean,
    rank_histogram,
    spread_skill_ratio,
)


def test_crps_of_degenerate_ensemble_is_mae():
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(4, 5, generator=g)
    member = torch.randn(4, 5, generator=g)
    ens = member[None].expand(7, 4, 5)
    np.testing.assert_allclose(crps_ensemble(ens, obs), (member - obs).abs().numpy(), atol=1e-6)


def test_crps_matches_properscoring():
    ps = pytest.importorskip("properscoring")
    rng = np.random.default_rng(3)
    ens, obs = rng.normal(size=(9, 4, 6)), rng.normal(size=(4, 6))
    expected = ps.crps_ensemble(obs, np.moveaxis(ens, 0, -1))
    np.testing.assert_allclose(crps_ensemble(ens, obs), expected, atol=1e-12)


def test_crps_hand_computed():
    # members 0, 1, 3 and y = 2: E|X-y| = 4/3, E|X-X'| = 12/9, CRPS = 4/3 - 6/9 = 2/3
    ens = np.array([[0.0], [1.0], [3.0]])
    assert crps_ensemble(ens, np.array([2.0]))[0] == pytest.approx(2 / 3)


@pytest.mark.parametrize("mu,sigma,y", [(0.0, 1.0, 0.0), (1.0, 0.5, 2.0), (-2.0, 2.0, 1.0)])
def test_crps_gaussian_ensemble_matches_closed_form(mu, sigma, y):
    rng = np.random.default_rng(0)
    m, n = 4000, 20
    ens = rng.normal(mu, sigma, size=(m, n))
    got = crps_ensemble(ens, np.full(n, y)).mean()
    exact = float(crps_gaussian(mu, sigma, y))
    # the empirical-CDF CRPS is biased by about sigma / (m sqrt(pi)); sampling noise dominates
    assert got == pytest.approx(exact, rel=0.03, abs=0.01)


def test_crps_gaussian_at_the_mean():
    # z = 0: CRPS = sigma (2 phi(0) - 1/sqrt(pi)) = sigma (sqrt(2) - 1)/sqrt(pi)
    assert float(crps_gaussian(0.0, 2.0, 0.0)) == pytest.approx(2 * (math.sqrt(2) - 1)
                                                                / math.sqrt(math.pi))


def test_spread_skill_calibrated_is_one_and_underdispersed_below():
    rng = np.random.default_rng(1)
    m, n = 10, 50_000
    centre = rng.normal(0, 3, size=n)
    ens = centre + rng.normal(size=(m, n))
    obs = centre + rng.normal(size=n)
    assert spread_skill_ratio(ens, obs) == pytest.approx(1.0, abs=0.03)
    narrow = centre + 0.5 * rng.normal(size=(m, n))
    assert spread_skill_ratio(narrow, obs) < 0.6
    assert spread_skill_ratio(ens[:1], obs) == 0.0


def test_ensemble_mean_mse_and_mask():
    ens = np.array([[[1.0, 5.0]], [[3.0, 5.0]]])  # (M=2, 1, 2); mean (2, 5)
    obs = np.array([[0.0, 4.0]])
    assert ensemble_mean_mse(ens, obs) == pytest.approx((4 + 1) / 2)
    assert ensemble_mean_mse(ens, obs, mask=np.array([[True, False]])) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="selects no cell"):
        masked_mean(obs, np.zeros_like(obs, dtype=bool))


def test_metric_input_errors():
    with pytest.raises(ValueError, match="members first"):
        crps_ensemble(np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="NaN or inf"):
        ensemble_mean_mse(np.full((2, 3), np.nan), np.zeros(3))


def test_score_forecast_per_lead_and_average():
    k, m, b = 3, 4, 2
    truth = torch.zeros(k, b, 1, 2, 2)
    ens = torch.ones(k, m, b, 1, 2, 2) * torch.arange(1, k + 1).reshape(k, 1, 1, 1, 1, 1)
    s = score_forecast(ens, truth)
    assert [r["lead"] for r in s.per_lead] == [1, 2, 3]
    assert [r["crps"] for r in s.per_lead] == pytest.approx([1, 2, 3])
    assert s.crps == pytest.approx(2.0) and s.mse == pytest.approx((1 + 4 + 9) / 3)
    assert s.members == m
    with pytest.raises(ValueError, match=r"expected ensemble \(K, M, B, ...\)"):
        score_forecast(ens[:, :, :1], truth)


def test_rank_histogram_is_flat_for_exchangeable_and_u_shaped_for_narrow_ensembles():
    rng = np.random.default_rng(0)
    ens, obs = rng.normal(size=(7, 20000)), rng.normal(size=20000)
    flat = rank_histogram(ens, obs)
    assert flat.shape == (8,) and flat.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(flat, 1 / 8, atol=0.01)
    narrow = rank_histogram(0.3 * ens, obs)
    assert narrow[0] + narrow[-1] > 0.6  # the observation falls outside a narrow ensemble
    wide = rank_histogram(3 * ens, obs)
    assert wide[0] + wide[-1] < 0.05


def test_rank_histogram_breaks_ties_at_random_and_respects_the_mask():
    ens = np.zeros((3, 4000))
    h = rank_histogram(ens, np.zeros(4000))  # every member ties with the observation
    np.testing.assert_allclose(h, 0.25, atol=0.03)
    ens = np.array([[0.0, 0.0], [1.0, 1.0]])
    h = rank_histogram(ens, np.array([2.0, -1.0]), mask=np.array([True, False]))
    np.testing.assert_array_equal(h, [0.0, 0.0, 1.0])
