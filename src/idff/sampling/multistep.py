"""Multistep solvers, one network call per step (docs/METHOD.md, "Few-step solvers").

- ``ab2``, ``ab3``, ``ab4``: Adams–Bashforth on the drift (iPNDM on a uniform grid), with
  variable steps and a lower-order start;
- ``dpm2m``, ``dpm3m``: DPM-Solver++ multistep in data-prediction form for the flow path,
  with the data prediction ``x̂1 = x + (1 − t)·drift`` (IDFF's ``x̂1 − (1 − t)·ŝ``, a CFM
  velocity's implied endpoint); the final step to ``t = 1`` extrapolates the last two
  predictions (``dD/dt = 0`` at ``t = 1``);
- ``unipc2``, ``unipc3``: UniPC (B(h) = e^h − 1) on the same data prediction: the
  ``dpm``-style predictor of order 2 or 3 and a corrector that reuses the call at the new
  point, so each interior step gains an order without spending a call; the same final step.

Their arithmetic is in float64 torch on the grid, so a learned grid gets its gradients.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from idff.fields import Field
from idff.sampling.base import Solver, Step

__all__ = ["Multistep", "AdamsBashforth", "DPMSolverPP", "UniPC"]

_NODES, _WEIGHTS = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(16))


def _lagrange_integrals(nodes: list[Tensor], h: Tensor, exp_kernel: bool) -> list[Tensor]:
    """``w_j = ∫_0^h ℓ_j(u) k(u) du`` for the Lagrange basis ``ℓ_j`` through ``nodes``
    (``u`` measured from the current point), ``k = 1`` or ``k = e^u``; 16-point
    Gauss–Legendre, exact for the polynomial case and to rounding for ``e^u``."""
    u = 0.5 * h * (_NODES + 1)
    kern = torch.exp(u) if exp_kernel else torch.ones_like(u)
    out = []
    for j, uj in enumerate(nodes):
        basis = torch.ones_like(u)
        for i, ui in enumerate(nodes):
            if i != j:
                basis = basis * (u - ui) / (uj - ui)
        out.append(0.5 * h * (_WEIGHTS * basis * kern).sum())
    return out


def _logit(t: Tensor) -> Tensor:
    return torch.log(t) - torch.log1p(-t)


def _unipc_rhos(lams: list[Tensor], lam_new: Tensor, corrector: bool) -> tuple[Tensor, Tensor]:
    """UniPC's coefficients (B(h) = e^h − 1) for a step from ``lams[-1]`` to ``lam_new``
    in data-prediction form, docs/METHOD.md, "Few-step solvers": the ratios
    ``r_m = (λ_m − λ_n)/h`` of the older nodes and the weights ``ρ`` of the scaled
    differences ``(D_m − D_n)/r_m`` (and, for the corrector, of ``D_new − D_n`` last).
    Returns ``(r, ρ)``."""
    h = lam_new - lams[-1]
    r = torch.stack([(lm - lams[-1]) / h for lm in lams[-2::-1]]) if len(lams) > 1 else None
    p = len(lams) + (1 if corrector else 0) - 1  # unknown weights
    if p == 0:
        return r, h.new_zeros(0)
    if p == 1:  # UniP-2 and UniC-1 take ρ = 1/2, as the reference solver does
        return r, h.new_tensor([0.5])
    hh = -h
    b_h = torch.expm1(hh)
    phi = torch.expm1(hh) / hh - 1
    fact, b = 1.0, []
    for i in range(1, p + 1):
        b.append(phi * fact / b_h)
        fact *= i + 1
        phi = phi / hh - 1 / fact
    nodes = torch.cat([r, h.new_ones(1)]) if corrector else r
    mat = torch.stack([nodes**i for i in range(p)])
    return r, torch.linalg.solve(mat, torch.stack(b))


def _unipc_step(x: Tensor, tk: Tensor, tn: Tensor, hist: list[tuple[Tensor, Tensor]],
                d_new: Tensor | None) -> Tensor:
    """One UniPC step from the corrected state ``x`` at ``tk`` (the last node of ``hist``)
    to ``tn < 1``: the predictor when ``d_new`` is None, else the corrector that also uses
    the prediction ``d_new`` made at ``tn`` (docs/METHOD.md, "Few-step solvers")."""
    dtype = x.dtype
    d_n = hist[-1][1]
    if tk == 0:  # λ = −∞: exact integral in t of D, constant (predictor) or linear (corrector)
        x_new = (1 - tn).to(dtype) * x + tn.to(dtype) * d_n
        if d_new is not None:
            w = (1 / (1 - tn) + torch.log1p(-tn) - 1) / tn * (1 - tn)
            x_new = x_new + w.to(dtype) * (d_new - d_n)
        return x_new
    lam_k, lam_n = _logit(tk), _logit(tn)
    nodes = [(s, dj) for s, dj in hist if s > 0]
    r, rho = _unipc_rhos([_logit(s) for s, _ in nodes], lam_n, d_new is not None)
    h = lam_n - lam_k
    base = ((1 - tn) / (1 - tk)).to(dtype) * x - (tn * torch.expm1(-h)).to(dtype) * d_n
    diffs = [(dj - d_n) / r[i].to(dtype) for i, (_, dj) in enumerate(nodes[-2::-1])]
    if d_new is not None:
        diffs.append(d_new - d_n)
    res = sum((rho[i].to(dtype) * dv for i, dv in enumerate(diffs)), torch.zeros_like(x))
    return base + (tn * torch.expm1(-h)).neg().to(dtype) * res


def _final_jump(history: list[tuple[Tensor, Tensor]], dtype: torch.dtype) -> Tensor:
    """``x_1 = D(1)`` from the last two data predictions, with ``dD/dt = 0`` at ``t = 1``:
    ``D(t) ≈ D(1) + a·(1 − t)²`` (the last prediction itself when there is only one)."""
    tk, d = history[-1]
    if len(history) == 1:
        return d
    (tp, dp), r = history[-2], (1 - tk) ** 2
    return d + (r / ((1 - tp) ** 2 - r)).to(dtype) * (d - dp)


class Multistep(Solver):
    """A multistep family of order ``order``: it keeps the last ``order`` (time, value)
    pairs. ``of(k)`` is the registered member of order ``k``."""

    family = ""

    @classmethod
    def of(cls, k: int) -> type[Multistep]:
        return type(cls.__name__ + str(k), (cls,), {"name": f"{cls.family}{k}", "order": k,
                                                    "summary": f"{cls.summary}, order {k}"})

    def start(self, field: Field, x0: Tensor) -> None:
        self.history: list[tuple[Tensor, Tensor]] = []  # (time, drift or data prediction)

    def step(self, field: Field, x: Tensor, s: Step) -> Tensor:
        x_new = self.advance(field, x, s)
        del self.history[:-self.order]
        return x_new

    def advance(self, field: Field, x: Tensor, s: Step) -> Tensor:
        raise NotImplementedError

    def prediction(self, field: Field, x: Tensor, s: Step) -> Tensor:
        """The data prediction ``x̂1 = x + (1 − t)·drift`` at ``t_k``."""
        return x + (1 - s.tk).to(x.dtype) * field.drift(s.t, x)


class AdamsBashforth(Multistep):
    family, summary = "ab", "Adams–Bashforth on the drift (one call per step)"

    def advance(self, field: Field, x: Tensor, s: Step) -> Tensor:
        self.history.append((s.tk, field.drift(s.t, x)))
        nodes = self.history[-self.order:]
        w = _lagrange_integrals([t - s.tk for t, _ in nodes], s.dt, exp_kernel=False)
        return x + sum(wj.to(x.dtype) * dj for wj, (_, dj) in zip(w, nodes))


class DPMSolverPP(Multistep):
    family, summary = "dpm", "DPM-Solver++ multistep (one call per step)"

    @classmethod
    def of(cls, k: int) -> type[Multistep]:
        sub = super().of(k)
        sub.name = f"dpm{k}m"
        return sub

    def advance(self, field: Field, x: Tensor, s: Step) -> Tensor:
        tk, tn, h, dtype = s.tk, s.tn, s.dt, x.dtype
        d = self.prediction(field, x, s)
        self.history.append((tk, d))
        nodes = [(t, dj) for t, dj in self.history[-self.order:] if t > 0]
        if tn == 1 and len(self.history) > 1:
            return _final_jump(self.history, dtype)
        if tk == 0 or tn == 1 or len(nodes) == 1:
            return x + (h / (1 - tk)).to(dtype) * (d - x)
        lam = _logit(tk)
        w = _lagrange_integrals([_logit(t) - lam for t, _ in nodes], _logit(tn) - lam,
                                exp_kernel=True)
        scale = (1 - tn) * tk / (1 - tk)
        return ((1 - tn) / (1 - tk)).to(dtype) * x + sum(
            (scale * wj).to(dtype) * dj for wj, (_, dj) in zip(w, nodes))


class UniPC(Multistep):
    family, summary = "unipc", "UniPC predictor-corrector (one call per step)"

    def start(self, field: Field, x0: Tensor) -> None:
        super().start(field, x0)
        self.corrected = x0  # the corrected state at the last node (x is the predicted one)

    def advance(self, field: Field, x: Tensor, s: Step) -> Tensor:
        d = self.prediction(field, x, s)
        if self.history:  # correct the state at tk with the call just made there
            self.corrected = _unipc_step(self.corrected, self.history[-1][0], s.tk,
                                         self.history[-self.order:], d)
        self.history.append((s.tk, d))
        if s.tn == 1:
            return _final_jump(self.history, x.dtype)
        return _unipc_step(self.corrected, s.tk, s.tn, self.history[-self.order:], None)
