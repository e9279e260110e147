"""Fashion-MNIST from its IDX files (plain or gzip), read without torchvision's checksums.

Debian's ``dataset-fashion-mnist`` package recompresses the ``.gz`` files, so torchvision's
MD5 check rejects them; the IDX format itself is tiny and read here directly. Used both for
training (:class:`idff.images.datasets.FashionMNIST`) and for the evaluation classifier and
reference statistics (:mod:`idff.eval`).

The files are looked for under an explicit ``root`` (``--data-root``) when one is given,
else under ``$IDFF_FASHION_MNIST`` and then :data:`SYSTEM_DIR`; within each, in the folder
itself, in ``FashionMNIST/raw/`` (torchvision's layout) and in ``fashion-mnist/``. An
explicit root that lacks them is an error, never silently replaced by another copy.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from idff.errors import DataError, DataNotFound

__all__ = ["ENV_VAR", "SYSTEM_DIR", "FILES", "read_idx", "search_roots", "find_fashion_mnist",
           "load_fashion_mnist"]

#: environment variable naming a folder with the files.
ENV_VAR = "IDFF_FASHION_MNIST"
#: where the Debian package ``dataset-fashion-mnist`` puts them.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_SUBFOLDERS = (".", "FashionMNIST/raw", "fashion-mnist")
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not, whatever its name) into an array.

    The header is two zero bytes, a type code, the number of dimensions ``k`` and ``k``
    big-endian ``int32`` sizes; the data follow in C order.

    Raises:
        DataError: the file is unreadable, not an IDX file, or truncated.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read IDX file {path} ({e}); it is corrupt, re-fetch it.") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4]!r}).")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated: its header is incomplete. Re-fetch it.")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(shape)) if shape else 0
    held = (len(raw) - offset) // dtype.itemsize
    if held != count:
        raise DataError(
            f"{path} is {'truncated' if held < count else 'longer than its header says'}: the "
            f"header says shape {shape}, the file holds {held} values. Re-fetch it."
        )
    data = np.frombuffer(raw, dtype, count=count, offset=offset).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def search_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Where the files are looked for: ``root`` alone when given, else
    ``$IDFF_FASHION_MNIST`` (when set) and :data:`SYSTEM_DIR`."""
    if root:
        return [Path(root)]
    env = os.environ.get(ENV_VAR)
    return ([Path(env)] if env else []) + [SYSTEM_DIR]


def find_fashion_mnist(root: str | os.PathLike | None = None,
                       splits: tuple[str, ...] = ("train", "test")) -> Path:
    """The first folder (see :func:`search_roots`) holding the IDX files of ``splits``.

    Raises:
        DataError: no folder has them; the message says how to install or point to them.
    """
    needed = [name for s in splits for name in FILES[s]]
    roots = search_roots(root)
    for r in roots:
        for sub in _SUBFOLDERS:
            folder = r / sub if sub != "." else r
            if all((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in needed):
                return folder
    raise DataNotFound(
        f"Fashion-MNIST IDX files not found under {', '.join(map(str, roots))}. Install them "
        f"with `apt-get update && apt-get install -y dataset-fashion-mnist` (files land in "
        f"{SYSTEM_DIR}/), or pass --data-root / set {ENV_VAR} to a folder with "
        f"{', '.join(needed)} (optionally .gz; also found in its FashionMNIST/raw/)."
    )


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of a split (``train``/``test``)."""
    if split not in FILES:
        raise DataError(f"unknown split {split!r}; choose 'train' or 'test'.")
    folder = find_fashion_mnist(root, (split,))

    def path(name: str) -> Path:
        p = folder / name
        return p if p.is_file() else folder / f"{name}.gz"

    images = read_idx(path(FILES[split][0]))
    labels = read_idx(path(FILES[split][1])).astype(np.int64)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise DataError(
            f"{folder}: images {images.shape} and labels {labels.shape} do not match; "
            "the files are from different datasets or splits."
        )
    return images, labels
