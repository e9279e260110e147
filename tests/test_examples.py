"""The examples run as users will run them (tiny budgets)."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


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


def test_gpu_check_script_dry_run_prints_its_table():
    """scripts/gpu_check.sh's CPU path: the same code (DDP over gloo, tiny UNet, 2 steps)."""
    import os
    import subprocess

    import pytest

    pytest.importorskip("torchcfm")
    root = EXAMPLES.parent
    res = subprocess.run(["bash", str(root / "scripts" / "gpu_check.sh"), "--dry-run"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line for line in res.stdout.splitlines() if line.startswith("| eager |")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert all(float(c) > 0 for c in cells[1:])
