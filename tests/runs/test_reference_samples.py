"""Refactors must not change samples: recompute every stored case and compare exactly.

The reference (``tests/data/reference_samples.pt``) was written by
``tests/data/make_reference.py`` from shipped checkpoints and seeded networks; the cases
cover image, toy and time-series sampling with every field and the main solvers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parents[1] / "data"


def _generator():
    spec = importlib.util.spec_from_file_location("make_reference", DATA / "make_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


REF = torch.load(DATA / "reference_samples.pt", weights_only=True)
GEN = _generator()


@pytest.fixture(scope="module")
def recomputed():
    return {**GEN.image_cases(), **GEN.toy_cases(), **GEN.timeseries_cases()}


def test_every_reference_case_is_recomputed(recomputed):
    assert sorted(recomputed) == sorted(REF)


@pytest.mark.parametrize("case", sorted(REF))
def test_samples_unchanged(case, recomputed):
    new, old = recomputed[case], REF[case]
    assert new["nfe"] == old["nfe"], f"{case}: NFE {new['nfe']} != {old['nfe']}"
    assert new["x"].shape == old["x"].shape
    torch.testing.assert_close(new["x"], old["x"], rtol=0, atol=1e-6, msg=f"{case} changed")
