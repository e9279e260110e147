"""Images stored in LMDB: CelebA-HQ 256 and LSUN Bedroom / Church.

Two layouts are read (``layout="auto"`` tells them apart):

* ``"indexed"`` — the NVAE-style exports the published README points to: an LMDB
  environment ``ROOT/train.lmdb`` (or ``validation.lmdb``, or ``ROOT`` itself) whose keys
  are ``b"0"``, ``b"1"``, …; each value is an encoded image (PNG/JPEG/WebP) or raw
  ``uint8`` RGB bytes of a square image (``size·size·3`` bytes).
* ``"keys"`` — the official LSUN exports (``church_outdoor_train_lmdb/``): arbitrary keys,
  each value an encoded image; the key list is read once when the dataset opens.

Images are resized (shorter side) and center-cropped to ``size``; items are
``(x (3, size, size) in [-1, 1], 0)``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from idff.errors import DataError, DataNotFound
from idff.images.pixels import resize_crop, to_model_range

__all__ = ["LMDBImages", "LAYOUTS", "decode_image", "write_lmdb"]

LAYOUTS = ("auto", "indexed", "keys")


_ENVS: dict[tuple[str, int], object] = {}


def _open_env(path: Path):
    """The read-only environment of ``path`` in this process (LMDB allows one per process)."""
    key = (str(path.resolve()), os.getpid())
    if key in _ENVS:
        return _ENVS[key]
    try:
        import lmdb
    except ImportError as e:
        raise DataError("LMDB datasets need the 'lmdb' package: pip install 'idff[images]'.") \
            from e
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False,
                        subdir=path.is_dir(), max_readers=64)
    except lmdb.Error as e:
        raise DataError(f"cannot open LMDB {path} ({e}); it is missing or corrupt.") from e
    _ENVS[key] = env
    return env


def _find_env(root: Path, train: bool) -> Path:
    split = "train.lmdb" if train else "validation.lmdb"
    for cand in (root / split, root):
        if (cand / "data.mdb").is_file() or (cand.is_file() and cand.suffix in (".mdb", ".lmdb")):
            return cand
    raise DataNotFound(
        f"no LMDB found at {root}: expected {root / split}/data.mdb (NVAE-style export) or "
        f"{root}/data.mdb (e.g. LSUN's church_outdoor_train_lmdb). Create it with the LSUN / "
        "NVAE export scripts, or point --data-root at the folder holding data.mdb."
    )


def decode_image(value: bytes, size_hint: int | None = None):
    """An LMDB value → PIL image: an encoded file, or raw square ``uint8`` RGB bytes."""
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(io.BytesIO(value))
        im.load()
        return im.convert("RGB")
    except Image.DecompressionBombError as e:
        raise DataError(f"an LMDB image is too large to decode safely ({e}); remove that "
                        "record or downscale it.") from None
    except (UnidentifiedImageError, OSError):
        pass
    side = int(round((len(value) / 3) ** 0.5))
    if side > 0 and side * side * 3 == len(value) and (size_hint is None or side >= 1):
        arr = np.frombuffer(value, dtype=np.uint8).reshape(side, side, 3)
        return Image.fromarray(arr.copy())
    raise DataError(
        f"an LMDB value of {len(value)} bytes is neither an encoded image nor raw square RGB; "
        "this LMDB is not an image export in a supported layout (see idff.images.lmdb_images)."
    )


class LMDBImages(Dataset):
    """Images from an LMDB export (see module docstring).

    Args:
        root: the export folder (or the LMDB environment itself).
        size: output ``H = W``.
        train: ``train.lmdb`` vs ``validation.lmdb`` for the indexed layout.
        layout: ``"auto"``, ``"indexed"`` or ``"keys"``.
    """

    def __init__(self, root: str | os.PathLike, size: int, train: bool = True,
                 layout: str = "auto"):
        if layout not in LAYOUTS:
            raise DataError(f"unknown LMDB layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
        self.path = _find_env(Path(root), train)
        self.size = size
        with _open_env(self.path).begin() as txn:
            n = txn.stat()["entries"]
            if n == 0:
                raise DataError(f"LMDB {self.path} is empty.")
            indexed = txn.get(b"0") is not None
            if layout == "indexed" and not indexed:
                raise DataError(
                    f"LMDB {self.path} has no key b'0': it is not in the indexed (NVAE) "
                    "layout; use layout 'keys' (official LSUN export) or 'auto'."
                )
            self.layout = "indexed" if (layout == "auto" and indexed) else layout
            if self.layout == "auto":
                self.layout = "keys"
            self.keys: list[bytes] | None = None
            if self.layout == "keys":
                self.keys = [k for k, _ in txn.cursor()]
            else:
                missing = [i for i in (n - 1,) if txn.get(str(i).encode()) is None]
                if missing:
                    raise DataError(
                        f"LMDB {self.path} has {n} entries but no key b'{n - 1}': the indexed "
                        "layout needs keys b'0' … b'N-1'. Use layout 'keys' for other exports."
                    )
            first = txn.get(self._key(0))
        decode_image(first)  # fail now, with the layout message, on a foreign LMDB
        self.n = n
        self.transform = None

    def _key(self, i: int) -> bytes:
        return self.keys[i] if self.keys is not None else str(i).encode()

    def __len__(self) -> int:
        return self.n

    def load(self, i: int) -> Tensor:
        with _open_env(self.path).begin() as txn:
            value = txn.get(self._key(i))
        if value is None:
            raise DataError(f"LMDB {self.path} has no entry {self._key(i)!r}.")
        return resize_crop(decode_image(value), self.size)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x = to_model_range(self.load(i))
        if self.transform is not None:
            x = self.transform(x)
        return x, 0


def write_lmdb(path: str | os.PathLike, images: list[Tensor] | Tensor, encode: bool = True,
               keys: list[bytes] | None = None) -> Path:
    """Write ``uint8`` images ``(C, H, W)`` as an LMDB export (indexed keys unless ``keys``).

    ``encode=True`` stores PNG bytes, else raw RGB bytes (square images only). Useful to
    convert a folder once, and to build small fixtures.
    """
    import lmdb
    from PIL import Image

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    images = list(images)
    total = sum(int(im.numel()) for im in images)
    env = lmdb.open(str(path), map_size=max(10 * total + (1 << 20), 1 << 22))
    with env.begin(write=True) as txn:
        for i, im in enumerate(images):
            arr = torch.as_tensor(im).permute(1, 2, 0).contiguous().numpy().astype(np.uint8)
            if encode:
                buf = io.BytesIO()
                Image.fromarray(arr).save(buf, format="PNG")
                value = buf.getvalue()
            else:
                value = arr.tobytes()
            txn.put(keys[i] if keys else str(i).encode(), value)
    env.close()
    return path
