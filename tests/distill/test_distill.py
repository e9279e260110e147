"""Distilled students (idff.distill, idff distill): the known one-step map of a Gaussian,
round trips through load/sample/CLI, resume exactness, cached pairs and one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import idff
from idff.cli.main import cli
from idff.errors import ConfigError, UserError
from idff.toy.config import toy_run_config
from idff.toy.train import train_toy
from idff.training import TrainConfig
from idff.training.checkpoint import RunError

# 1-D data N(M, S²) from N(0, 1): every flow with Gaussian marginals (CFM, IDFF's path)
# moves a point monotonically, so the exact ODE map is the linear x1 = M + S·x0
M, S = 1.5, 0.5


def _gaussian_teacher(root, method: str, steps: int = 1200):
    data = (M + S * np.random.default_rng(0).standard_normal((20000, 1))).astype(np.float32)
    objective = {"coupling": "independent"}  # a curved flow: one Euler step collapses it
    cfg = toy_run_config(method, "file", dim=1, hidden=64, depth=2, objective=objective)
    out = root / f"gauss-{method}"
    train_toy(cfg, out, TrainConfig(steps=steps, lr=2e-3, warmup=100, ema_decay=0.99,
                                    ckpt_every=steps), data=data, progress=False)
    return out


@pytest.fixture(scope="module")
def gauss(tmp_path_factory):
    root = tmp_path_factory.mktemp("gauss")
    return {m: _gaussian_teacher(root, m) for m in ("icfm", "idff")}, root


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    cfg = idff.toy_config("otcfm", "8gaussians", hidden=32, depth=2, train={"steps": 60})
    idff.train_run(cfg, root / "teacher", progress=False)
    return root


def _map_error(run, nfe: int) -> float:
    x0 = torch.linspace(-2, 2, 41)[:, None]
    x = run.sample(nfe=nfe, x0=x0, seed=0).x
    return float((x - (M + S * x0)).abs().max())


@pytest.mark.parametrize("method", ["reflow", "x1head"])
def test_a_student_reproduces_the_linear_one_step_map_of_a_gaussian(gauss, method):
    runs, root = gauss
    t = idff.load(runs["icfm"])
    assert _map_error(t, 100) < 0.08  # the teacher's ODE map is the exact one
    assert _map_error(t, 1) > 0.3  # one call of the teacher is not (I-CFM: the mean)
    s = idff.distill(t, root / f"icfm-{method}", method, steps=600, pairs=4096, pair_nfe=50,
                     lr=2e-3, progress=False)
    assert _map_error(s, 1) < 0.1
    assert _map_error(s, 2) < 0.1


def test_an_idff_student_reproduces_its_teachers_linear_map_in_one_call(gauss):
    runs, root = gauss
    t = idff.load(runs["idff"])
    x0 = torch.linspace(-2, 2, 41)[:, None]
    target = t.sample(nfe=100, x0=x0, seed=0).x
    slope, icpt = np.polyfit(x0[:, 0].numpy(), target[:, 0].numpy(), 1)
    linear = torch.as_tensor(icpt + slope * x0.numpy(), dtype=torch.float32)
    assert float((target - linear).abs().max()) < 0.03  # the teacher's map is linear
    assert float((t.sample(nfe=1, x0=x0, seed=0).x - target).abs().max()) > 0.3
    s = idff.distill(t, root / "idff-x1head", "x1head", steps=600, pairs=4096, pair_nfe=50,
                     lr=2e-3, progress=False)
    for nfe in (1, 2):
        assert float((s.sample(nfe=nfe, x0=x0, seed=0).x - linear).abs().max()) < 0.08


def test_distill_round_trip_records_teacher_samplers_and_costs(toy):
    s = idff.distill(toy / "teacher", toy / "student", "x1head", steps=20, pairs=300,
                     pair_nfe=8, progress=False)
    loaded = idff.load(toy / "student")
    assert loaded.kind == "toy" and sorted(loaded.sampling.budgets) == [1, 2]
    for n in (1, 2):
        res = loaded.sample(50, nfe=n, seed=0)
        assert res.nfe == n and res.x.shape == (50, 2)
        assert torch.equal(res.x, s.sample(50, nfe=n, seed=0).x)
    assert loaded.sample(10, seed=0).nfe == 1  # the stored default is one call
    cfg = json.loads((toy / "student" / "config.json").read_text())
    d = cfg["distill"]
    assert d["method"] == "x1head" and d["times"] == [0.0, 0.5]
    assert d["teacher"]["step"] == 60 and d["teacher"]["method"] == "otcfm"
    assert d["pairs"]["nfe"] == 8 and d["pairs"]["sampler"].startswith("midpoint")
    assert cfg["init_from"]["step"] == 60
    costs = json.loads((toy / "student" / "costs.json").read_text())
    assert costs["teacher_evals"] == 300 * 8 and costs["step_share"] == pytest.approx(20 / 60)


def test_distill_command_and_sample_command_on_a_student(toy):
    out = toy / "cli-student"
    res = CliRunner().invoke(cli, ["distill", str(toy / "teacher"), "--out", str(out),
                                   "--method", "reflow", "--steps", "10", "--pairs", "200",
                                   "--pair-nfe", "4"])
    assert res.exit_code == 0, res.output
    assert "teacher calls for the pairs: 800 (4 per pair x 200 pairs)" in res.output
    assert "NFE 1: euler" in res.output and "stored for NFE 2" in res.output
    npy = toy / "s.npy"
    res = CliRunner().invoke(cli, ["sample", str(out), "--nfe", "1", "--n", "20", "--out",
                                   str(npy)])
    assert res.exit_code == 0 and "NFE 1" in res.output, res.output
    assert np.load(npy).shape == (20, 2)
    # a reflow student takes any budget
    assert idff.load(out).sample(10, nfe=4, seed=0).nfe == 4


def test_resume_continues_exactly_and_pairs_are_remade_identically(toy):
    kw = dict(pairs=300, pair_nfe=4, progress=False)
    whole = idff.distill(toy / "teacher", toy / "whole", "reflow", steps=30, **kw)
    idff.distill(toy / "teacher", toy / "part", "reflow", steps=15, **kw)
    chunk = toy / "part" / "pairs" / "chunk_00000.pt"
    kept = torch.load(chunk, weights_only=True)
    chunk.write_bytes(b"torn")  # a damaged cache chunk is made again
    resumed = idff.distill(toy / "teacher", toy / "part", "reflow", steps=30, resume=True, **kw)
    assert torch.equal(torch.load(chunk, weights_only=True)["x1"], kept["x1"])
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_refusals_are_one_line_errors(toy, tmp_path):
    teacher = toy / "teacher"
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="is not a run: it has no config.json"):
        idff.distill(tmp_path / "plain", tmp_path / "s1")
    with pytest.raises(UserError, match="no such run folder"):
        idff.distill(tmp_path / "nowhere", tmp_path / "s1")
    sst = tmp_path / "sst"
    sst.mkdir()
    (sst / "config.json").write_text('{"kind": "sst"}')
    with pytest.raises(UserError, match="'sst' run, which forecasts from observed states"):
        idff.distill(sst, tmp_path / "s1")
    with pytest.raises(UserError, match="teacher's own folder"):
        idff.distill(teacher, teacher)
    with pytest.raises(ConfigError, match="cannot honour nfe=12"):
        idff.distill(teacher, tmp_path / "s2", "x1head", nfe=(1, 12))
    with pytest.raises(ConfigError, match="unknown distillation method"):
        idff.distill(teacher, tmp_path / "s2", "meanflow")
    student = idff.distill(teacher, tmp_path / "s3", "x1head", steps=5, pairs=50, pair_nfe=2,
                           progress=False)
    with pytest.raises(ConfigError, match="trained for 1 or 2 network calls, not nfe=4"):
        student.sample(10, nfe=4)
    with pytest.raises(ConfigError, match="adaptive solver 'dopri5' cannot honour"):
        student.sample(10, solver="dopri5")
    with pytest.raises(RunError, match="already holds a run"):  # a student folder in use
        idff.distill(teacher, tmp_path / "s3", "x1head", steps=5, pairs=50, pair_nfe=2,
                     progress=False)
    with pytest.raises(RunError, match="other settings"):  # resume as another method
        idff.distill(teacher, tmp_path / "s3", "reflow", steps=5, pairs=50, pair_nfe=2,
                     resume=True, progress=False)


@pytest.mark.parametrize("args,words", [
    (["TEACHER", "--out", "OUT", "--method", "x1head", "--nfe", "1,12"],
     "cannot honour --nfe 12"),
    (["PLAIN", "--out", "OUT"], "is not a run"),
    (["TEACHER", "--out", "TEACHER"], "teacher's own folder"),
])
def test_the_command_line_refuses_in_one_line(toy, tmp_path, args, words):
    (tmp_path / "plain").mkdir()
    names = {"TEACHER": str(toy / "teacher"), "PLAIN": str(tmp_path / "plain"),
             "OUT": str(tmp_path / "out")}
    res = CliRunner().invoke(cli, ["distill", *[names.get(a, a) for a in args]])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and words in lines[0], res.output


def test_sample_command_refuses_a_budget_an_x1head_student_cannot_honour(toy, tmp_path):
    out = tmp_path / "x1"
    idff.distill(toy / "teacher", out, "x1head", steps=5, pairs=50, pair_nfe=2, progress=False)
    res = CliRunner().invoke(cli, ["sample", str(out), "--nfe", "3", "--out",
                                   str(tmp_path / "a.npy")])
    assert res.exit_code == 2
    assert "not --nfe 3; give --nfe 1 or --nfe 2" in res.output


def test_pairs_made_with_other_settings_are_refused(toy, tmp_path):
    out = tmp_path / "p"
    idff.distill(toy / "teacher", out, "reflow", steps=5, pairs=50, pair_nfe=2, progress=False)
    cfg = json.loads((out / "config.json").read_text())
    (out / "state.pt").unlink()
    (out / "snapshot.safetensors").unlink()
    (out / "log.jsonl").unlink()
    (out / "config.json").write_text(json.dumps(cfg))
    manifest = json.loads((out / "pairs" / "manifest.json").read_text())
    manifest["nfe"] = 3
    (out / "pairs" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="holds teacher pairs made with other settings"):
        idff.distill(toy / "teacher", out, "reflow", steps=5, pairs=50, pair_nfe=2,
                     resume=True, progress=False)


def test_pairs_from_trains_a_second_method_on_the_very_same_pairs(toy, tmp_path, monkeypatch):
    first = tmp_path / "x1head"
    idff.distill(toy / "teacher", first, "x1head", steps=5, pairs=50, pair_nfe=2,
                 progress=False)
    teacher = idff.load(toy / "teacher")
    monkeypatch.setattr(type(teacher), "sample", lambda *a, **k: pytest.fail("pairs remade"))
    second = tmp_path / "reflow"
    idff.distill(teacher, second, "reflow", steps=5, pairs=50, pair_nfe=2, progress=False,
                 pairs_from=first)
    a = torch.load(first / "pairs" / "chunk_00000.pt", weights_only=True)
    b = torch.load(second / "pairs" / "chunk_00000.pt", weights_only=True)
    assert torch.equal(a["x0"], b["x0"]) and torch.equal(a["x1"], b["x1"])
    with pytest.raises(UserError, match=r"made with other settings \(n=50; this student needs "
                                        r"n=40\)"):
        idff.distill(teacher, tmp_path / "r2", "reflow", steps=5, pairs=40, pair_nfe=2,
                     progress=False, pairs_from=first)
    with pytest.raises(UserError, match="holds no cached teacher pairs"):
        idff.distill(teacher, tmp_path / "r3", "reflow", steps=5, pairs=50, pair_nfe=2,
                     progress=False, pairs_from=tmp_path)


def test_an_image_teacher_distils_into_a_one_call_image_student(tmp_path):
    pytest.importorskip("sklearn")
    tiny = {"model.num_channels": 32, "model.channel_mult": [1], "model.num_res_blocks": 1,
            "model.attention_resolutions": "", "model.dropout": 0.0, "data.dataset": "digits",
            "data.image_size": 8, "model.image_size": 8, "train.batch_size": 4,
            "train.steps": 2, "train.ckpt_every": 2}
    idff.train_run(idff.image_config("fashion_mnist", tiny), tmp_path / "img", progress=False)
    s = idff.distill(tmp_path / "img", tmp_path / "stu", "x1head", steps=2, pairs=8,
                     pair_nfe=2, progress=False)
    assert s.kind == "image" and s.config["train"]["batch_size"] == 4  # the teacher's
    res = idff.load(tmp_path / "stu").sample(3, nfe=1, seed=0)
    assert res.nfe == 1 and res.x.shape == (3, 1, 8, 8)
    assert float(res.x.abs().max()) <= 1.0


def test_bench_nfe_takes_a_student_like_any_run(toy, tmp_path):
    out = tmp_path / "x1"
    idff.distill(toy / "teacher", out, "x1head", steps=5, pairs=50, pair_nfe=2, progress=False)
    res = CliRunner().invoke(cli, ["bench", "nfe", str(out), "--nfe", "1,2", "--n-eval", "100",
                                   "--n-val", "100", "--out",
                                   str(tmp_path / "b" / "b")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line)["row"] for line in open(tmp_path / "b" / "b.jsonl")]
    assert sorted(r["nfe"] for r in rows) == [1, 2]


def test_ctrl_c_saves_and_resume_gives_the_uninterrupted_student(toy, tmp_path, monkeypatch):
    import signal

    from idff.errors import TrainingInterrupted
    from idff.training import Trainer

    kw = dict(steps=20, pairs=200, pair_nfe=4, progress=False)
    whole = idff.distill(toy / "teacher", tmp_path / "whole", "x1head", **kw)
    step = Trainer.train_micro_steps

    def interrupted(self, micro):
        out = step(self, micro)
        if self.step == 7:
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(Trainer, "train_micro_steps", interrupted)
    with pytest.raises(TrainingInterrupted, match="interrupted at step 7") as e:
        idff.distill(toy / "teacher", tmp_path / "cut", "x1head", **kw)
    assert "--resume" in e.value.cli
    monkeypatch.undo()
    resumed = idff.distill(toy / "teacher", tmp_path / "cut", "x1head", resume=True, **kw)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("teacher", ["idff", "otcfm"])
def test_the_shipped_students_sample_in_one_and_two_calls_by_name(teacher):
    student = idff.load(f"fashion_mnist/{teacher}-b128-student")
    assert student.config["distill"]["teacher"]["run"] == f"fashion_mnist/{teacher}-b128"
    for nfe in (1, 2):
        res = student.sample(2, nfe=nfe, seed=0, threads=1)
        assert res.nfe == nfe and res.x.shape == (2, 1, 28, 28)
        assert torch.isfinite(res.x).all()
    with pytest.raises(ConfigError, match="trained for 1 or 2 network calls"):
        student.sample(2, nfe=3, seed=0)
