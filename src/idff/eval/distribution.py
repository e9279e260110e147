"""Sample-set metrics in a feature space: a bootstrap interval for the Fréchet distance and
k-nearest-neighbour precision and recall (Kynkäänniemi et al., 2019).

Precision is the fraction of generated samples that fall inside the real manifold (the
union of balls around each real feature with radius its distance to its ``k``-th nearest
real neighbour); recall is the fraction of real samples inside the generated manifold.
Low precision means samples off the data (blur, artefacts); low recall means modes missed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from idff.eval.fid import frechet_distance

__all__ = ["knn_radii", "knn_precision_recall", "frechet_bootstrap"]


def knn_radii(feats: Tensor, k: int = 3, chunk: int = 2048) -> Tensor:
    """Distance of each row to its ``k``-th nearest other row, ``(N,)``."""
    if not 1 <= k < len(feats):
        raise ValueError(f"k must be in [1, {len(feats) - 1}] for {len(feats)} points, got {k}.")
    out = []
    for lo in range(0, len(feats), chunk):
        d = torch.cdist(feats[lo:lo + chunk], feats)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the 0 distance to itself comes first
    return torch.cat(out)


def _inside(points: Tensor, centres: Tensor, radii: Tensor, chunk: int = 2048) -> Tensor:
    hits = []
    for lo in range(0, len(points), chunk):
        d = torch.cdist(points[lo:lo + chunk], centres)
        hits.append((d <= radii[None]).any(dim=1))
    return torch.cat(hits)


def knn_precision_recall(real: Tensor | np.ndarray, fake: Tensor | np.ndarray,
                         k: int = 3) -> dict[str, float]:
    """k-NN precision and recall of ``fake`` against ``real`` (features ``(N, D)``).

    Use sets of equal size: both numbers depend on the sample counts.
    """
    real = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    fake = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) with one D: got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}.")
    precision = _inside(fake, real, knn_radii(real, k)).double().mean().item()
    recall = _inside(real, fake, knn_radii(fake, k)).double().mean().item()
    return {"precision": precision, "recall": recall}


def frechet_bootstrap(feats: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray,
                      n_boot: int = 200, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float]:
    """Fréchet distance of ``feats`` ``(N, D)`` to a reference, and a percentile bootstrap
    interval over resamples of ``feats`` (the reference statistics held fixed).

    Returns:
        ``(value, low, high)``.
    """
    feats = np.asarray(feats, np.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"need (N ≥ 2, D) features, got shape {feats.shape}.")

    def fd(x: np.ndarray) -> float:
        return frechet_distance(x.mean(0), np.cov(x, rowvar=False), mu_ref, sigma_ref)

    rng = np.random.default_rng(seed)
    boots = [fd(feats[rng.integers(0, len(feats), len(feats))]) for _ in range(n_boot)]
    lo, hi = np.percentile(boots, [50 * (1 - level), 50 * (1 + level)])
    return fd(feats), float(lo), float(hi)
