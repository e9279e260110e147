"""Fashion-MNIST IDX reading and the feature classifier (training, hashing, loading, errors)."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct

import numpy as np
import pytest
import torch

from idff.errors import DataError
from idff.eval import classifier as C
from idff.images import fashion_mnist as idx


def write_idx(path, array: np.ndarray, compress: bool = True) -> None:
    """Write ``array`` (uint8) in the IDX format: magic 0x0000 08 ndim, big-endian sizes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def synthetic_fashion(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class sets which horizontal band is bright: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 30, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 * c + 4:2 * c + 6, 2:26] = 250
    return images, labels.astype(np.uint8)


def make_fashion_root(root, n_train=400, n_test=100, compress=True):
    root.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = synthetic_fashion(n, seed)
        write_idx(root / idx.FILES[split][0], images, compress)
        write_idx(root / idx.FILES[split][1], labels, compress)
    return root


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip(tmp_path, compress):
    root = make_fashion_root(tmp_path / "fm", 30, 10, compress)
    images, labels = idx.load_fashion_mnist("train", root)
    ref_images, ref_labels = synthetic_fashion(30, 0)
    np.testing.assert_array_equal(images, ref_images)
    np.testing.assert_array_equal(labels, ref_labels)
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    assert idx.load_fashion_mnist("test", root)[0].shape == (10, 28, 28)


@pytest.fixture
def no_system_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(idx, "SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.delenv(idx.ENV_VAR, raising=False)


def test_idx_torchvision_layout_and_env(tmp_path, monkeypatch, no_system_copy):
    make_fashion_root(tmp_path / "r" / "FashionMNIST" / "raw", 5, 5)
    assert idx.find_fashion_mnist(tmp_path / "r") == tmp_path / "r" / "FashionMNIST" / "raw"
    monkeypatch.setenv("IDFF_FASHION_MNIST", str(tmp_path / "r"))
    assert idx.find_fashion_mnist().name == "raw"


def test_idx_errors(tmp_path, no_system_copy):
    with pytest.raises(DataError, match="apt-get install -y dataset-fashion-mnist"):
        idx.find_fashion_mnist(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        idx.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 100) + b"\x00" * 10)
    with pytest.raises(ValueError, match="truncated"):
        idx.read_idx(short)
    root = make_fashion_root(tmp_path / "fm", 20, 10)
    with pytest.raises(ValueError, match="unknown split"):
        idx.load_fashion_mnist("val", root)
    write_idx(root / idx.FILES["test"][1], np.zeros(3, np.uint8))  # labels of the wrong length
    with pytest.raises(ValueError, match="do not match"):
        idx.load_fashion_mnist("test", root)


def test_classifier_learns_saves_hashes_and_reloads(tmp_path):
    xtr, ytr = synthetic_fashion(512, 0)
    xte, yte = synthetic_fashion(200, 1)
    cfg = C.ClassifierTrainConfig(epochs=4, batch_size=64, lr=5e-3, width=8, feature_dim=32)
    model, log = C.train_classifier(xtr, ytr, cfg, progress=False)
    acc = C.accuracy(model, xte, yte)
    assert acc > 0.8, acc  # chance is 0.1
    assert log["epochs_run"] == 4
    path = tmp_path / "clf.pt"
    digest = C.save_classifier(model, path, {"test_accuracy": acc})
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["sha256"] == digest and side["test_accuracy"] == acc
    assert side["feature_name"] == "FD-FMNIST-CNN"
    loaded, d2 = C.load_classifier(path, expected_sha256=digest)
    assert d2 == digest
    x = torch.from_numpy(xte[:7])[:, None].float() / 255
    feats = loaded.features(x)
    assert feats.shape == (7, 32)
    torch.testing.assert_close(feats, model.features(x))


def test_classifier_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="idff train-classifier"):
        C.load_classifier(tmp_path / "missing.pt")
    model = C.FashionCNN(width=4, feature_dim=8)
    path = tmp_path / "c.pt"
    C.save_classifier(model, path, {})
    with pytest.raises(ValueError, match="SHA-256"):
        C.load_classifier(path, expected_sha256="0" * 64)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a classifier"):
        C.load_classifier(tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        model.features(torch.zeros(2, 3, 32, 32))


def test_cpu_time_budget_stops_training_early():
    xtr, ytr = synthetic_fashion(128, 0)
    cfg = C.ClassifierTrainConfig(epochs=5, batch_size=64, width=4, feature_dim=8,
                                  max_minutes=0.0)
    _, log = C.train_classifier(xtr, ytr, cfg, progress=False)
    assert log["epochs_run"] == 1 and log["cpu_seconds"] > 0
