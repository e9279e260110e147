"""Torsion trajectories as learning data: sources, splits and (frame k → frame k+τ) pairs.

Sources: the OpenMM simulations of :mod:`idff.md.simulate`, user trajectories (DCD/XTC
+ topology, :func:`idff.md.dihedrals.load_torsions`) and the published pickle layout
(a dict with ``angles`` and ``sim_length``).

A transition sample is ``x0`` = features of frame ``k``, ``x1`` = features of frame
``k + τ`` and a conditioning vector ``cond``: the features of the current frame and of
``h`` earlier frames (``k - τ, ..., k - hτ``), or, as in the published code, the frame
index ``k`` scaled to ``[0, 1]``. Features are ``sin/cos`` of the angles
(:func:`idff.md.dihedrals.to_features`) or, for non-periodic series (Lorenz-63), the
standardised state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from idff.data.safe_pickle import safe_load
from idff.md.dihedrals import to_features, wrap

__all__ = ["COND_MODES", "load_published_pickle", "TransitionSet", "make_transitions",
           "TransitionStream", "cond_dim"]

COND_MODES = ("state", "index")


def load_published_pickle(path: str | Path, units: str = "degrees") -> tuple[np.ndarray, int]:
    """Read the published MD data layout: a pickled dict with ``angles`` and ``sim_length``.

    Args:
        path: the pickle file.
        units: ``"degrees"`` or ``"radians"`` (the stored angles' unit).

    Returns:
        ``(angles, sim_length)``: angles in degrees on ``[-180, 180)``, shape
        ``(sim_length, K)`` (the first ``sim_length`` frames), and ``sim_length``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"published MD data file {path} does not exist.")
    if units not in ("degrees", "radians"):
        raise ValueError(f"units must be 'degrees' or 'radians', got {units!r}.")
    obj = safe_load(path)  # plain data only: a pickle naming any other callable is refused
    if not isinstance(obj, dict) or not {"angles", "sim_length"} <= set(obj):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(
            f"{path} is not in the published layout: expected a dict with keys 'angles' and "
            f"'sim_length', found {keys}."
        )
    angles = np.asarray(obj["angles"], dtype=float)
    if angles.ndim == 1:
        angles = angles[:, None]
    if angles.ndim != 2:
        raise ValueError(f"'angles' must have shape (frames, torsions), got {angles.shape}.")
    n = int(obj["sim_length"])
    if not 1 <= n <= angles.shape[0]:
        raise ValueError(
            f"sim_length={n} but 'angles' has {angles.shape[0]} frames; sim_length must be "
            "between 1 and the number of frames."
        )
    if units == "radians":
        angles = np.rad2deg(angles)
    return wrap(angles[:n]), n


@dataclass
class TransitionSet:
    """Pairs for training: ``x0``, ``x1`` of shape ``(N, D)`` and ``cond`` of shape ``(N, C)``."""

    x0: Tensor
    x1: Tensor
    cond: Tensor

    def __len__(self) -> int:
        return self.x0.shape[0]


def cond_dim(dim: int, cond: str, history: int) -> int:
    """Size of the conditioning vector for feature dimension ``dim``."""
    if cond not in COND_MODES:
        raise ValueError(f"unknown conditioning {cond!r}; choose one of {', '.join(COND_MODES)}.")
    return dim * (history + 1) if cond == "state" else 1


def build_cond(window: np.ndarray | Tensor, index: np.ndarray | Tensor | None, cond: str,
               index_scale: float) -> Tensor:
    """Conditioning from the last ``h + 1`` states ``(B, h+1, D)`` (oldest first) or the index."""
    if cond == "state":
        w = torch.as_tensor(window, dtype=torch.float32)
        return w.flip(1).reshape(w.shape[0], -1)  # current frame first
    if index is None:
        raise ValueError("index conditioning needs the frame index of each sample.")
    return torch.as_tensor(index, dtype=torch.float32).reshape(-1, 1) / index_scale


def make_transitions(
    series: Sequence[np.ndarray],
    lag: int = 1,
    history: int = 0,
    cond: str = "state",
    periodic: bool = True,
    index_scale: float | None = None,
) -> TransitionSet:
    """All pairs (frame k, frame k + lag) of a list of series.

    Args:
        series: arrays ``(T_i, K)``: angles in degrees when ``periodic``, else features.
        lag: ``τ`` in frames.
        history: number of earlier frames (spaced by ``lag``) in the conditioning.
        cond: ``"state"`` (current frame and history) or ``"index"`` (frame index / scale).
        periodic: convert angles to ``sin/cos`` features.
        index_scale: divisor of the frame index (default: the longest series length).
    """
    if lag < 1 or history < 0:
        raise ValueError(f"lag must be >= 1 and history >= 0, got lag={lag}, history={history}.")
    cond_dim(1, cond, history)
    if not series:
        raise ValueError("no trajectories given.")
    scale = float(index_scale or max(len(s) for s in series))
    x0s, x1s, conds = [], [], []
    need = lag * (history + 1) + 1
    for i, s in enumerate(series):
        s = np.asarray(s, dtype=float)
        if s.ndim != 2:
            raise ValueError(f"trajectory {i} must have shape (frames, K), got {s.shape}.")
        if s.shape[0] < need:
            raise ValueError(
                f"trajectory {i} has {s.shape[0]} frames, fewer than the {need} a pair with "
                f"lag {lag} and history {history} needs; use a smaller --lag/--history or "
                "a longer trajectory."
            )
        f = to_features(s) if periodic else s
        k = np.arange(lag * history, s.shape[0] - lag)
        offsets = -lag * np.arange(history, -1, -1)  # oldest ... current
        window = f[k[:, None] + offsets[None, :]]
        x0s.append(torch.as_tensor(f[k], dtype=torch.float32))
        x1s.append(torch.as_tensor(f[k + lag], dtype=torch.float32))
        conds.append(build_cond(window, k, cond, scale))
    return TransitionSet(torch.cat(x0s), torch.cat(x1s), torch.cat(conds))


class TransitionStream:
    """Endless random minibatches ``(x1, (x0, cond))`` of a :class:`TransitionSet`."""

    def __init__(self, data: TransitionSet, batch_size: int, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.data, self.batch_size = data, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[tuple[Tensor, tuple[Tensor, Tensor]]]:
        n = len(self.data)
        while True:
            idx = torch.randint(0, n, (self.batch_size,), generator=self.gen)
            yield self.data.x1[idx], (self.data.x0[idx], self.data.cond[idx])
