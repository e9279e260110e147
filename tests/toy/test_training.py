import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from idff.analytic import GaussianHeads
from idff.cli.main import cli
from idff.methods import make_objective
from idff.models import build_model
from idff.toy.config import toy_run_config
from idff.toy.kind import load_toy_model
from idff.toy.train import ToyStream, train_toy
from idff.training import TrainConfig, Trainer


def _cfg(method="idff", **kw):
    return toy_run_config(method, "8gaussians", hidden=32, depth=2, batch_size=64, **kw)


def _train(tmp, steps, seed=0, resume=False, **kw):
    return train_toy(
        _cfg(**kw),
        tmp,
        TrainConfig(steps=steps, warmup=5, lr=1e-3, ema_decay=0.9, seed=seed, ckpt_every=5),
        progress=False,
        resume=resume,
    )


def test_resume_continues_exactly(tmp_path):
    full = _train(tmp_path / "a", 12)
    _train(tmp_path / "b", 6)
    # continue the same run directory to 12 steps: resumes model, EMA, optimiser, RNG
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg["train"]["steps"] == 6
    resumed = _train(tmp_path / "b", 12, resume=True)
    for p, q in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(p, q)
    state = torch.load(tmp_path / "b" / "state.pt", weights_only=True)
    assert state["step"] == 12 and state["optim"]["state"]


@pytest.mark.parametrize("method", ["idff", "otcfm", "icfm"])
def test_save_and_reload_round_trip(tmp_path, method):
    model = _train(tmp_path, 3, method=method)
    loaded, cfg = load_toy_model(tmp_path)
    assert cfg["method"] == method
    x, t = torch.randn(5, 2), torch.rand(5)
    a, b = model(t, x), loaded(t, x)
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    for u, v in zip(a, b):
        assert torch.allclose(u, v)


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path):
    model = build_model(_cfg()["model"])
    obj = make_objective(_cfg()["objective"])
    tr = Trainer(
        model,
        obj,
        ToyStream("8gaussians", 32),
        TrainConfig(steps=4, warmup=1, ckpt_every=2),
        tmp_path,
        progress=False,
    )
    tr.fit()
    good = torch.load(tmp_path / "state.pt", weights_only=True)["step"]
    bad = iter([(torch.full((32, 2), float("nan")), None)] * 10)
    tr.data = bad
    tr.config.steps = 8
    with pytest.raises(ValueError, match="NaN"):
        tr.fit()
    assert torch.load(tmp_path / "state.pt", weights_only=True)["step"] == good


@pytest.mark.parametrize("parametrization", ["velocity", "skip"])
def test_trained_heads_approach_the_gaussian_optimum(tmp_path, parametrization):
    """IDFF trained on Gaussian data (independent coupling) learns the closed-form heads."""
    torch.manual_seed(0)
    mean, cov = torch.tensor([1.0, -1.0]), torch.tensor([[0.5, 0.2], [0.2, 0.4]])
    data = (mean + torch.randn(20_000, 2) @ torch.linalg.cholesky(cov).T).numpy()
    cfg = toy_run_config(
        "idff",
        "file",
        hidden=64,
        depth=2,
        batch_size=256,
        parametrization=parametrization,
        objective={"coupling": "independent", "flow_weight": 2.0},
    )
    model = train_toy(
        cfg,
        tmp_path,
        TrainConfig(steps=1500, warmup=50, lr=2e-3, ema_decay=0.99, ckpt_every=1500),
        data=data,
        progress=False,
    )
    oracle = GaussianHeads(mean, cov, 0.2)
    t = torch.rand(2000) * 0.9 + 0.05
    x = t[:, None] * mean + torch.randn(2000, 2)  # typical points of p_t
    with torch.no_grad():
        f, s = model(t, x)
    fo, so = oracle(t, x)
    err_f = (f - fo).pow(2).mean().sqrt().item()
    base_f = (fo - mean).pow(2).mean().sqrt().item()  # error of predicting the mean only
    assert err_f < 0.25 * base_f
    err_s = (s - so).pow(2).mean().sqrt().item()
    assert err_s < 0.3 * so.pow(2).mean().sqrt().item()


def test_cli_train_sample_round_trip(tmp_path):
    r = CliRunner()
    out = tmp_path / "run"
    res = r.invoke(
        cli,
        [
            "train",
            "toy",
            "--dataset",
            "moons",
            "--steps",
            "5",
            "--hidden",
            "16",
            "--depth",
            "1",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    res = r.invoke(
        cli,
        [
            "sample",
            str(out),
            "--nfe",
            "3",
            "--n",
            "50",
            "--solver",
            "euler",
            "--out",
            str(tmp_path / "x.npy"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "NFE 3" in res.output
    assert np.load(tmp_path / "x.npy").shape == (50, 2)
    res = r.invoke(
        cli, ["sample", str(out), "--nfe", "4", "--n", "50", "--out", str(tmp_path / "x.png")]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "x.png").is_file() and (tmp_path / "x.png").stat().st_size > 1000


def test_cli_trains_on_user_vectors(tmp_path):
    arr = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    np.save(tmp_path / "d.npy", arr)
    r = CliRunner()
    res = r.invoke(
        cli,
        [
            "train",
            "toy",
            "--data",
            str(tmp_path / "d.npy"),
            "--steps",
            "3",
            "--hidden",
            "8",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert res.exit_code == 0, res.output
    res = r.invoke(
        cli,
        [
            "sample",
            str(tmp_path / "run"),
            "--nfe",
            "2",
            "--n",
            "10",
            "--out",
            str(tmp_path / "s.npy"),
        ],
    )
    assert np.load(tmp_path / "s.npy").shape == (10, 3)


def test_cli_errors_are_clear(tmp_path):
    r = CliRunner()
    res = r.invoke(cli, ["sample", str(tmp_path), "--out", str(tmp_path / "x.npy")])
    assert res.exit_code != 0 and "is not a run" in res.output
    res = r.invoke(cli, ["train", "toy", "--dataset", "swissroll", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "swissroll" in res.output
    bad = np.array([[0.0, np.nan], [1.0, 2.0]])
    np.save(tmp_path / "bad.npy", bad)
    res = r.invoke(
        cli, ["train", "toy", "--data", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "r")]
    )
    assert res.exit_code != 0 and "NaN" in res.output
    res = r.invoke(
        cli, ["train", "toy", "--steps", "2", "--hidden", "8", "--out", str(tmp_path / "ok")]
    )
    res = r.invoke(
        cli, ["sample", str(tmp_path / "ok"), "--nfe", "0", "--out", str(tmp_path / "x.npy")]
    )
    assert res.exit_code == 2 and "'--nfe': 0 is not in the range 1<=x<=" in res.output
    (tmp_path / "ok" / "snapshot.safetensors").write_bytes(b"truncated")
    res = r.invoke(cli, ["sample", str(tmp_path / "ok"), "--out", str(tmp_path / "x.npy")])
    assert res.exit_code != 0 and "truncated" in res.output
