"""Pixel conversions of image data: the model range [-1, 1] and back, resize and center
crop, and 8-bit images from the pixel types a folder data set may hold.

``PIL.Image.convert("L" or "RGB")`` clips wide pixel types instead of scaling them: a
16-bit PNG (mode ``I;16``, values up to 65535) comes out white, a float TIFF (mode ``F``,
values in [0, 1]) black. Such images are scaled by their type's range here; a type whose
range is unknown is refused.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from idff.errors import DataError

__all__ = ["to_model_range", "from_model_range", "resize_crop", "to_8bit"]

#: PIL modes of unsigned 16-bit pixels (big-, little- and native-endian)
UINT16_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def to_8bit(im, path: object = "the image"):
    """``im`` with 16-bit pixels divided by 257 (65535 → 255) and float pixels in [0, 1]
    multiplied by 255; every other mode is returned as is (``convert`` handles it).

    Raises:
        DataError: float pixels outside [0, 1] or not finite, or 32-bit integer pixels,
            whose range is not known.
    """
    from PIL import Image

    if im.mode in UINT16_MODES or (im.mode == "I" and im.format == "PNG"):
        a = np.asarray(im).astype(np.float64)  # a PNG holds at most 16 bits per sample
        return Image.fromarray(np.rint(a / 257.0).clip(0, 255).astype(np.uint8))
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            lo, hi = np.nanmin(a), np.nanmax(a)
            raise DataError(f"{path} holds floating-point pixels in [{lo:g}, {hi:g}], not in "
                            "[0, 1], so they cannot be mapped to intensities; save it as an "
                            "8- or 16-bit image, or scale it to [0, 1].")
        return Image.fromarray(np.rint(a * 255.0).astype(np.uint8))
    if im.mode == "I":
        raise DataError(f"{path} holds 32-bit integer pixels, whose intensity range is not "
                        "known; save it as an 8- or 16-bit image.")
    return im


def to_model_range(x_uint8: Tensor) -> Tensor:
    """``uint8`` images ``(…, C, H, W)`` in [0, 255] → float in [-1, 1]."""
    return x_uint8.float().div(127.5).sub(1.0)


def from_model_range(x: Tensor) -> Tensor:
    """Float images in [-1, 1] → ``uint8`` in [0, 255] (clamped, rounded)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def resize_crop(im, size: int, crop: int | None = None) -> Tensor:
    """PIL image → ``uint8`` tensor ``(C, size, size)``: optional center crop, resize, crop."""
    from PIL import Image

    if crop is not None:
        w, h = im.size
        left, top = (w - crop) // 2, (h - crop) // 2
        im = im.crop((left, top, left + crop, top + crop))
    w, h = im.size
    scale = size / min(w, h)
    if (w, h) != (size, size):
        im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                       Image.BICUBIC)
        w, h = im.size
        left, top = (w - size) // 2, (h - size) // 2
        im = im.crop((left, top, left + size, top + size))
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)
