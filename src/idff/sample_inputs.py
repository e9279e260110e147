"""Checks of the conditioning a caller passes to a sampler: the guidance scale and class
labels. A NaN or negative scale, or a fractional label cast to an integer, would give
samples of something else without any error."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from idff.errors import ConfigError

__all__ = ["check_guidance", "as_labels"]


def check_guidance(guidance: Any) -> float:
    """The classifier-free guidance scale as a float, refused unless finite and >= 0.

    Raises:
        ConfigError: naming the value and the valid range.
    """
    ok = (not isinstance(guidance, bool) and isinstance(guidance, (int, float))
          and math.isfinite(guidance) and guidance >= 0)
    if not ok:
        raise ConfigError(f"guidance must be a finite number >= 0 (1 = no guidance, larger = "
                          f"stronger), got {guidance!r}.",
                          cli=f"--guidance must be a finite number >= 0, got {guidance!r}.")
    return float(guidance)


def as_labels(labels: Any) -> Tensor:
    """Class labels as a 1-D ``long`` tensor; floats are taken only when they are whole
    numbers (``1.0``), never truncated (``1.7`` is refused).

    Raises:
        ConfigError: booleans, complex or non-numeric values, or fractional/non-finite ones.
    """
    t = torch.as_tensor(labels) if not isinstance(labels, Tensor) else labels
    if t.dtype == torch.bool or t.is_complex():
        raise ConfigError(f"labels must be integer class indices, got {t.dtype} values.")
    if t.is_floating_point():
        whole = torch.isfinite(t) & (t == t.round())
        if not bool(whole.all()):
            bad = t[~whole].reshape(-1)[0].item()
            raise ConfigError(f"labels must be integer class indices, got {bad!r}; a "
                              "fractional label would be truncated to another class. Pass "
                              "integers, e.g. torch.tensor([0, 3]).")
    return t.to(torch.long).reshape(-1)
