"""Smoke tests of the three end-to-end commands: ``idff demo``, ``idff sst-demo`` and
``idff md-benchmark``, each on a tiny budget (a few seconds), checking what they write, and
of the scripts that turn the last two's results into READMEs (``benchmarks/*_readme.py``)."""

from __future__ import annotations

import json
import math
import re
import runpy
from pathlib import Path

import pytest
from click.testing import CliRunner

from idff.cli.main import cli

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def _readme_script(name: str, results) -> str:
    """Run ``benchmarks/NAME`` on a results folder; return the README it wrote."""
    out = runpy.run_path(str(BENCHMARKS / name))["main"]([str(results)])
    assert out == results / "README.md"
    return out.read_text()


def _invoke(args):
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res


def _png(path):
    assert path.is_file() and path.stat().st_size > 1000, path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo(tmp_path):
    out = tmp_path / "demo"
    res = _invoke(["demo", "--steps", "3", "--n-eval", "64", "--figure-nfe", "2",
                   "--out", str(out)])
    table = (out / "table.md").read_text()
    assert table.strip() in res.output
    lines = [ln for ln in table.splitlines() if ln.startswith("| ")]
    assert lines[0] == ("| method | metric | NFE 1 | NFE 2 | NFE 5 | NFE 10 | NFE 20 | NFE 100 "
                        "| NFE adaptive |")
    rows = {tuple(c.strip() for c in ln.strip("|").split("|")[:2]): ln for ln in lines[1:]}
    assert set(rows) == {(m, k) for m in ("IDFF", "OT-CFM", "I-CFM") for k in ("MMD", "W2")}
    for ln in rows.values():
        cells = [c.strip() for c in ln.strip("|").split("|")[2:]]
        assert len(cells) == 7
        values = [float(c.split()[0]) for c in cells]
        assert all(math.isfinite(v) for v in values)
        assert re.fullmatch(r"\S+ \(\d+\)", cells[-1])  # adaptive: its counted NFE in brackets
    assert "true-vs-true floor" in table
    for m in ("idff", "otcfm", "icfm"):
        assert (out / m / "snapshot.safetensors").is_file()
        assert json.loads((out / m / "config.json").read_text())["train"]["steps"] == 3
    _png(out / "trajectories.png")
    _png(out / "mmd_vs_nfe.png")


def test_sst_demo(tmp_path):
    pytest.importorskip("eofs")
    pytest.importorskip("xarray")
    pytest.importorskip("torchcfm")
    runs, results = tmp_path / "runs", tmp_path / "results"
    _invoke(["sst-demo", "--steps", "1", "--batch-size", "2", "--members", "2", "--horizon",
             "2", "--nfe", "2", "--out", str(runs), "--results", str(results)])
    metrics = json.loads((results / "metrics.json").read_text())
    assert set(metrics) == {"idff", "otcfm", "persistence", "climatology"}
    for name, sc in metrics.items():
        assert all(math.isfinite(sc[k]) for k in ("crps", "mse", "ssr")), name
        assert [r["lead"] for r in sc["per_lead"]] == [1, 2]
    for name in ("idff", "otcfm"):
        assert metrics[name]["members"] == 2
        assert metrics[name]["extra"]["nfe_per_lead"] == 2
        assert (runs / name / "snapshot.safetensors").is_file()
    # Euler–Maruyama adds noise on every step but the last: two steps give distinct members
    assert metrics["idff"]["ssr"] > 0 and metrics["otcfm"]["ssr"] > 0
    assert metrics["persistence"]["members"] == 1
    csv = (results / "per_lead.csv").read_text().splitlines()
    assert csv[0] == "method,lead,crps,mse,ssr" and len(csv) == 1 + 4 * 2
    table = (results / "table.md").read_text()
    assert table.startswith("| method | CRPS |") and len(table.splitlines()) == 2 + 4
    setup = json.loads((results / "setup.json").read_text())
    assert (setup["horizon"], setup["members"], setup["nfe_per_lead"]) == (2, 2, 2)
    assert setup["command"].startswith("idff ") and set(setup["train"]) == {"idff", "otcfm"}
    assert not (results / "README.md").exists()  # prose is the script's job
    readme = _readme_script("sst_readme.py", results)
    assert readme.startswith("# SST forecasting") and table.strip() in readme
    assert "rolls out 2 winters" in readme
    _png(results / "forecast.png")


