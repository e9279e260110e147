"""The API reference builds from the docstrings (``scripts/api_docs.sh``, pdoc)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_api_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("pdoc")
    res = subprocess.run(["bash", str(ROOT / "scripts" / "api_docs.sh"), str(tmp_path)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Warn" not in res.stderr, res.stderr[-2000:]  # every public name resolves
    runs = (tmp_path / "idff" / "runs.html").read_text()
    assert "fresh noise" in runs and "return_trajectory" in runs  # Run.sample's docstring
    top = (tmp_path / "idff.html").read_text()
    assert all(name in top for name in ("toy_config", "image_config", "train_run", "load"))
