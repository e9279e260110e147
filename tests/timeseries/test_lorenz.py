"""Lorenz-63 data, metrics and the shared pipeline (idff.timeseries.lorenz)."""

import numpy as np
import pytest

from idff.md.config import md_run_config
from idff.md.lorenz_eval import evaluate_lorenz
from idff.md.train import train_md
from idff.timeseries.lorenz import (
    LYAPUNOV_EXPONENT,
    forecast_errors,
    invariant_js,
    lorenz63,
    valid_time,
)
from idff.training import TrainConfig


def test_trajectory_satisfies_the_equations():
    dt = 0.001
    x = lorenz63(2000, dt=dt, seed=0)
    assert x.shape == (2000, 3)
    deriv = (x[2:] - x[:-2]) / (2 * dt)
    u = x[1:-1]
    rhs = np.stack([10 * (u[:, 1] - u[:, 0]), u[:, 0] * (28 - u[:, 2]) - u[:, 1],
                    u[:, 0] * u[:, 1] - 8 / 3 * u[:, 2]], 1)
    np.testing.assert_allclose(deriv, rhs, atol=0.05 * np.abs(rhs).max())
    assert 0 < x[:, 2].mean() < 40  # on the attractor


def test_chaos_separates_nearby_starts():
    a = lorenz63(1000, 0.02, x0=np.array([1.0, 1.0, 20.0]), transient=0)
    b = lorenz63(1000, 0.02, x0=np.array([1.0, 1.0, 20.0 + 1e-4]), transient=0)
    e = forecast_errors(b[None], a[None], a.std(0))[0]
    assert e[5] < 1e-3 and e[-100:].mean() > 0.3


def test_errors_and_valid_time():
    truth = np.zeros((2, 10, 3))
    gen = truth.copy()
    gen[0, 4:] = 1.0  # error sqrt(1) = 1 from lead 4
    e = forecast_errors(gen, truth, np.ones(3))
    assert e[1].max() == 0 and e[0, 3] == 0 and e[0, 4] == pytest.approx(1.0)
    vt = valid_time(e, dt=0.1)
    np.testing.assert_allclose(vt, [4 * 0.1 * LYAPUNOV_EXPONENT, 10 * 0.1 * LYAPUNOV_EXPONENT])
    with pytest.raises(ValueError, match="differ in shape"):
        forecast_errors(gen[:, :5], truth, np.ones(3))


def test_invariant_js():
    x = lorenz63(3000, 0.02, seed=1)
    js = invariant_js(x, x)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in js.values())
    far = invariant_js(x + 100.0, x)
    assert far["js_xz"] == pytest.approx(1.0)  # all mass in the overflow bins


@pytest.mark.slow
def test_lorenz_pipeline(tmp_path):
    data = {"source": "lorenz", "system": "lorenz", "n_train": 600, "n_test": 400, "dt": 0.02,
            "dim": 3}
    cfg = md_run_config("idff", data, lag=1, history=0, hidden=32, depth=2, batch_size=64)
    cfg["data"]["periodic"] = False
    train_md(cfg, tmp_path / "run", TrainConfig(steps=30, lr=1e-3, warmup=5, ema_decay=0.9),
             progress=False)
    r = evaluate_lorenz(tmp_path / "run", nfe=2, n_starts=5, free_steps=200, progress=False)
    assert r["nfe"] == 2 and r["forecast"].shape[0] == 5
    row = r["rows"][0]
    assert np.isfinite(row["err_1lt"]) and 0 <= row["js_xz"] <= 1 and row["valid_lt"] >= 0
    assert r["rows"][1]["label"].startswith("true system")
