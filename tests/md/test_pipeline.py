"""Rollout, training and evaluation of torsion trajectories, end to end on tiny data."""

import json
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from idff.cli.main import cli
from idff.md.config import md_run_config
from idff.md.evaluate import evaluate_md
from idff.md.rollout import project_circle, rollout
from idff.md.train import load_md_model, train_md
from idff.models import build_model
from idff.sampling import SamplingConfig
from idff.training import TrainConfig


def _walk(n, seed):
    """A toy two-state torsion walk: (φ, ψ) jumps between C7eq and αR."""
    rng = np.random.default_rng(seed)
    centers = np.array([[-80.0, 150.0], [-70.0, -40.0]])
    state, out = 0, []
    for _ in range(n):
        if rng.random() < 0.05:
            state = 1 - state
        out.append(centers[state] + rng.normal(0, 10, 2))
    return np.array(out)


@pytest.mark.parametrize("method, solver, nfe, expected", [
    ("idff", "euler", 4, 4), ("idff", "euler", 2, 2), ("icfm", "midpoint", 4, 4),
    ("icfm", "midpoint", 5, 4), ("idff", "euler", 3, 3),
])
def test_rollout_counts_nfe_and_stays_on_circle(method, solver, nfe, expected):
    torch.manual_seed(0)
    cfg = {"backbone": "mlp", "method": "idff" if method == "idff" else "cfm", "dim": 4,
           "cond_dim": 8, "hidden": 16, "depth": 1}
    model = build_model(cfg)
    window = project_circle(torch.randn(3, 2, 4))
    sampling = SamplingConfig(method=method, nfe=nfe, solver=solver, sigma=0.1,
                              gamma=1.0 if method == "idff" else 0.0)
    res = rollout(model, window, 5, sampling,
                  generator=torch.Generator().manual_seed(0))
    assert res.nfe_per_frame == expected
    assert res.states.shape == (3, 6, 4)
    norms = res.states.reshape(3, 6, 2, 2).norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    torch.testing.assert_close(res.states[:, 0], window[:, -1])


def test_rollout_bad_window():
    model = build_model({"backbone": "mlp", "method": "idff", "dim": 4, "cond_dim": 4})
    with pytest.raises(ValueError, match="history \\+ 1, D"):
        rollout(model, torch.zeros(3, 4), 2, SamplingConfig())


@pytest.fixture(scope="module")
def pickle_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("md")
    p = d / "md.pkl"
    with open(p, "wb") as f:
        pickle.dump({"angles": _walk(400, 0), "sim_length": 400}, f)
    return d, p


def test_train_and_evaluate_from_pickle(pickle_run):
    d, p = pickle_run
    data = {"source": "pickle", "system": "alanine", "path": str(p), "frame_ps": 1.0, "dim": 4}
    cfg = md_run_config("idff", data, lag=2, history=1, hidden=32, depth=2, batch_size=32)
    train_md(cfg, d / "run", TrainConfig(steps=30, lr=1e-3, warmup=5, ema_decay=0.9),
             progress=False)
    model, config = load_md_model(d / "run")
    assert config["objective"]["sigma"] == 0.1 and config["objective"]["flow_weight"] == 2.0
    r = evaluate_md(d / "run", n_rollouts=2, progress=False, nfe=3)
    assert r["nfe"] == 3
    assert r["generated"].shape == (2, 39, 2)  # 80 held-out frames from frame 2, stride 2
    row = r["rows"][0]
    assert -1 <= row["cc"] <= 1 and 0 <= row["rmse"] <= 180 and 0 <= row["js_rama"] <= 1
    assert r["floor"] is None and len(r["rows"]) == 2


def test_cli_train_and_eval(pickle_run, tmp_path):
    d, p = pickle_run
    runner = CliRunner()
    out = tmp_path / "cfm"
    res = runner.invoke(cli, ["train", "md", "--method", "icfm", "--source", "pickle",
                              "--pickle", str(p), "--steps", "20", "--hidden", "16",
                              "--cond", "index", "--history", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["data"]["cond"] == "index"
    res = runner.invoke(cli, ["md-eval", str(out), "--nfe", "2", "--members", "2",
                              "--out", str(tmp_path / "eval")])
    assert res.exit_code == 0, res.output
    assert "I-CFM σ=0.1 (NFE 2/frame)" in res.output
    assert (tmp_path / "eval" / "ramachandran.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert np.isfinite(metrics["md"][0]["js_psi"])


def test_cli_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "md", "--source", "files", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "needs --trajectory" in res.output
    res = runner.invoke(cli, ["md-eval", str(tmp_path)])
    assert res.exit_code != 0 and "not an idff run directory" in res.output


def test_select_md_sampling_ranks_the_targets():
    from idff.md.benchmark import select_md_sampling

    rows = {
        "uniform": {"js_rama_res": 0.2, "msm_pop_err": 0.3, "mfpt_factor": 6.0},
        "power:0.7": {"js_rama_res": 0.1, "msm_pop_err": 0.3, "mfpt_factor": 1.4},
        "power:0.5": {"js_rama_res": 0.09, "msm_pop_err": 0.4, "mfpt_factor": 1.5},
    }
    chosen, info = select_md_sampling(rows)
    assert chosen == "power:0.7" and info["metrics"] == ["js_rama_res", "msm_pop_err",
                                                         "mfpt_factor"]
    # ranks 0..2 per metric, ties to the earlier candidate: (2+0+2)/3, (1+1+0)/3, (0+2+1)/3
    assert info["ranks"] == pytest.approx({"uniform": 4 / 3, "power:0.7": 2 / 3,
                                           "power:0.5": 1.0})
    # one residue (no MSM metrics): the dipeptide's distribution and populations
    di = {"a": {"js_rama": 0.3, "pop_abs_err": 0.1}, "b": {"js_rama": 0.2, "pop_abs_err": 0.2}}
    assert select_md_sampling(di) == ("a", {"metrics": ["js_rama", "pop_abs_err"],
                                            "ranks": {"a": 0.5, "b": 0.5}})
    with pytest.raises(ValueError, match="at least one candidate"):
        select_md_sampling({})
    # a metric that could not be computed ranks last
    nan = {"a": {"js_rama": float("nan"), "pop_abs_err": 0.3},
           "b": {"js_rama": 0.5, "pop_abs_err": 0.2}}
    assert select_md_sampling(nan)[0] == "b"
    with pytest.raises(ValueError, match="lack the selection metrics"):
        select_md_sampling({"a": {"cc": 1.0}})


def test_validation_split_and_its_errors(pickle_run):
    from idff.md.series import load_series

    d, p = pickle_run
    data = {"source": "pickle", "system": "alanine", "path": str(p), "frame_ps": 1.0, "dim": 4}
    cfg = md_run_config("idff", data, lag=2, history=1, hidden=32, depth=2, batch_size=32)
    train_md(cfg, d / "run_noval", TrainConfig(steps=2, lr=1e-3, warmup=1), progress=False)
    with pytest.raises(ValueError, match="without a validation trajectory"):
        evaluate_md(d / "run_noval", 1, split="validation", progress=False)
    with pytest.raises(ValueError, match="split must be"):
        evaluate_md(d / "run_noval", 1, split="test", progress=False)
    # the pickle holds one trajectory, cut in two: too few to hold one out for validation
    with pytest.raises(ValueError, match="at least 4 trajectories"):
        load_series({**data, "validation": True})
