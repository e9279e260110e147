"""Closed-form optimal heads for Gaussian data under independent coupling.

With ``x0 ~ N(0, I)`` and ``x1 ~ N(μ, Σ)`` independent, ``x_t`` of the IDFF path is Gaussian
with mean ``tμ`` and covariance ``C_t = t²Σ + ((1-t)² + σ_t²) I``, and the optimal heads are

    x̂1*(t, x) = E[x1 | x_t = x] = μ + tΣ C_t⁻¹ (x - tμ)
    ŝ*(t, x)  = -E[ε | x_t = x] / λ_t = -(σ²/2) C_t⁻¹ (x - tμ) = (σ²/2) ∇ log p_t(x)

Used to test the objective and the samplers against exact answers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from idff.path import IDFFPath


class GaussianHeads(nn.Module):
    """Exact IDFF heads for ``x1 ~ N(mean, cov)``, callable as ``(t, x) -> (x̂1, ŝ)``.

    Args:
        mean: ``(D,)``; cov: ``(D, D)`` symmetric positive definite; sigma: path ``σ``.
    """

    def __init__(self, mean: Tensor, cov: Tensor, sigma: float):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.register_buffer("cov", torch.as_tensor(cov, dtype=torch.float64))
        self.path = IDFFPath(sigma)

    def _cov_t(self, t: Tensor) -> Tensor:
        d = self.mean.shape[0]
        eye = torch.eye(d, dtype=torch.float64, device=t.device)
        tt = t.double().reshape(-1, 1, 1)
        var = (1 - tt) ** 2 + self.path.sigma_t(tt) ** 2
        return tt**2 * self.cov + var * eye

    def _solve(self, t: Tensor, x: Tensor) -> Tensor:
        """``C_t⁻¹ (x - tμ)`` per sample (one factorisation when all times agree)."""
        tt = t.double().reshape(-1, 1)
        centred = x.double() - tt * self.mean
        if bool((t == t.reshape(-1)[0]).all()):
            return torch.linalg.solve(self._cov_t(t.reshape(-1)[:1])[0], centred.T).T
        return torch.linalg.solve(self._cov_t(t), centred[..., None])[..., 0]

    def forward(self, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        tt = t.double().reshape(-1, 1)
        sol = self._solve(t, x)
        x1_hat = self.mean + tt * (sol @ self.cov.T)
        score = -(self.path.sigma**2 / 2) * sol
        return x1_hat.to(x.dtype), score.to(x.dtype)

    def eps_posterior_mean(self, t: Tensor, x: Tensor) -> Tensor:
        """``E[ε | x_t = x] = σ_t C_t⁻¹ (x - tμ)``."""
        tt = t.double().reshape(-1, 1)
        return (self.path.sigma_t(tt) * self._solve(t, x)).to(x.dtype)
