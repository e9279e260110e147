"""Image samples as one PNG grid: :func:`save_grid` (``idff.save_grid(run.sample(16).x,
"grid.png")``, checked) and :func:`write_grid` (the writer the commands use)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from idff.errors import ConfigError, check_output_path

__all__ = ["save_grid", "write_grid"]


def write_grid(x: Tensor, path: str | os.PathLike, nrow: int | None = None) -> Path:
    """Save images in [-1, 1] ``(N, C, H, W)`` as one PNG grid (``nrow`` per row, default
    ≈ √N), with white 2-pixel padding; grayscale grids are stored as RGB."""
    from torchvision.utils import save_image

    from idff.io import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"cannot write to {path.parent}; choose a writable --out.")
    nrow = nrow or max(1, int(round(x.shape[0] ** 0.5)))
    x = x.detach().float().cpu()
    return atomic_write(path, lambda f: save_image(x, f, format="PNG", nrow=nrow, padding=2,
                                                   pad_value=1.0, normalize=True,
                                                   value_range=(-1, 1)))


def save_grid(images: Any, path: str | os.PathLike, nrow: int | None = None) -> Path:
    """Write images as one PNG grid, as ``idff sample`` does for image runs.

    Args:
        images: ``(N, C, H, W)`` (or one ``(C, H, W)`` image) in the data range [-1, 1],
            ``C`` = 1 or 3, as a tensor, a NumPy array or a
            :class:`~idff.sampler.SampleResult` (``run.sample(16)``).
        path: the ``.png`` file; its folder is created.
        nrow: images per row (default ≈ √N).

    Returns:
        The path written. Grayscale grids are stored as RGB, with white 2-pixel padding.

    Raises:
        ConfigError: not images (toy samples are points: plot them instead), or not a
            ``.png`` path.
        UserError: a file stands where the path needs a folder.
    """
    x = getattr(images, "x", images)  # a SampleResult
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError):
            raise ConfigError(f"save_grid takes images (N, C, H, W), got "
                              f"{type(images).__name__}.") from None
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] not in (1, 3) or not x.is_floating_point():
        raise ConfigError(f"save_grid takes float images of shape (N, C, H, W) with C = 1 or 3 "
                          f"in [-1, 1], got {x.dtype} of shape {tuple(x.shape)}; toy samples "
                          "(N, D) are points: plot them instead.")
    if nrow is not None and (isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1):
        raise ConfigError(f"nrow must be an integer >= 1 (images per row), got {nrow!r}.")
    if Path(path).suffix.lower() != ".png":
        raise ConfigError(f"save_grid writes a PNG; give a path ending in .png, got {path}.")
    check_output_path(path, option="path")  # a file where a folder must be, named
    return write_grid(x, path, nrow)
