"""Image readers on small files written in each real format, and their error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from idff.errors import DataError
from idff.images.batches import ImageBatches, build_image_data
from idff.images.datasets import (
    FashionMNIST,
    ImageFolderFlat,
    NumpyImages,
    build_dataset,
    load_cifar10,
    load_imagenet64,
)
from idff.images.fashion_mnist import read_idx
from idff.images.pixels import from_model_range, to_model_range
from tests.images.test_common import (
    _one_thread,  # noqa: F401  (autouse fixture)
    hide_system_fashion_mnist,
    write_cifar,
    write_fashion_mnist,
    write_folder,
    write_idx,
    write_lmdb_export,
)


@pytest.fixture(autouse=True)
def _no_system_fashion_mnist(tmp_path, monkeypatch):
    # the machine may have the Debian package; tests must only see their own files
    hide_system_fashion_mnist(monkeypatch, tmp_path)


def test_range_round_trip():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)
    y = to_model_range(x)
    assert y.min() == -1 and y.max() == 1
    assert torch.equal(from_model_range(y), x)


def test_fashion_mnist_reads_idx_layouts(tmp_path):
    root = write_fashion_mnist(tmp_path / "a", n=5)
    ds = FashionMNIST(root, train=True)
    raw = read_idx(root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz")
    labels = read_idx(root / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte.gz")
    assert len(ds) == 5
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and y == int(labels[3])
    assert torch.allclose(x[0], torch.from_numpy(raw[3].copy()).float() / 127.5 - 1)
    # uncompressed files directly in ROOT are found too
    flat = tmp_path / "flat"
    write_idx(flat / "t10k-images-idx3-ubyte", raw[:2], compress=False)
    write_idx(flat / "t10k-labels-idx1-ubyte", labels[:2], compress=False)
    assert len(FashionMNIST(flat, train=False)) == 2


def test_fashion_mnist_missing_and_corrupt(tmp_path):
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        FashionMNIST(tmp_path / "empty")
    root = write_fashion_mnist(tmp_path / "fm", n=4)
    path = root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz"
    data = read_idx(path)
    header = bytes([0, 0, 8, 3]) + (4).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    path.unlink()
    (path.with_suffix("")).write_bytes(header + data.tobytes()[:100])
    with pytest.raises(DataError, match="truncated"):
        FashionMNIST(root)
    path.with_suffix("").write_bytes(b"\x01\x02\x03\x04garbage")
    with pytest.raises(DataError, match="magic"):
        FashionMNIST(root)


def test_fashion_mnist_mismatched_labels(tmp_path):
    root = write_fashion_mnist(tmp_path / "fm", n=4)
    write_idx(root / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte.gz", np.zeros(3))
    with pytest.raises(DataError, match="do not match"):
        FashionMNIST(root)


def test_cifar10_pickle_batches(tmp_path):
    root = write_cifar(tmp_path, n=3)
    train, test = load_cifar10(root, train=True), load_cifar10(root, train=False)
    assert len(train) == 15 and len(test) == 3
    import pickle

    with open(root / "cifar-10-batches-py" / "data_batch_2", "rb") as f:
        entry = pickle.load(f)
    x, y = train[4]  # second image of batch 2
    want = torch.from_numpy(entry["data"][1].reshape(3, 32, 32)).float() / 127.5 - 1
    assert torch.allclose(x, want) and y == entry["labels"][1]


def test_cifar10_missing_and_corrupt(tmp_path):
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
        load_cifar10(tmp_path)
    root = write_cifar(tmp_path, n=2)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x02}q\x00(X")
    with pytest.raises(DataError, match="data_batch_3.*corrupt"):
        load_cifar10(root)


def test_offline_download_fails_clearly(tmp_path, monkeypatch):
    import torchvision

    def offline(*a, **k):
        raise OSError("Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataError, match="offline"):
        load_cifar10(tmp_path, download=True)


def test_image_folder_resizes_and_labels(tmp_path):
    root = write_folder(tmp_path / "imgs", n=6)
    ds = ImageFolderFlat(root, size=8, labels_from_dirs=True)
    assert len(ds) == 6
    labels = set()
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (3, 8, 8) and -1 <= x.min() and x.max() <= 1
        labels.add(y)
    assert labels == {0, 1}
    (root / "a" / "broken.png").write_bytes(b"not a png")
    ds = ImageFolderFlat(root, size=8)
    bad = [i for i, f in enumerate(ds.files) if f.name == "broken.png"][0]
    with pytest.raises(DataError, match="cannot decode"):
        ds[bad]
    with pytest.raises(DataError, match="no images"):
        ImageFolderFlat(tmp_path / "imgs" / "a" / "..", size=8).files and ImageFolderFlat(
            (tmp_path / "void").mkdir() or tmp_path / "void", size=8)


@pytest.mark.parametrize("encode", [True, False])
def test_lmdb_indexed_layout(tmp_path, encode):
    from idff.images.lmdb_images import LMDBImages

    write_lmdb_export(tmp_path, n=5, size=16, encode=encode)
    ds = LMDBImages(tmp_path, size=16)
    assert ds.layout == "indexed" and len(ds) == 5
    g = torch.Generator().manual_seed(0)
    want = torch.randint(0, 256, (5, 3, 16, 16), generator=g, dtype=torch.uint8)
    assert torch.equal(from_model_range(ds[2][0]), want[2])
    assert LMDBImages(tmp_path, size=8)[0][0].shape == (3, 8, 8)


def test_lmdb_lsun_keys_layout_and_wrong_layout(tmp_path):
    import lmdb

    from idff.images.lmdb_images import LMDBImages

    write_lmdb_export(tmp_path / "church", n=4, size=16, keys=True)
    ds = LMDBImages(tmp_path / "church", size=8)
    assert ds.layout == "keys" and len(ds) == 4 and ds[3][0].shape == (3, 8, 8)
    with pytest.raises(DataError, match="indexed"):
        LMDBImages(tmp_path / "church", size=8, layout="indexed")
    env = lmdb.open(str(tmp_path / "bad"), map_size=1 << 22)
    with env.begin(write=True) as txn:
        txn.put(b"0", b"this is not an image")
    env.close()
    with pytest.raises(DataError, match="not an image export"):
        LMDBImages(tmp_path / "bad", size=8)
    with pytest.raises(DataError, match="no LMDB found"):
        LMDBImages(tmp_path / "nothing", size=8)


def test_imagenet64_npz(tmp_path):
    rng = np.random.default_rng(0)
    for i in (1, 2):
        np.savez(tmp_path / f"train_data_batch_{i}.npz",
                 data=rng.integers(0, 256, (3, 12288), dtype=np.uint8),
                 labels=np.array([1, 2, 1000]))
    ds = load_imagenet64(tmp_path)
    assert len(ds) == 6 and ds[0][0].shape == (3, 64, 64)
    assert ds.labels.tolist() == [0, 1, 999] * 2
    np.savez(tmp_path / "train_data_batch_3.npz", data=np.zeros((2, 10), dtype=np.uint8),
             labels=np.array([1, 1]))
    with pytest.raises(DataError, match="12288"):
        load_imagenet64(tmp_path)
    with pytest.raises(DataError, match="Downsampled ImageNet"):
        load_imagenet64(tmp_path / "x")


def test_build_dataset_errors(tmp_path):
    with pytest.raises(DataError, match="unknown dataset"):
        build_dataset({"dataset": "mnist"})
    with pytest.raises(DataError, match="--data-root"):
        build_dataset({"dataset": "cifar10"})
    root = write_fashion_mnist(tmp_path, n=8)
    with pytest.raises(DataError, match="expects"):
        build_image_data({"dataset": "fashion_mnist", "root": str(root), "image_size": 32,
                          "channels": 1}, batch_size=2)
    with pytest.raises(DataError, match="fewer than one global batch"):
        build_image_data({"dataset": "fashion_mnist", "root": str(root), "image_size": 28,
                          "channels": 1}, batch_size=8, world_size=2)


def test_batches_resume_position_and_shards():
    imgs = torch.arange(10 * 4, dtype=torch.uint8).reshape(10, 1, 2, 2)
    ds = NumpyImages(imgs, torch.arange(10))
    a = ImageBatches(ds, 3, class_cond=True, seed=1)
    first = [y for _, y in zip(range(4), _cycle(a))]  # crosses an epoch end (3 batches/epoch)
    b = ImageBatches(ds, 3, class_cond=True, seed=1)
    it_b = iter(b)
    next(it_b)
    c = ImageBatches(ds, 3, class_cond=True, seed=1)
    c.load_state_dict(b.state_dict())
    rest = [y for _, y in zip(range(3), _cycle(c))]
    for got, want in zip(rest, first[1:]):
        assert torch.equal(got, want)
    r0 = ImageBatches(ds, 2, rank=0, world_size=2)
    r1 = ImageBatches(ds, 2, rank=1, world_size=2)
    seen0 = torch.cat([x.flatten(1)[:, 0] for x, _ in r0])
    seen1 = torch.cat([x.flatten(1)[:, 0] for x, _ in r1])
    assert not set(seen0.tolist()) & set(seen1.tolist())
    assert next(iter(r0))[1] is None


def _cycle(data):
    while True:
        yield from (y for _, y in data)
