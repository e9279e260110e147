"""Standard 2D toy distributions, scaled to roughly unit spread."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["TOYS", "sample_toy"]


def _rng(generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.default_generator


def eight_gaussians(n: int, g: torch.Generator) -> Tensor:
    angles = torch.arange(8) * (2 * math.pi / 8)
    centers = torch.stack([torch.cos(angles), torch.sin(angles)], 1) * 2.0
    idx = torch.randint(0, 8, (n,), generator=g)
    return centers[idx] + 0.15 * torch.randn(n, 2, generator=g)


def checkerboard(n: int, g: torch.Generator) -> Tensor:
    x1 = torch.rand(n, generator=g) * 4 - 2
    x2 = torch.rand(n, generator=g) - torch.randint(0, 2, (n,), generator=g) * 2.0
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], 1) * 1.0


def moons(n: int, g: torch.Generator) -> Tensor:
    upper = torch.rand(n, generator=g) < 0.5
    theta = torch.rand(n, generator=g) * math.pi
    x = torch.where(upper, torch.cos(theta), 1 - torch.cos(theta))
    y = torch.where(upper, torch.sin(theta), 0.5 - torch.sin(theta))
    pts = torch.stack([x - 0.5, y - 0.25], 1) * 1.5
    return pts + 0.05 * torch.randn(n, 2, generator=g)


def spirals(n: int, g: torch.Generator) -> Tensor:
    r = torch.sqrt(torch.rand(n, generator=g)) * 3 * math.pi
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    x = sign * -torch.cos(r) * r
    y = sign * torch.sin(r) * r
    pts = torch.stack([x, y], 1) / 3.0
    return pts + 0.1 * torch.randn(n, 2, generator=g)


def pinwheel(n: int, g: torch.Generator) -> Tensor:
    k, radial, tangential, rate = 5, 0.3, 0.1, 0.25
    feats = torch.randn(n, 2, generator=g) * torch.tensor([radial, tangential])
    feats[:, 0] += 1.0
    labels = torch.randint(0, k, (n,), generator=g)
    angles = labels * (2 * math.pi / k) + rate * torch.exp(feats[:, 0])
    c, s = torch.cos(angles), torch.sin(angles)
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    return 2.0 * (rot @ feats[:, :, None]).squeeze(-1)


def circles(n: int, g: torch.Generator) -> Tensor:
    outer = torch.rand(n, generator=g) < 0.5
    theta = torch.rand(n, generator=g) * 2 * math.pi
    r = torch.where(outer, 2.0, 1.0)
    pts = torch.stack([torch.cos(theta), torch.sin(theta)], 1) * r[:, None]
    return pts + 0.08 * torch.randn(n, 2, generator=g)


TOYS: dict[str, Callable[[int, torch.Generator], Tensor]] = {
    "8gaussians": eight_gaussians,
    "checkerboard": checkerboard,
    "moons": moons,
    "spirals": spirals,
    "pinwheel": pinwheel,
    "circles": circles,
}


def sample_toy(name: str, n: int, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``n`` points ``(n, 2)`` (float32) from a named toy distribution."""
    if name not in TOYS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(TOYS)}.")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    return TOYS[name](int(n), _rng(generator)).float()


def load_vectors(path: str) -> np.ndarray:
    """Load a user's ``(N, D)`` array from a ``.npy`` file, with clear errors.

    The array must be real and numeric, and finite once cast to float32 (the training
    precision): ``1e300`` is refused here, not later as a non-finite loss.

    Raises:
        FileNotFoundError: no such file.
        UserError: not a plain ``.npy`` array (e.g. an ``.npz`` archive or pickled objects),
            not numeric, complex, of the wrong shape, or not finite in float32.
    """
    import os
    import zipfile

    from idff.errors import UserError

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such data file: {path}; pass a .npy file of shape (N, D).")
    if zipfile.is_zipfile(path):
        raise UserError(f"{path} is an .npz archive, not a .npy array; save one array with "
                        "numpy.save(path, x) (or pass np.load(path)['name'] saved on its own).")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"{path} is not a plain .npy array ({e}); save it with numpy.save."
                        ) from e
    if np.iscomplexobj(arr):
        raise UserError(f"{path} holds complex numbers; IDFF trains on real data. Stack the "
                        "real and imaginary parts as columns: np.concatenate([x.real, x.imag], "
                        "axis=1).")
    if arr.dtype.kind not in "biuf":
        raise UserError(f"{path} holds {arr.dtype} values, not numbers; save a numeric (N, D) "
                        "array.")
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise UserError(
            f"{path} holds an array of shape {arr.shape}; expected (N, D) with N >= 2."
        )
    if not np.isfinite(arr).all():
        raise UserError(f"{path} contains NaN or inf values; clean them before training.")
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise UserError(f"{path} has values beyond float32's range (|x| up to "
                        f"{np.abs(arr).max():.3g}); standardise the data (subtract the mean, "
                        "divide by the standard deviation) before training.")
    scale = float(np.abs(out).max())
    if scale > 1e6:
        raise UserError(f"{path} has values up to {scale:.3g}; the source is N(0, I), so "
                        "training at this scale overflows. Standardise the data (subtract the "
                        "mean, divide by the standard deviation) first.")
    return out


def support_fraction(name: str, x: Tensor) -> float:
    """Share of points ``(N, 2)`` on the distribution's support, a sharper test than MMD.

    ``checkerboard``: inside one of its eight unit squares (a true sample scores 1);
    ``8gaussians``: within 3 standard deviations (0.45) of a mode (a true sample: 0.989).
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"support_fraction needs points of shape (N, 2), got {tuple(x.shape)}.")
    if name == "checkerboard":
        inside = (x >= -2).all(1) & (x < 2).all(1)
        parity = (torch.floor(x[:, 0]) + torch.floor(x[:, 1])).remainder(2) == 0
        return (inside & parity).double().mean().item()
    if name == "8gaussians":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        centers = torch.stack([torch.cos(angles), torch.sin(angles)], 1) * 2.0
        return (torch.cdist(x, centers).min(1).values <= 0.45).double().mean().item()
    raise ValueError(f"support_fraction knows checkerboard and 8gaussians, not {name!r}.")
