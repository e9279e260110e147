"""Fixtures shared by the image tests: tiny datasets written to disk in their real formats."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

#: overrides shrinking any image preset to a UNet that trains in milliseconds.
TINY = [
    "model.num_channels=32",
    "model.channel_mult=[1]",
    "model.num_res_blocks=1",
    'model.attention_resolutions=""',
    "model.dropout=0.0",
    "model.num_head_channels=-1",
    "train.batch_size=4",
    "train.warmup=2",
    "train.log_every=1",
    "train.ckpt_every=2",
    "train.sample_every=0",
    "train.tensorboard=false",
    "train.ema_decay=0.9",
]


def tiny(size: int) -> list[str]:
    return TINY + [f"data.image_size={size}", f"model.image_size={size}"]


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write a uint8 array as an IDX file (the Fashion-MNIST format)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def hide_system_fashion_mnist(monkeypatch, tmp_path: Path) -> None:
    """The machine may have the Debian package or $IDFF_FASHION_MNIST set; tests must only
    see their own files."""
    from idff.images import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)


def write_fashion_mnist(root: Path, n: int = 16, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    raw = root / "FashionMNIST" / "raw"
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)))
    return root


def write_cifar(root: Path, n: int = 8, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n).tolist(), "batch_label": name}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    return root


def write_folder(root: Path, n: int = 8, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        h, w = (12, 16) if i % 3 else (16, 12)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(sub / f"{i}.png")
    return root


def write_lmdb_export(root: Path, n: int = 8, size: int = 16, encode: bool = True,
                      keys: bool = False, seed: int = 0) -> Path:
    import torch

    from idff.images.lmdb_images import write_lmdb

    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    names = [f"img{i:04x}".encode() for i in range(n)] if keys else None
    return write_lmdb(root / "train.lmdb" if not keys else root, list(imgs), encode=encode,
                      keys=names)


def test_idx_writer_reads_back(tmp_path):
    from idff.images.fashion_mnist import read_idx

    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for compress in (True, False):
        path = write_idx(tmp_path / f"x{int(compress)}.idx", arr, compress=compress)
        np.testing.assert_array_equal(read_idx(path), arr)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest single-threaded, above all on a shared, busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fmnist_root(tmp_path) -> Path:
    return write_fashion_mnist(tmp_path / "fm")
