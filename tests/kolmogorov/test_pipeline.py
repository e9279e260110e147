"""The Kolmogorov data set, forecasters, baselines and scores on a tiny simulated set."""

import json
import math

import numpy as np
import pytest
import torch

from idff.errors import ConfigError, DataError
from idff.kolmogorov.benchmark import run_benchmark, select_sampling
from idff.kolmogorov.config import kolmogorov_run_config, load_data
from idff.kolmogorov.data import SIZES, KolmogorovWindows, generate, load_manifest, load_split
from idff.kolmogorov.forecast import (
    Forecast,
    climatology_forecast,
    forecast_starts,
    learned_forecast,
    persistence_forecast,
    physics_forecast,
)
from idff.kolmogorov.longrun import free_rollout, long_rollout_score, long_run_statistics
from idff.kolmogorov.report import long_table
from idff.kolmogorov.scores import score
from idff.kolmogorov.train import load_kolmogorov_model, train_kolmogorov
from idff.training import TrainConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("kolmo")
    generate(SIZES["tiny"], root, "tiny", echo=lambda *_: None)
    return root


def test_data_set_shapes_manifest_and_resume(tiny, tmp_path):
    folder = tiny / "tiny"
    man = load_manifest(folder)
    spec = SIZES["tiny"]
    assert man["shape"]["train"] == [spec.train, spec.frames, spec.coarse, spec.coarse]
    test = load_split(folder, "test", verify=True)
    assert test.dtype == np.float32 and np.isfinite(test).all()
    assert man["fine_residual_sd"] > 0
    # a second run regenerates nothing; the same seed gives the same arrays elsewhere
    generate(spec, tiny, "tiny", echo=lambda *_: pytest.fail("regenerated"))
    generate(spec, tmp_path, "tiny", echo=lambda *_: None)
    assert json.loads((tmp_path / "tiny" / "manifest.json").read_text())["sha256"] == man["sha256"]
    with pytest.raises(ConfigError, match="other parameters"):
        generate(SIZES["tiny"].__class__(**{**SIZES["tiny"].__dict__, "seed": 5}), tiny, "tiny")
    with pytest.raises(DataError, match="idff kolmogorov-data"):
        load_manifest(tmp_path / "missing")


def test_windows_pair_consecutive_frames(tiny):
    data = load_split(tiny / "tiny", "train")
    win = KolmogorovWindows(data, horizon=3, context=2, batch_size=5)
    x1, cond = next(iter(win))
    assert x1.shape == (5, 1, 16, 16) and cond["cond"].shape == (5, 4, 16, 16)
    # channel 0 of the conditioning is the source frame; the lead channel is in (0, 1]
    torch.testing.assert_close(cond["cond"][:, 0:1], cond["x0"])
    assert ((cond["cond"][:, 3] > 0) & (cond["cond"][:, 3] <= 1)).all()


@pytest.mark.parametrize("forecaster", ["idff", "otcfm", "mse"])
def test_train_forecast_and_score(tiny, tmp_path, forecaster):
    cfg = kolmogorov_run_config(forecaster, "tiny", tiny, horizon=4, batch_size=4,
                                model={"num_channels": 32, "channel_mult": [1, 2]})
    train_kolmogorov(cfg, tmp_path / "run", TrainConfig(steps=2, warmup=1, log_every=1,
                                                         ckpt_every=2), progress=False)
    model, cfg = load_kolmogorov_model(tmp_path / "run")
    data = load_data(cfg["data"])
    starts = forecast_starts(data.splits["test"].shape[1], 4, cfg["context"], 1)
    fc = learned_forecast(model, cfg, data.splits["test"], starts, 4, members=3)
    m = 1 if forecaster == "mse" else 3
    assert fc.ens.shape == (4, m, 2, 1, 16, 16) and fc.truth.shape == (4, 2, 1, 16, 16)
    s = score(fc, 0.2)
    assert len(s["per_lead"]) == 4 and s["nfe_per_lead"] == (1 if forecaster == "mse" else 3)
    assert (s["per_lead"][0]["ssr"] == 0) == (forecaster == "mse")
    with pytest.raises(ConfigError, match="trained for leads up to 4"):
        learned_forecast(model, cfg, data.splits["test"], starts, 5)
    # a free rollout's first block is the forecast from frame 0 with the same noise; the
    # next block goes on from the last generated frame
    test = data.splits["test"]
    traj = free_rollout(model, cfg, test, 6, members=3, trajectories=2, seed=7)
    assert traj.shape == (6, m * 2, 16, 16) and torch.isfinite(traj).all()
    fc0 = learned_forecast(model, cfg, test, np.array([0]), 4, members=3, seed=7)
    torch.testing.assert_close(traj[:4], fc0.ens.flatten(1, 2)[:, :, 0])
    torch.testing.assert_close(free_rollout(model, cfg, test, 6, members=3,
                                            trajectories=2, seed=7), traj)


