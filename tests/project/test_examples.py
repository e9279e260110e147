"""The examples run as users will run them (tiny budgets)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import numpy as np
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_own_module_example_trains_and_samples_at_the_chosen_nfe(tmp_path, capsys):
    mod = runpy.run_path(str(EXAMPLES / "own_module.py"), run_name="example")
    out = tmp_path / "samples.npy"
    x = mod["main"](["--steps", "40", "--nfe", "2", "--n", "64", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "64 samples with 2 network evaluations each" in printed
    assert "step 40: loss" in printed
    assert x.shape == (64, 2) and torch.isfinite(x).all()
    np.testing.assert_array_equal(np.load(out), x.numpy())
    # the same seed gives the same samples; the budget changes them
    again = mod["main"](["--steps", "40", "--nfe", "2", "--n", "64"])
    other = mod["main"](["--steps", "40", "--nfe", "6", "--n", "64"])
    assert torch.equal(x, again) and not torch.equal(x, other)


#: every example and the test that runs it (a new example needs a test here)
RUN_BY = {"own_module.py": "test_own_module_example_trains_and_samples_at_the_chosen_nfe",
          "quickstart.py": "test_quickstart_runs_as_a_script_and_prints_each_step"}


def test_every_example_is_run_by_a_test():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(RUN_BY)
    assert all(name in globals() for name in RUN_BY.values())


def test_quickstart_runs_as_a_script_and_prints_each_step(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["quickstart.py", "--steps", "20", "--out", str(tmp_path)])
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "image 10 unipc3 power" in out
    assert "stored for NFE 4: rk2 alpha=0.25 power rho=1.5" in out
    assert "images (16, 1, 28, 28), NFE 4, range [-1.0, 1.0]" in out
    assert "20 steps in" in out and "toy samples (1000, 2), NFE 4, sigma 0.2" in out
    score, floor = re.search(r"MMD² vs fresh moons: (-?[\d.]+) \(floor (-?[\d.]+)\)", out).groups()
    assert abs(float(floor)) < 0.005 and float(score) > float(floor)  # 20 steps: not yet moons
    assert "own network: loss" in out and "NFE 4" in out
    assert "refused: the sampling config (sigma=...) has sigma=0.1" in out
    assert (tmp_path / "moons" / "config.json").is_file()
    text = (EXAMPLES / "quickstart.py").read_text()
    assert text.count("# %%") >= 6  # py:percent cells: it opens as a notebook


def test_gpu_check_script_dry_run_prints_its_table(tmp_path):
    """scripts/gpu_check.sh's CPU path: the same code (DDP over gloo, tiny UNet, 2 steps),
    every row on disk as soon as it is measured."""
    import os
    import subprocess
    import sys

    import pytest

    pytest.importorskip("torchcfm")
    root = EXAMPLES.parent
    out = tmp_path / "gpu_check.md"
    stages = "idff,cfm,syncs,fmnist,gen"
    res = subprocess.run(["bash", str(root / "scripts" / "gpu_check.sh"), "--dry-run",
                          "--stages", stages, "--out", str(out)],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable})
    assert res.returncode == 0, res.stderr[-2000:]
    rows = {}
    for line in out.read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| stage"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.setdefault(cells[0], []).append(cells)
            assert line in res.stdout  # printed as well
    assert set(rows) == {*stages.split(","), "ratio (eager)"}
    for stage in ("idff", "cfm", "fmnist", "ratio (eager)"):
        assert float(rows[stage][0][2]) > 0
    assert [r[1] for r in rows["gen"]] == ["generation NFE 4, samples/s",
                                           "generation NFE 10, samples/s"]
    assert rows["syncs"][0][2] == "0 (independent), 0 (OT)"


def test_gpu_check_keeps_a_row_for_a_stage_that_runs_out_of_time(tmp_path):
    import os
    import subprocess
    import sys

    root = EXAMPLES.parent
    out = tmp_path / "gpu_check.md"
    res = subprocess.run(["bash", str(root / "scripts" / "gpu_check.sh"), "--dry-run",
                          "--stages", "idff", "--budget-scale", "0.005", "--out", str(out)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "| idff | timed out | - | stopped after its 1 s budget" in out.read_text()