def test_md_benchmark(tmp_path):
    pytest.importorskip("openmm")
    pytest.importorskip("mdtraj")
    out = tmp_path / "out"
    _invoke(["md-benchmark", "--n-traj", "3", "--length-ns", "0.01", "--frame-ps", "0.5",
             "--cache", str(tmp_path / "cache"), "--runs", str(tmp_path / "runs"),
             "--steps", "2", "--nfe", "2", "--sigma", "0.1", "--members", "1", "--no-lorenz",
             "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    labels = [r["label"] for r in metrics["rows"]]
    assert labels == ["IDFF σ=0.1 (NFE 2/frame)", "I-CFM σ=0.1 (NFE 2/frame)",
                      "MD, second run (noise floor)", "MD, held-out reference"]
    for row in metrics["rows"][:3]:
        for key in ("cc", "rmse", "mae", "js_rama", "js_phi", "js_psi", "pop_abs_err"):
            assert math.isfinite(row[key]), (row["label"], key)
        assert 0 <= row["rmse"] <= 180 and -1 <= row["cc"] <= 1
    assert metrics["lorenz"] is None
    assert (metrics["steps"], metrics["nfes"], metrics["sigmas"]) == (2, [2], [0.1])
    assert len(list((tmp_path / "runs").iterdir())) == 2  # one IDFF and one CFM run
    assert metrics["train_trajectories"] == 1 and metrics["reference_frames"] == 20
    assert metrics["command"].startswith("idff ")
    table = (out / "table.md").read_text()
    assert "| IDFF σ=0.1 (NFE 2/frame) |" in table and "p(C7eq/C5)" in table
    assert not (out / "README.md").exists()  # prose is the script's job
    readme = _readme_script("md_readme.py", out)
    assert readme.startswith("# Alanine dipeptide") and "| IDFF σ=0.1 (NFE 2/frame) |" in readme
    assert "Lorenz-63" not in readme
    _png(out / "ramachandran.png")
    _png(out / "torsions.png")


def test_md_benchmark_tetrapeptide(tmp_path):
    """Six torsions: the networks take 12 inputs and the multi-residue metrics appear."""
    pytest.importorskip("openmm")
    pytest.importorskip("mdtraj")
    out = tmp_path / "out"
    _invoke(["md-benchmark", "--system", "tetrapeptide", "--n-traj", "3", "--length-ns",
             "0.01", "--frame-ps", "0.5", "--cache", str(tmp_path / "cache"), "--runs",
             str(tmp_path / "runs"), "--steps", "2", "--nfe", "2", "--sigma", "0.3",
             "--members", "1", "--no-lorenz", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    idff_row = metrics["rows"][0]
    assert idff_row["label"] == "IDFF σ=0.3 (NFE 2/frame)"
    assert "mfpt_factor" in idff_row and "js_tica" in idff_row
    for run in (tmp_path / "runs").iterdir():
        assert json.loads((run / "config.json").read_text())["model"]["dim"] == 12
    # several grids: a validation trajectory is held out and each model's grid chosen there
    out2 = tmp_path / "out2"
    _invoke(["md-benchmark", "--system", "tetrapeptide", "--n-traj", "4", "--length-ns",
             "0.01", "--frame-ps", "0.5", "--cache", str(tmp_path / "cache"), "--runs",
             str(tmp_path / "runs"), "--steps", "2", "--nfe", "2", "--sigma", "0.3",
             "--members", "1", "--no-lorenz", "--grids", "uniform,power:0.7",
             "--out", str(out2)])
    m2 = json.loads((out2 / "metrics.json").read_text())
    assert m2["train_trajectories"] == 1 and len(m2["selection"]) == 2  # IDFF and I-CFM
    sel = m2["selection"][0]
    assert sel["metrics"] == ["js_rama_res", "msm_pop_err", "mfpt_factor"]
    assert set(sel["rows"]) == {"uniform", "power:0.7"} and sel["chosen"] in sel["rows"]
    assert "chosen on the validation" in (out2 / "table.md").read_text()
    assert sorted("-val-" in p.name for p in (tmp_path / "runs").iterdir()) == [
        False, False, True, True]
