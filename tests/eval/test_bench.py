"""The NFE benchmark: noise chosen on validation only, counted NFE, outputs, run adapters."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from torch import nn

from idff.eval import bench as B
from idff.eval.fid import FeatureExtractor, feature_stats, iter_tensor_batches
from idff.runs import register_kind
from idff.sampler import SampleResult
from idff.toy.data import sample_toy


class RecordingQuality(B.Quality):
    """Distance of the sample mean to a target; records which split each call used."""

    name = "err"
    protocol = "mean error"

    def __init__(self, targets):
        self.targets, self.calls = targets, []

    def score(self, samples, split):
        self.calls.append(split)
        return {"err": float((samples.mean(0) - self.targets[split]).abs().sum())}


def constant_sampler(value, log=None, fail_adaptive=False):
    def sampler(n, nfe, solver, seed):
        if log is not None:
            log.append(seed)
        if fail_adaptive and solver == "dopri5":
            raise ValueError("this candidate is an SDE")
        return SampleResult(torch.full((n, 2), float(value)), nfe if nfe else 37)

    return sampler


def test_noise_is_chosen_on_validation_and_scored_on_evaluation():
    # validation prefers "a" (target 1), evaluation would prefer "b" (target 3): the choice
    # must follow validation, and evaluation must never see the losing candidate.
    q = RecordingQuality({"val": torch.tensor([1.0, 1.0]), "eval": torch.tensor([3.0, 3.0])})
    seeds = []
    entry = B.BenchEntry("idff", "idff", {"a": constant_sampler(1.0, seeds),
                                          "b": constant_sampler(3.0, seeds)})
    rows, val_log = B.run_benchmark([entry], q, nfes=[2, 10], n_eval=8, n_val=4, seed=5,
                                    echo=None)
    assert [r.noise for r in rows] == ["a", "a"]
    assert [r.value for r in rows] == [pytest.approx(4.0)] * 2  # |1 - 3| * 2 dims
    assert q.calls == ["val", "val", "eval"] * 2
    assert seeds == [6, 6, 5] * 2  # validation draws use seed + 1, evaluation seed
    assert [r.nfe for r in rows] == [2, 10]
    assert len(val_log) == 4 and all("val_err" in d for d in val_log)


def test_candidate_that_cannot_run_adaptive_is_skipped():
    q = RecordingQuality({"val": torch.zeros(2), "eval": torch.zeros(2)})
    entry = B.BenchEntry("idff", "idff", {
        "sde": constant_sampler(0.0, fail_adaptive=True), "ode": constant_sampler(0.5)})
    rows, val_log = B.run_benchmark([entry], q, nfes=["adaptive"], n_eval=4, n_val=4, echo=None)
    assert rows[0].noise == "ode" and rows[0].nfe == 37 and rows[0].solver == "dopri5"
    assert any("skipped" in d for d in val_log)
    single = B.BenchEntry("cfm", "otcfm", {"-": constant_sampler(0.0, fail_adaptive=True)})
    rows, _ = B.run_benchmark([single], q, nfes=["adaptive"], n_eval=4, echo=None)
    assert np.isnan(rows[0].value) and "failed" in rows[0].noise


def test_benchmark_rejects_bad_budgets_and_entries():
    q = RecordingQuality({"val": torch.zeros(2), "eval": torch.zeros(2)})
    e = B.BenchEntry("x", "icfm", {"-": constant_sampler(0.0)})
    with pytest.raises(ValueError, match="integers >= 1"):
        B.run_benchmark([e], q, nfes=[0], echo=None)
    with pytest.raises(ValueError, match="at least one run"):
        B.run_benchmark([], q, echo=None)
    with pytest.raises(ValueError, match="no sampler"):
        B.BenchEntry("x", "icfm", {})


def _rows():
    mk = lambda lab, m, b, nfe, v, s: B.BenchRow(lab, m, b, nfe, "midpoint", "-", "FD", v, s, 100)
    return [mk("idff", "idff", "10", 10, 5.0, 1.0), mk("idff", "idff", "100", 100, 4.0, 10.0),
            mk("ot", "otcfm", "10", 10, 9.0, 1.0), mk("ot", "otcfm", "100", 100, 6.0, 10.0),
            mk("ot", "otcfm", "adaptive", 80, 5.5, 8.0)]


def test_target_check_and_outputs(tmp_path):
    rows = _rows()
    assert B.target_check(rows).startswith("Target MET")
    assert B.target_check(rows, speedup=20).startswith("Target NOT MET")
    rows[0].value = 7.0
    assert "NOT MET" in B.target_check(rows)
    q = RecordingQuality({})
    B.write_csv(rows, tmp_path / "b.csv")
    with open(tmp_path / "b.csv") as f:
        read = list(csv.DictReader(f))
    assert len(read) == 5 and read[4]["nfe_budget"] == "adaptive" and read[4]["nfe"] == "80"
    text = B.write_markdown(rows, tmp_path / "b.md", q, "header", {"FD": 0.5})
    assert "Protocol: mean error" in text and "| NFE 10 |" in text and "(NFE 80)" in text
    assert "Reference floor" in text and "seconds per 1k" in text
    B.plot_quality_vs_nfe(rows, tmp_path / "b.png", floor=0.5)
    assert (tmp_path / "b.png").stat().st_size > 1000


@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory):
    from idff.toy.config import toy_run_config
    from idff.toy.train import train_toy
    from idff.training import TrainConfig

    root = tmp_path_factory.mktemp("runs")
    out = {}
    for method in ("idff", "otcfm"):
        cfg = toy_run_config(method, "8gaussians", hidden=32, depth=2, batch_size=64)
        train_toy(cfg, root / method, TrainConfig(steps=30, lr=1e-3, warmup=5, ema_decay=0.9,
                                                  ckpt_every=30), progress=False)
        out[method] = root / method
    return out


def test_toy_runs_end_to_end(toy_runs):
    idff = B.entry_from_run(toy_runs["idff"], gammas=(0.0, 1.0))
    ot = B.entry_from_run(toy_runs["otcfm"], label="OT-CFM")
    assert list(idff.samplers) == ["gamma=0", "gamma=1"] and list(ot.samplers) == ["-"]
    q = B.ToyQuality("8gaussians", n=200)
    rows, val_log = B.run_benchmark([idff, ot], q, nfes=[1, 4, "adaptive"], n_eval=200,
                                    n_val=100, echo=None)
    by = {(r.label, r.nfe_budget): r for r in rows}
    assert by[("idff", "1")].nfe == 1 and by[("idff", "4")].nfe == 4
    assert by[("OT-CFM", "4")].nfe == 4
    assert by[("idff", "adaptive")].noise == "gamma=0"  # the SDE candidate cannot run dopri5
    assert by[("idff", "adaptive")].nfe > 4
    assert all(np.isfinite(r.value) and r.seconds_per_1k > 0 for r in rows)
    assert all("w2" in r.extra for r in rows)
    floor = q.floor()["mmd"]
    assert floor < by[("OT-CFM", "1")].value  # 30 training steps are far from the data


def test_solver_candidates(toy_runs):
    idff = B.entry_from_run(toy_runs["idff"], gammas=(0.0, 1.0),
                            solvers=["midpoint", "ddim", "ddim2", "heun"])
    # γ > 0 only where a solver takes noise
    assert sorted(idff.samplers) == sorted(["midpoint gamma=0", "ddim gamma=0", "ddim gamma=1",
                                            "ddim2 gamma=0", "ddim2 gamma=1", "heun gamma=0"])
    pub = B.entry_from_run(toy_runs["idff"], gammas=(0.2,), field="published",
                           solvers=["srk", "ddim", "midpoint"])
    assert sorted(pub.samplers) == ["midpoint s=0.2", "srk s=0.2"]
    ot = B.entry_from_run(toy_runs["otcfm"], solvers=["euler", "ddim", "midpoint"])
    assert sorted(ot.samplers) == ["euler", "midpoint"]
    q = B.ToyQuality("8gaussians", n=200)
    rows, val_log = B.run_benchmark([idff, ot], q, nfes=[1, 4, "adaptive"], n_eval=200,
                                    n_val=100, echo=None)
    by = {(r.label, r.nfe_budget): r for r in rows}
    # at NFE 1 only the one-evaluation solvers may run; every counted NFE fits its budget
    assert by[("idff", "1")].noise.startswith("ddim ") and by[("idff", "1")].nfe == 1
    assert by[("otcfm", "1")].noise == "euler"
    assert all(r.nfe <= int(r.nfe_budget) for r in rows if r.nfe_budget != "adaptive")
    skipped = [v for v in val_log if "skipped" in v]
    assert any("needs at least 2" in v["skipped"] for v in skipped)
    assert any("fixed budgets only" in v["skipped"] for v in skipped)
    assert np.isfinite(by[("otcfm", "adaptive")].value)


def test_entry_errors(tmp_path, toy_runs):
    import json
    import shutil

    with pytest.raises(ValueError, match="not a run directory"):
        B.entry_from_run(tmp_path)
    odd = tmp_path / "odd"
    shutil.copytree(toy_runs["otcfm"], odd)
    cfg = json.loads((odd / "config.json").read_text())
    cfg["kind"] = "hologram"
    (odd / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="no run kind 'hologram'.*register_kind"):
        B.entry_from_run(odd)


def test_registered_image_sampler_with_feature_quality(tmp_path, toy_runs):
    """An image kind plugs in through register_kind; quality is a Fréchet distance."""
    import json
    import shutil

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 6)).eval()
    ext = FeatureExtractor(lambda x: net(x), "FD-test", "L", "random linear features", "t")
    real = torch.rand(300, 1, 8, 8)
    refs = {s: feature_stats(iter_tensor_batches(real[i::2]), ext)
            for i, s in enumerate(("val", "eval"))}
    q = B.ImageQuality(ext, refs, (-1.0, 1.0), "test references")

    def sample(model, config, n, sampling, seed=0, device="cpu"):
        g = torch.Generator().manual_seed(seed)
        noise = torch.rand(n, 1, 8, 8, generator=g) * 2 - 1  # like the data, in [-1, 1]
        # gamma = 1 collapses to white images
        return noise * (1 - sampling.gamma) + sampling.gamma, sampling.nfe

    register_kind("testimage", sample=sample)
    run = tmp_path / "img"
    shutil.copytree(toy_runs["idff"], run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["kind"] = "testimage"
    (run / "config.json").write_text(json.dumps(cfg))
    entry = B.entry_from_run(run, gammas=(0.0, 1.0))
    rows, _ = B.run_benchmark([entry], q, nfes=[3], n_eval=150, n_val=150, echo=None)
    assert rows[0].noise == "gamma=0" and rows[0].metric == "FD-test"
    assert rows[0].value < 0.5 * B.ImageQuality(ext, refs).score(torch.ones(150, 1, 8, 8),
                                                                  "eval")["FD-test"]
    assert q.floor()["FD-test"] >= 0 and "test references" in q.protocol
    with pytest.raises(ValueError, match="'val' and 'eval'"):
        B.ImageQuality(ext, {"val": refs["val"]})


def test_toy_quality_references_are_independent():
    q = B.ToyQuality("moons", n=300, seed=2)
    assert not torch.equal(q.refs["val"], q.refs["eval"])
    expected = sample_toy("moons", 300, torch.Generator().manual_seed(10_002))
    assert torch.equal(q.refs["eval"], expected)


def test_journal_resumes_an_interrupted_benchmark(tmp_path):
    q = RecordingQuality({"val": torch.tensor([1.0, 1.0]), "eval": torch.tensor([3.0, 3.0])})
    seeds = []
    entry = B.BenchEntry("idff", "idff", {"a": constant_sampler(1.0, seeds),
                                          "b": constant_sampler(3.0, seeds)},
                         {"run": "r", "train_steps": 7})
    journal = tmp_path / "bench.jsonl"
    first, _ = B.run_benchmark([entry], q, nfes=[2], n_eval=8, n_val=4, echo=None,
                               journal=journal)
    with open(journal, "a") as f:
        f.write('{"key": "torn')  # an interruption mid-write
    seeds.clear()
    rows, val_log = B.run_benchmark([entry], q, nfes=[2, 10], n_eval=8, n_val=4, echo=None,
                                    journal=journal)
    assert seeds == [1, 1, 0]  # only NFE 10 is sampled again (val a, val b, eval)
    assert rows[0] == first[0] and [r.nfe_budget for r in rows] == ["2", "10"]
    assert len(val_log) == 4
    seeds.clear()  # the cell written after the torn line is readable: nothing is resampled
    B.run_benchmark([entry], q, nfes=[2, 10], n_eval=8, n_val=4, echo=None, journal=journal)
    assert seeds == []
    # a different sample count or training step is a different cell: nothing is reused
    seeds.clear()
    B.run_benchmark([entry], q, nfes=[2], n_eval=16, n_val=4, echo=None, journal=journal)
    assert len(seeds) == 3
    entry.info["train_steps"] = 8
    seeds.clear()
    B.run_benchmark([entry], q, nfes=[2], n_eval=8, n_val=4, echo=None, journal=journal)
    assert len(seeds) == 3


def test_csv_round_trip(tmp_path):
    rows = _rows()
    rows[0].extra = {"w2": 0.25}
    B.write_csv(rows, tmp_path / "b.csv")
    back = B.read_csv(tmp_path / "b.csv")
    assert [r.value for r in back] == [r.value for r in rows]
    assert back[0].extra == {"w2": 0.25} and back[1].extra == {}
    assert back[4].nfe == 80 and back[4].nfe_budget == "adaptive"
    with pytest.raises(FileNotFoundError, match="idff bench nfe"):
        B.read_csv(tmp_path / "missing.csv")
    (tmp_path / "odd.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a benchmark CSV"):
        B.read_csv(tmp_path / "odd.csv")


def test_cli_bench_per_run_then_merge(tmp_path, toy_runs):
    from click.testing import CliRunner

    from idff.cli.main import cli

    runner = CliRunner()
    common = ["--nfe", "1,4", "--n-eval", "150", "--n-val", "100"]
    # --gammas is IDFF's noise: an OT-CFM run alone refuses it (it would change nothing)
    for name, label, own in (("idff", "IDFF", ["--gammas", "0,1"]), ("otcfm", "OT-CFM", [])):
        res = runner.invoke(cli, ["bench", "nfe", str(toy_runs[name]), "--run-label", label,
                                  *common, *own, "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        assert (tmp_path / f"{name}.jsonl").read_text().count("\n") == 2
    res = runner.invoke(cli, ["bench", "merge", str(tmp_path / "idff"),
                              str(tmp_path / "otcfm.csv"), "--out", str(tmp_path / "all")])
    assert res.exit_code == 0, res.output
    merged = B.read_csv(tmp_path / "all.csv")
    assert [(r.label, r.nfe_budget) for r in merged] == [
        ("IDFF", "1"), ("IDFF", "4"), ("OT-CFM", "1"), ("OT-CFM", "4")]
    single = B.read_csv(tmp_path / "otcfm.csv")
    assert [r.value for r in merged[2:]] == [r.value for r in single]
    text = (tmp_path / "all.md").read_text()
    assert "| IDFF |" in text and "| OT-CFM |" in text and "Joined from" in text
    assert (tmp_path / "all.png").stat().st_size > 1000
    assert (tmp_path / "all.val.csv").is_file()
    # the same label twice, and a prefix that is not a benchmark, are refused
    res = runner.invoke(cli, ["bench", "merge", str(tmp_path / "idff"), str(tmp_path / "idff"),
                              "--out", str(tmp_path / "dup")])
    assert res.exit_code != 0 and "distinct --run-label" in res.output
    res = runner.invoke(cli, ["bench", "merge", str(tmp_path / "nothing"),
                              "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "nothing.meta.json not found" in res.output


def test_support_fraction_is_sharp():
    from idff.toy.data import sample_toy, support_fraction

    g = torch.Generator().manual_seed(0)
    for name, exact in (("checkerboard", 1.0), ("8gaussians", 0.989)):
        x = sample_toy(name, 20_000, g)
        assert support_fraction(name, x) == pytest.approx(exact, abs=0.005)
        assert support_fraction(name, x + 0.3 * torch.randn(x.shape, generator=g)) < 0.7
    # the gaps of the checkerboard: (0.5, 0.5) is on, (-0.5, 0.5) is off
    pts = torch.tensor([[0.5, 0.5], [-0.5, 0.5], [1.5, -0.5], [2.5, 0.5]])
    assert support_fraction("checkerboard", pts) == 0.5
    with pytest.raises(ValueError, match="knows checkerboard"):
        support_fraction("moons", pts)
    q = B.ToyQuality("checkerboard", n=500)
    s = q.score(q.refs["val"], "eval")
    assert s["in_support"] == 1.0 and "mmd_fine" in s


def test_selection_metric(toy_runs):
    idff = B.entry_from_run(toy_runs["idff"], gammas=(0.0, 1.0), solvers=["euler", "ddim"])
    q = B.ToyQuality("checkerboard", n=300)
    _, val_log = B.run_benchmark([idff], q, nfes=[2], n_eval=300, n_val=300, echo=None,
                                 select="in_support")
    scored = [v for v in val_log if "val_in_support" in v]
    assert len(scored) == 4  # euler/ddim × γ ∈ {0, 1}
    rows, _ = B.run_benchmark([idff], q, nfes=[2], n_eval=300, n_val=300, echo=None,
                              select="in_support")
    best = max(scored, key=lambda v: v["val_in_support"])
    assert rows[0].noise == best["noise"]  # maximised, not minimised
    with pytest.raises(ValueError, match="cannot select on 'fid'"):
        B.run_benchmark([idff], q, nfes=[2], n_eval=300, n_val=300, echo=None, select="fid")
