"""Image datasets for generation: items ``(x, label)``, ``x`` ``(C, H, W)`` in [-1, 1].

Readers (all accept a local ``root``; the ones with a public mirror download when
``download=True`` and the machine is online, and otherwise say which file to put where):

* ``cifar10`` — the python pickle batches ``ROOT/cifar-10-batches-py/`` (torchvision).
* ``fashion_mnist`` — IDX files (``.gz`` or raw) in ``ROOT``, ``ROOT/FashionMNIST/raw/``,
  ``$IDFF_FASHION_MNIST`` or the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``); see :mod:`idff.images.fashion_mnist`.
* ``celeba64`` — ``ROOT/celeba/img_align_celeba/*.jpg`` (or ``ROOT/img_align_celeba``),
  center crop 140 × 140 then resize to 64 (the common protocol).
* ``celebahq256``, ``lsun_bedroom``, ``lsun_church`` — LMDB exports, see
  :mod:`idff.images.lmdb_images`.
* ``imagenet64`` — Downsampled ImageNet 64×64 ``.npz`` batches (``train_data_batch_*``).
* ``folder`` — any folder of images (recursive), center crop and resize.

:func:`idff.images.batches.build_image_data` turns a data config (a JSON-able dict of a
preset) into an iterable of ``(x1, cond)`` batches for the trainer, sharded across DDP
ranks. In-memory sets (Fashion-MNIST, CIFAR-10, ImageNet-64, digits) are served as
``uint8`` tensors (on the GPU when training there) by batched indexing; folder and LMDB sets
go through ``DataLoader`` workers into pinned memory. Flips are drawn per epoch and applied to whole
batches.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from idff.errors import DataError, DataNotFound
from idff.images.fashion_mnist import find_fashion_mnist, load_fashion_mnist
from idff.images.pixels import from_model_range, resize_crop, to_8bit, to_model_range

__all__ = [
    "DATASETS",
    "DataError",
    "to_model_range",
    "from_model_range",
    "FashionMNIST",
    "NumpyImages",
    "ImageFolderFlat",
    "build_dataset",
]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


# -- arrays and folders ---------------------------------------------------------------


class NumpyImages(Dataset):
    """In-memory ``uint8`` images ``(N, C, H, W)`` with labels (ImageNet-64, CIFAR-10 arrays)."""

    def __init__(self, images: np.ndarray | Tensor, labels: np.ndarray | Tensor | None = None):
        self.images = torch.as_tensor(images)
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(f"expected uint8 images (N, C, H, W), got {tuple(self.images.shape)} "
                            f"{self.images.dtype}.")
        n = len(self.images)
        self.labels = torch.zeros(n, dtype=torch.long) if labels is None else torch.as_tensor(
            labels, dtype=torch.long)
        self.transform: Callable[[Tensor], Tensor] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x = to_model_range(self.images[i])
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[i])


class FashionMNIST(NumpyImages):
    """Fashion-MNIST from its IDX files; items ``(x (1, 28, 28) in [-1, 1], label)``.

    The files are found by :func:`idff.images.fashion_mnist.find_fashion_mnist`; with
    ``download`` and a ``root`` that lacks them, torchvision fetches them into ``root``.
    """

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = False):
        split = "train" if train else "test"
        if download and root:
            try:
                find_fashion_mnist(root, (split,))
            except DataError:
                _torchvision_download("FashionMNIST", Path(root), train)
        images, labels = load_fashion_mnist(split, root)
        # (N, 1, 28, 28) uint8
        super().__init__(torch.from_numpy(images.copy()).unsqueeze(1), labels)


def load_imagenet64(root: str | os.PathLike, train: bool = True) -> NumpyImages:
    """Downsampled ImageNet 64×64: ``train_data_batch_{1..10}.npz`` / ``val_data.npz``.

    Each file holds ``data`` ``(N, 12288)`` (channel-major RGB) and ``labels`` (1-based).
    """
    root = Path(root)
    files = sorted(root.glob("train_data_batch_*.npz" if train else "val_data.npz"),
                   key=lambda p: int(p.stem.rsplit("_", 1)[-1]) if train else 0)
    if not files:
        raise DataNotFound(
            f"no ImageNet-64 files in {root}: download the 'Imagenet64_train_npz' archive of "
            "Downsampled ImageNet (image-net.org, login needed) and unpack its "
            "train_data_batch_*.npz (or val_data.npz) into this folder."
        )
    images, labels = [], []
    for f in files:
        try:
            with np.load(f) as z:
                data, lab = z["data"], z["labels"]
        except (OSError, KeyError, ValueError) as e:
            raise DataError(f"{f} is not a Downsampled-ImageNet .npz with 'data' and 'labels' "
                            f"({e}).") from e
        if data.ndim != 2 or data.shape[1] != 3 * 64 * 64:
            raise DataError(f"{f}: 'data' has shape {data.shape}, expected (N, 12288).")
        images.append(data.reshape(-1, 3, 64, 64).astype(np.uint8))
        labels.append(np.asarray(lab, dtype=np.int64) - 1)
    return NumpyImages(np.concatenate(images), np.concatenate(labels))


class ImageFolderFlat(Dataset):
    """Every image file under ``root`` (recursive, sorted), label 0, or the parent folder's
    index when ``labels_from_dirs``; resized (shorter side) then center-cropped to ``size``.

    Args:
        root: folder of images.
        size: output ``H = W``.
        crop: optional center crop (pixels, square) applied before resizing (CelebA: 140).
        channels: 3 (RGB) or 1 (grayscale).
    """

    def __init__(self, root: str | os.PathLike, size: int, crop: int | None = None,
                 channels: int = 3, labels_from_dirs: bool = False):
        root = Path(root)
        if not root.is_dir():
            raise DataNotFound(f"image folder {root} does not exist; pass --data-root "
                               "pointing to it.")
        self.files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
        if not self.files:
            raise DataNotFound(f"no images ({', '.join(IMAGE_EXTS)}) found under {root}.")
        classes = sorted({p.parent.name for p in self.files}) if labels_from_dirs else []
        self.class_index = {c: i for i, c in enumerate(classes)}
        self.size, self.crop, self.channels = size, crop, channels
        self.transform: Callable[[Tensor], Tensor] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> Tensor:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(self.files[i]) as im:
                im = to_8bit(im, self.files[i]).convert("RGB" if self.channels == 3 else "L")
        except Image.DecompressionBombError as e:
            raise DataError(f"{self.files[i]} is too large to decode safely ({e}); remove it "
                            "or downscale it.") from None
        except (OSError, UnidentifiedImageError) as e:
            raise DataError(f"cannot decode {self.files[i]} ({e}); remove or replace it.") from e
        return resize_crop(im, self.size, self.crop)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x = to_model_range(self.load(i))
        if self.transform is not None:
            x = self.transform(x)
        label = self.class_index.get(self.files[i].parent.name, 0)
        return x, label


# -- torchvision-backed readers ---------------------------------------------------------


def _torchvision_download(name: str, root: Path, train: bool) -> None:
    import torchvision

    try:
        getattr(torchvision.datasets, name)(str(root), train=train, download=True)
    except Exception as e:  # URLError, socket errors, checksum failures
        raise DataNotFound(
            f"could not download {name} into {root} ({type(e).__name__}: {e}). This machine "
            "may be offline: place the files there yourself and pass that folder as "
            "--data-root (see `idff train --help`)."
        ) from e


CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)


def load_cifar10(root: str | os.PathLike, train: bool = True,
                 download: bool = False) -> NumpyImages:
    """CIFAR-10 from the python pickle batches in ``ROOT/cifar-10-batches-py``.

    Each batch is a pickled dict with ``data`` ``(N, 3072)`` uint8 (channel-major) and
    ``labels``, read with :func:`idff.data.safe_pickle.safe_load` (plain data only, no
    code). Downloading (``download=True``) goes through torchvision.
    """
    # not torchvision's CIFAR10: it md5-checks the full release and unpickles arbitrary objects
    from idff.data.safe_pickle import UnsafePickleError, safe_load

    root = Path(root)
    folder = root / "cifar-10-batches-py"
    if not folder.is_dir() and download:
        _torchvision_download("CIFAR10", root, train)
    names = CIFAR10_TRAIN if train else CIFAR10_TEST
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataNotFound(
            f"CIFAR-10 not found: {folder} lacks {', '.join(missing)}. Download "
            "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack "
            f"it into {root} (the --data-root folder), or pass --download when online."
        )
    images, labels = [], []
    for n in names:
        try:
            entry = safe_load(folder / n, encoding="latin1")
            data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            lab = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
        except UnsafePickleError:
            raise
        except Exception as e:  # truncated pickles, wrong keys, wrong sizes
            raise DataError(
                f"cannot read CIFAR-10 batch {folder / n} ({type(e).__name__}: {e}); the file "
                "is corrupt, re-download it."
            ) from e
        images.append(data)
        labels.append(lab)
    return NumpyImages(np.concatenate(images), np.concatenate(labels))


def load_celeba64(root: str | os.PathLike, size: int = 64) -> ImageFolderFlat:
    """CelebA aligned faces, center crop 140 × 140, resized to ``size``."""
    root = Path(root)
    for cand in (root / "celeba" / "img_align_celeba", root / "img_align_celeba", root):
        if cand.is_dir() and any(cand.glob("*.jpg")):
            return ImageFolderFlat(cand, size=size, crop=140)
    raise DataNotFound(
        f"CelebA not found under {root}: unpack img_align_celeba.zip (from the CelebA site) so "
        f"that {root}/celeba/img_align_celeba/000001.jpg exists."
    )


# -- registry and pipeline ------------------------------------------------------------------

DATASETS = ("cifar10", "fashion_mnist", "celeba64", "celebahq256", "lsun_bedroom",
            "lsun_church", "imagenet64", "folder", "digits")


def _digits(size: int) -> NumpyImages:
    from sklearn.datasets import load_digits

    d = load_digits()
    img = torch.as_tensor(d.images * (255.0 / 16.0)).round().to(torch.uint8)[:, None]
    if size != 8:
        img = torch.nn.functional.interpolate(img.float(), size=(size, size), mode="nearest")
        img = img.round().to(torch.uint8)
    return NumpyImages(img, d.target)


def build_dataset(cfg: dict[str, Any], train: bool = True) -> Dataset:
    """The dataset a data config names (``cfg["dataset"]``, ``cfg["root"]``, ...)."""
    name = cfg.get("dataset")
    root = cfg.get("root")
    size = int(cfg.get("image_size", 32))
    download = bool(cfg.get("download", False))
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    if name == "fashion_mnist":
        return FashionMNIST(root, train=train, download=download)
    if name == "digits":
        return _digits(size)
    if root is None:
        raise DataNotFound(f"dataset {name!r} needs a local folder: pass --data-root DIR.")
    if name == "cifar10":
        return load_cifar10(root, train=train, download=download)
    if name == "celeba64":
        return load_celeba64(root, size=size)
    if name == "imagenet64":
        return load_imagenet64(root, train=train)
    if name == "folder":
        return ImageFolderFlat(root, size=size, channels=int(cfg.get("channels", 3)),
                               labels_from_dirs=bool(cfg.get("labels_from_dirs", False)))
    from idff.images.lmdb_images import LMDBImages

    return LMDBImages(root, size=size, train=train, layout=cfg.get("layout", "auto"))
