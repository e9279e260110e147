"""Faults and bad inputs: doctored files never run code, user errors are one line (exit 2),
resume cannot silently change a run, interrupts save, packaging facts hold."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from idff.cli.main import cli


class _Evil:
    """Unpickling this writes ``self.marker``: proof that a loader ran the file's code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _evil_torch_file(path: Path, marker: Path, payload: dict | None = None) -> Path:
    torch.save({**(payload or {}), "x": _Evil(marker)}, path)
    return path


def _evil_pickle(path: Path, marker: Path, payload: dict | None = None) -> Path:
    with open(path, "wb") as f:
        pickle.dump({**(payload or {}), "x": _Evil(marker)}, f, protocol=2)
    return path


def test_marker_pickle_really_runs_code_when_unpickled(tmp_path):
    """The doctored files used below are live: plain unpickling writes the marker."""
    marker = tmp_path / "marker"
    with open(_evil_pickle(tmp_path / "e.pkl", marker), "rb") as f:
        pickle.load(f)
    assert marker.is_file()


def test_doctored_inception_weights_never_run(tmp_path, monkeypatch):
    pytest.importorskip("pytorch_fid")
    from idff.eval import fid as F

    marker = tmp_path / "marker"
    evil = _evil_torch_file(tmp_path / F.INCEPTION_FILE, marker)
    with pytest.raises(ValueError, match="cannot read Inception weights"):
        F.inception_extractor(evil)
    # the same file in torch's hub cache and through the environment variable
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    _evil_torch_file(tmp_path / "checkpoints" / F.INCEPTION_FILE, marker)
    with pytest.raises(ValueError, match="cannot read Inception weights"):
        F.inception_extractor()
    monkeypatch.setenv(F.INCEPTION_ENV, str(evil))
    a = tmp_path / "imgs"
    a.mkdir()
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(a / f"{i}.png")
    res = CliRunner().invoke(cli, ["fid", str(a), str(a)])
    assert res.exit_code == 2 and "cannot read Inception weights" in res.output
    assert "Traceback" not in res.output
    assert not marker.exists()


def test_doctored_snapshot_state_and_classifier_never_run(tmp_path):
    from idff.eval.classifier import load_classifier
    from idff.training.checkpoint import RunError, load_run, load_state

    marker = tmp_path / "marker"
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"kind": "toy"}))
    _evil_torch_file(run / "snapshot.pt", marker, {"model": {}, "step": 1})
    _evil_torch_file(run / "state.pt", marker, {"step": 1})
    with pytest.raises(RunError, match="cannot read checkpoint"):
        load_run(run)
    with pytest.raises(RunError, match="cannot read checkpoint"):
        load_state(run)
    res = CliRunner().invoke(cli, ["sample", str(run), "--out", str(tmp_path / "s.npy")])
    assert res.exit_code == 2 and "cannot read checkpoint" in res.output
    clf = _evil_torch_file(tmp_path / "clf.pt", marker, {"model": {}, "arch": {}})
    with pytest.raises(ValueError, match="not a classifier written by"):
        load_classifier(clf)
    a = tmp_path / "imgs"
    a.mkdir()
    res = CliRunner().invoke(cli, ["fid", str(a), str(a), "--features", "classifier",
                                   "--classifier", str(clf)])
    assert res.exit_code == 2 and "not a classifier written by" in res.output
    assert "Traceback" not in res.output
    assert not marker.exists()


def test_doctored_published_image_checkpoint_never_runs(tmp_path):
    pytest.importorskip("torchvision")
    from idff.experiments.images import load_image_model
    from idff.training.checkpoint import RunError

    marker = tmp_path / "marker"
    evil = _evil_torch_file(tmp_path / "ckpt.pt", marker, {"ema_model": {}})
    with pytest.raises(RunError):
        load_image_model(evil)
    assert not marker.exists()


def test_doctored_md_pickle_and_cifar_batch_never_run(tmp_path):
    from idff.data.images import load_cifar10
    from idff.data.safe_pickle import UnsafePickleError, safe_load
    from idff.md.data import load_published_pickle

    marker = tmp_path / "marker"
    evil = _evil_pickle(tmp_path / "md.pkl", marker,
                        {"angles": np.zeros((10, 2)), "sim_length": 10})
    with pytest.raises(UnsafePickleError, match="exec"):
        load_published_pickle(evil)
    res = CliRunner().invoke(cli, ["train", "md", "--source", "pickle", "--pickle", str(evil),
                                   "--steps", "1", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "could run code" in res.output, res.output
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        _evil_pickle(folder / name, marker, {"data": np.zeros((1, 3072), np.uint8),
                                             "labels": [0]})
    with pytest.raises(UnsafePickleError):
        load_cifar10(tmp_path / "cifar")
    with pytest.raises(UnsafePickleError):
        safe_load(evil)
    assert not marker.exists()
    # plain data still loads
    ok = tmp_path / "ok.pkl"
    with open(ok, "wb") as f:
        pickle.dump({"angles": np.arange(20.0).reshape(10, 2), "sim_length": 8}, f)
    angles, n = load_published_pickle(ok)
    assert n == 8 and angles.shape == (8, 2) and angles[1, 1] == 3.0


def test_non_pickle_md_file_is_one_line(tmp_path):
    bad = tmp_path / "notes.pkl"
    bad.write_text("these are not angles\n")
    res = CliRunner().invoke(cli, ["train", "md", "--source", "pickle", "--pickle", str(bad),
                                   "--steps", "1", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "not a readable pickle" in res.output
    assert "Traceback" not in res.output
