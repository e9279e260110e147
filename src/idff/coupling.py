"""Minibatch couplings of sources and targets (docs/METHOD.md, "Path and coupling").

``independent`` keeps the pairs as drawn; ``ot`` solves exact minibatch optimal transport
with squared Euclidean cost (POT's ``emd``) and draws pairs from the plan, as in OT-CFM
(Tong et al., 2023).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from idff.path import check_pair

__all__ = ["COUPLINGS", "couple", "cost_matrix", "ot_plan", "transport_cost"]

COUPLINGS = ("independent", "ot")


def transport_cost(x0: Tensor, x1: Tensor) -> Tensor:
    """Mean squared Euclidean distance between paired rows, ``mean_i ||x0_i - x1_i||²``."""
    return (x0 - x1).flatten(1).pow(2).sum(1).mean()


def cost_matrix(x0: Tensor, x1: Tensor) -> Tensor:
    """Squared Euclidean costs ``C[i, j] = ||x0_i - x1_j||²`` ``(B0, B1)``, float32, on the
    batches' device.

    Autocast is off here. On CUDA the distances are summed from differences, not through
    a matrix product, so TF32 matmuls cannot round them; on the CPU the product form is
    used (float32 matmul is exact enough there and 20x faster).
    """
    a = x0.detach().flatten(1).float()
    b = x1.detach().flatten(1).float()
    mode = "donot_use_mm_for_euclid_dist" if a.is_cuda else "use_mm_for_euclid_dist"
    with torch.autocast(a.device.type, enabled=False):
        return torch.cdist(a, b, compute_mode=mode).square()


def ot_plan(x0: Tensor, x1: Tensor) -> np.ndarray:
    """Exact OT plan (uniform marginals) between two batches, squared Euclidean cost.

    The cost matrix is computed on the batches' device (:func:`cost_matrix`); only the
    ``B × B`` matrix goes to the host, where POT's network simplex solves the problem.
    """
    import ot  # POT

    cost = cost_matrix(x0, x1).cpu().double().numpy()
    if not np.isfinite(cost).all():  # on the host already: this check is free
        raise ValueError("the batch contains NaN or inf values; clean the data (e.g. "
                         "torch.nan_to_num) or check the data loader.")
    n, m = cost.shape
    plan = ot.emd(np.full(n, 1.0 / n), np.full(m, 1.0 / m), cost, numItermax=1_000_000)
    if not np.isfinite(plan).all() or plan.sum() < 1e-8:
        raise RuntimeError("the OT solver returned an invalid plan; check the inputs for NaN.")
    return plan


def couple(
    x0: Tensor,
    x1: Tensor,
    method: str = "independent",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Pair sources with targets.

    Args:
        x0: sources ``(B, ...)``.
        x1: targets ``(B, ...)``.
        method: ``"independent"`` (as given) or ``"ot"`` (exact minibatch OT; each target
            ``x1[j]`` keeps its place, and with it any conditioning of the batch, and is
            paired with ``x0[i]``, ``i`` drawn from column ``j`` of the plan).
        generator: random generator used to draw pairs from the OT plan.

    Returns:
        ``(x0, x1)`` re-paired, shape unchanged.
    """
    if method not in COUPLINGS:
        raise ValueError(f"unknown coupling {method!r}; choose one of {', '.join(COUPLINGS)}.")
    check_pair(x0, x1)
    if method == "independent":
        return x0, x1
    plan = torch.from_numpy(ot_plan(x0, x1)).T
    # each target keeps its place (and so its conditioning) and draws its source from its
    # column of the plan; between equal-size batches the exact plan is a permutation, so
    # every pair is used once.
    i = torch.multinomial(plan / plan.sum(1, keepdim=True), 1, generator=generator).squeeze(1)
    return x0[i.to(x0.device)], x1
