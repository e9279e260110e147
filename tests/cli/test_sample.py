"""``idff sample`` writes exactly what :meth:`idff.runs.Run.sample` draws for the same run,
count, seed and options (toy runs and the shipped Fashion-MNIST run), and the stored arrays
of the shipped run do not change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import idff
from tests.cli_checks import run, train_toy_cli

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def tiny_toy(tmp_path_factory):
    return train_toy_cli(tmp_path_factory.mktemp("sample") / "toy")


@pytest.mark.parametrize("args, kw", [
    ([], {}),
    (["--nfe", "4", "--solver", "euler"], {"nfe": 4, "solver": "euler"}),
    (["--nfe", "4", "--field", "published", "--sde"], {"nfe": 4, "field": "published",
                                                        "sde": True}),
])
def test_toy_npy_is_run_sample(tiny_toy, tmp_path, args, kw):
    out = tmp_path / "x.npy"
    res = run(["sample", tiny_toy, "--n", 30, "--seed", 3, *args, "--out", out])
    assert res.exit_code == 0, res.output
    assert f"wrote 30 samples (NFE {kw.get('nfe', 10)};" in res.output
    expected = idff.load(tiny_toy).sample(30, seed=3, **kw).x.numpy()
    got = np.load(out)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_toy_png_figure(tiny_toy, tmp_path):
    out = tmp_path / "x.png"
    res = run(["sample", tiny_toy, "--n", 20, "--nfe", 2, "--out", out])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 0


def test_shipped_image_npy_is_run_sample_unclamped(tmp_path):
    out = tmp_path / "x.npy"
    res = run(["sample", "fashion_mnist/idff-b128", "--n", 4, "--nfe", 2, "--out", out])
    assert res.exit_code == 0, res.output
    assert "wrote 4 samples (NFE 2; rk2 (alpha 0.2)" in res.output
    got = np.load(out)
    expected = idff.load("fashion_mnist/idff-b128").sample(4, seed=0, nfe=2, clamp=False)
    assert np.array_equal(got, expected.x.numpy())  # raw samples: the solver's output
    assert got.min() < -1  # ... not clamped to the data range
    torch.testing.assert_close(torch.from_numpy(got),
                               torch.from_numpy(np.load(DATA / "sample_idff_b128_n4_nfe2.npy")),
                               rtol=0, atol=1e-5)


def test_shipped_image_png_grid(tmp_path):
    out = tmp_path / "x.png"
    res = run(["sample", "fashion_mnist/idff-b128", "--n", 4, "--nfe", 2, "--out", out])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_toy_sampling_shows_its_progress_bar(tiny_toy, tmp_path, monkeypatch):
    import idff.toy.sample as S

    shown, bar = [], S.progress_bar
    monkeypatch.setattr(S, "progress_bar", lambda *a, enable=False, **k: shown.append(enable)
                        or bar(*a, enable=enable, **k))
    res = run(["sample", tiny_toy, "--n", 5, "--nfe", 2, "--out", tmp_path / "x.npy"])
    assert res.exit_code == 0, res.output
    assert shown == [True]
    idff.load(tiny_toy).sample(5, seed=0, nfe=2)
    assert shown == [True, False]  # the Python API shows none unless asked