def test_baselines_and_physics_ensemble(tiny):
    folder = tiny / "tiny"
    man = load_manifest(folder)
    raw = load_split(folder, "test")
    data = load_data({"root": str(tiny), "size": "tiny"})
    starts = forecast_starts(raw.shape[1], 3, 1, 2)
    pers = persistence_forecast(data.splits["test"], starts, 3)
    clim = climatology_forecast(data.splits["train"], data.splits["test"], starts, 3, 5)
    phys = physics_forecast(raw, man, starts, 3, members=4)
    for fc in (pers, clim, phys):
        torch.testing.assert_close(fc.truth, pers.truth)
    assert phys.ens.shape == (3, 4, 4, 1, 16, 16)
    # persistence is exact at lead 0; the solver from the true coarse state beats it at lead 1
    s_phys, s_pers = score(phys, 0.2), score(pers, 0.2)
    assert s_phys["per_lead"][0]["rmse"] < s_pers["per_lead"][0]["rmse"]
    assert score(clim, 0.2)["per_lead"][0]["ssr"] > 0


def test_score_closed_forms():
    truth = torch.zeros(2, 3, 1, 4, 4)
    fc = Forecast(truth[:, None] + 1.0, truth, 0, 0.0)
    s = score(fc, 0.5)
    assert s["per_lead"][1]["crps"] == pytest.approx(1.0)
    assert s["per_lead"][1]["rmse"] == pytest.approx(1.0)
    # a perfect pattern keeps correlation 1: the whole horizon counts
    y = torch.randn(2, 3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    s = score(Forecast(2 * y[:, None], y, 0, 0.0), 0.5)
    assert s["corr_time"] == 1.0 and s["corr_never_below"]
    s = score(Forecast(-y[:, None], y, 0, 0.0), 0.5)
    assert s["corr_time"] == 0.0


def test_score_rank_histograms_and_spectra():
    from idff.kolmogorov.solver import energy_spectrum

    g = torch.Generator().manual_seed(1)
    y = torch.randn(2, 3, 1, 8, 8, generator=g)
    below = y[:, None] - 1.0 - torch.rand(2, 4, 3, 1, 8, 8, generator=g)  # 4 members under y
    s = score(Forecast(below, y, 0, 0.0), 0.5)
    row = s["per_lead"][0]
    assert row["ranks"] == [0.0, 0.0, 0.0, 0.0, 1.0] and row["outside"] == 1.0
    spec = s["spectra"]["1"]  # lead 1 is one of SPECTRUM_LEADS; lead 2 is not kept
    assert set(s["spectra"]) == {"1"}
    assert spec["truth"] == pytest.approx(energy_spectrum(y[0].flatten(0, 1)).tolist())
    assert spec["members"] == pytest.approx(energy_spectrum(below[0].flatten(0, 2)).tolist())
    # exchangeable members: the truth is outside the ensemble about 2/(M + 1) of the time
    ens = torch.randn(2, 9, 3, 1, 8, 8, generator=g)
    s = score(Forecast(ens, torch.randn(2, 3, 1, 8, 8, generator=g), 0, 0.0), 0.5)
    assert s["per_lead"][0]["outside"] == pytest.approx(0.2, abs=0.08)


def _val_scores(ssr: list[float], crps: list[float]) -> dict:
    return {"per_lead": [{"ssr": a, "crps": b} for a, b in zip(ssr, crps, strict=True)]}


def test_select_sampling_prefers_the_sharpest_calibrated_candidate():
    cands = {
        "uniform": _val_scores([0.9, 0.6], [0.10, 0.30]),  # sharper, under-dispersed late
        "power:0.7": _val_scores([1.2, 0.8], [0.12, 0.30]),
        "power:0.5": _val_scores([1.3, 1.0], [0.14, 0.31]),
    }
    chosen, summary = select_sampling(cands)
    assert chosen == "power:0.7"
    assert summary["uniform"] == {"ssr_min": 0.6, "ssr_max": 0.9,
                                  "crps_mean": pytest.approx(0.2), "calibrated": False}
    assert summary["power:0.5"]["calibrated"]  # the band's edges count as inside
    # nothing calibrated: the lowest mean CRPS
    chosen, _ = select_sampling({k: v for k, v in cands.items() if k == "uniform"}
                                | {"x": _val_scores([0.5, 0.5], [0.3, 0.3])})
    assert chosen == "uniform"
    assert select_sampling(cands, band=(0.5, 2.0))[0] == "uniform"
    with pytest.raises(ConfigError, match="at least one candidate"):
        select_sampling({})


def test_benchmark_trains_forecasters_in_parallel(tiny, tmp_path):
    runs = tmp_path / "runs"
    kw = dict(size="tiny", data_root=tiny, forecasters=("idff", "mse"), steps=2,
              batch_size=4, horizon=2, members=2, starts_per_trajectory=1,
              model={"channel_mult": [1, 2]}, long_frames=4, echo=lambda *_: None)
    scores = run_benchmark(runs, tmp_path / "res", grids=("uniform",), jobs=2, **kw)
    for name in ("idff", "mse"):
        assert load_kolmogorov_model(runs / name)[1]["step"] == 2
        assert scores[name]["train"]["minutes"] > 0
    assert "selection" not in scores["idff"]  # one candidate: nothing to choose
    with pytest.raises(ConfigError, match="grid candidates"):
        run_benchmark(runs, tmp_path / "res", grids=("square",), **kw)
    with pytest.raises(ConfigError, match="long_frames must be an integer >= 0"):
        run_benchmark(runs, tmp_path / "res", **{**kw, "long_frames": -1})
    with pytest.raises(ConfigError, match="jobs must be"):
        run_benchmark(runs, tmp_path / "res", jobs=0, **kw)


def test_long_run_statistics_closed_forms():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(40, 16, 16, generator=g)
    same = torch.randn(30, 4, 16, 16, generator=g)
    rows = long_run_statistics(same, ref, 0.2, windows=((1, 10), (11, 30), (31, 60)))
    assert [r["frames"] for r in rows] == [[1, 10], [11, 30]]  # past 30 frames: left out
    assert rows[1]["time"] == [2.0, 6.0]
    for r in rows:  # the same law: ratio 1, small spectrum error and W1
        assert r["enstrophy_ratio"] == pytest.approx(1.0, abs=0.05)
        assert r["spectrum_log_error"] < 0.1 and r["w1"] < 0.05
    # twice the field: 4× the enstrophy and the spectrum at every k; W1 = E|x| = √(2/π)
    r = long_run_statistics(2 * same, ref, 0.2, windows=((1, 30),))[0]
    assert r["enstrophy_ratio"] == pytest.approx(4.0, rel=0.05)
    assert r["spectrum_log_error"] == pytest.approx(math.log(4.0), rel=0.05)
    assert r["w1"] == pytest.approx(math.sqrt(2 / math.pi), rel=0.05)
    # too short for every window: one window over all frames
    assert long_run_statistics(same[:5], ref, 0.2)[0]["frames"] == [1, 5]
    table = long_table({"idff": long_rollout_score(same, ref, 0.2),
                        "mse": {"diverged": "the rollout diverged at lead 3"}})
    assert "| mse | – | diverged |" in table and "| idff | 0–5 |" in table


def test_bad_inputs():
    with pytest.raises(ConfigError, match="unknown forecaster"):
        kolmogorov_run_config("unet")
    with pytest.raises(ConfigError, match="the mse forecaster has none"):
        kolmogorov_run_config("mse", sigma=0.5)
    cfg = kolmogorov_run_config("idff", sigma=0.5)
    assert cfg["objective"]["sigma"] == 0.5
    from idff.sampling import SamplingConfig

    assert SamplingConfig.from_run(cfg).sigma == 0.5  # the sampler uses the run's σ
    with pytest.raises(ConfigError, match="shorter --horizon"):
        forecast_starts(10, 10)
