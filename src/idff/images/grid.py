"""Save image samples as one PNG grid: ``idff.save_grid(run.sample(16).x, "grid.png")``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from idff.errors import ConfigError, check_output_path

__all__ = ["save_grid"]


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
    from idff.experiments.images import save_grid as _save

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
    return _save(x, path, nrow)
