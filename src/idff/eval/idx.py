"""Read Fashion-MNIST's IDX files (plain or ``.gz``) without torchvision's checksums.

Debian's ``dataset-fashion-mnist`` package recompresses the ``.gz`` files, so torchvision's
MD5 check rejects them; the IDX format itself is tiny and read here directly.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_ROOTS", "FILES", "read_idx", "find_fashion_mnist", "load_fashion_mnist"]

#: where the Debian package puts the files; ``IDFF_FASHION_MNIST`` overrides.
DEFAULT_ROOTS = ("/usr/share/datasets/fashion-mnist",)

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into an array of its stored shape.

    The header is two zero bytes, a type code, the number of dimensions ``k`` and ``k``
    big-endian ``int32`` sizes; the data follow in C order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r}).")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(shape)) if shape else 0
    if len(raw) - offset < count * dtype.itemsize:
        raise ValueError(
            f"{path} is truncated: header says shape {shape} but the file holds "
            f"{(len(raw) - offset) // dtype.itemsize} values."
        )
    data = np.frombuffer(raw, dtype, count=count, offset=offset).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _candidates(root: Path) -> list[Path]:
    return [root, root / "FashionMNIST" / "raw"]


def find_fashion_mnist(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the four IDX files: ``root``, ``$IDFF_FASHION_MNIST`` or the default."""
    roots = [Path(root)] if root else []
    if not roots and os.environ.get("IDFF_FASHION_MNIST"):
        roots = [Path(os.environ["IDFF_FASHION_MNIST"])]
    roots = roots or [Path(r) for r in DEFAULT_ROOTS]
    needed = [name for pair in FILES.values() for name in pair]
    for r in roots:
        for folder in _candidates(r):
            if all((folder / n).exists() or (folder / f"{n}.gz").exists() for n in needed):
                return folder
    raise FileNotFoundError(
        f"Fashion-MNIST IDX files not found under {', '.join(map(str, roots))}. Install them "
        "with `apt-get update && apt-get install -y dataset-fashion-mnist` (files land in "
        "/usr/share/datasets/fashion-mnist/), or pass --data-root / set IDFF_FASHION_MNIST to "
        f"a folder with {', '.join(needed)} (optionally .gz)."
    )


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of a split (``train``/``test``)."""
    if split not in FILES:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'.")
    folder = find_fashion_mnist(root)

    def path(name: str) -> Path:
        p = folder / name
        return p if p.exists() else folder / f"{name}.gz"

    images = read_idx(path(FILES[split][0]))
    labels = read_idx(path(FILES[split][1])).astype(np.int64)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(
            f"{folder}: images {images.shape} and labels {labels.shape} do not match; "
            "the files are from different datasets or splits."
        )
    return images, labels
