"""Kolmogorov flow: 2-D incompressible Navier–Stokes in vorticity form on the periodic
square ``[0, 2π]²``, batched over trajectories, in torch (docs/METHOD.md, "Kolmogorov flow").

    ∂ω/∂t + u·∇ω = ν ∇²ω − α ω + f,   f = −k_f cos(k_f y)

``ω = ∂x v − ∂y u`` is the vorticity, ``u = (u, v) = (∂y ψ, −∂x ψ)`` with ``−∇²ψ = ω``; the
forcing ``sin(k_f y)`` in the x-velocity has curl ``f``. Defaults: ``ν = 1e-3`` (Re = 1000),
linear drag ``α = 0.1``, ``k_f = 4``. Pseudo-spectral in space with the 2/3 rule, the
integrating-factor RK4 step in time (the linear terms are integrated exactly).

Fields are ``(B, N, N)`` tensors indexed ``[b, i_y, i_x]`` on the grid
``x_j = y_j = 2π j / N``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

__all__ = ["KolmogorovFlow", "KolmogorovParams", "block_average", "energy_spectrum",
           "fine_perturbation", "random_vorticity", "taylor_green", "upsample_consistent"]


@dataclass(frozen=True)
class KolmogorovParams:
    """Physical and numerical parameters.

    Attributes:
        n: grid points per side.
        nu: kinematic viscosity (``1/Re`` for unit length and velocity scales).
        drag: linear drag coefficient ``α``.
        k_forcing: forcing wavenumber ``k_f``.
        forcing: amplitude of ``sin(k_f y)`` in the x-velocity (0 switches it off).
        dt: time step; default ``0.01 · 64 / n`` (CFL ≈ 0.3 at the turbulent velocities).
    """

    n: int = 64
    nu: float = 1e-3
    drag: float = 0.1
    k_forcing: int = 4
    forcing: float = 1.0
    dt: float | None = None

    def step_size(self) -> float:
        return self.dt if self.dt is not None else 0.01 * 64 / self.n

    def as_dict(self) -> dict:
        return {**asdict(self), "dt": self.step_size()}


class KolmogorovFlow:
    """The solver for one grid; states are spectral vorticities ``ω̂ (B, N, N//2+1)``.

    Args:
        params: see :class:`KolmogorovParams`.
        dtype: real dtype of the grid fields (``torch.float64`` for tests, ``float32`` for
            data sets).
        device: where the fields live.
    """

    def __init__(self, params: KolmogorovParams | None = None, dtype: torch.dtype = torch.float64,
                 device: str | torch.device = "cpu"):
        p = self.params = params or KolmogorovParams()
        if p.n < 8 or p.n % 2:
            raise ValueError(f"the grid must be even and at least 8 points, got n={p.n}.")
        n = p.n
        self.dtype, self.device = dtype, torch.device(device)
        kx = torch.fft.rfftfreq(n, 1.0 / n, dtype=dtype, device=self.device)
        ky = torch.fft.fftfreq(n, 1.0 / n, dtype=dtype, device=self.device)
        self.ky, self.kx = torch.meshgrid(ky, kx, indexing="ij")
        self.k2 = self.kx**2 + self.ky**2
        self.inv_k2 = torch.where(self.k2 > 0, 1.0 / self.k2.clamp(min=1),
                                  torch.zeros_like(self.k2))
        # 2/3 rule: keep |k_x|, |k_y| < n/3
        cut = n / 3
        self.dealias = ((self.kx.abs() < cut) & (self.ky.abs() < cut)).to(dtype)
        self.dt = p.step_size()
        lin = -p.nu * self.k2 - p.drag
        self.e_full = torch.exp(lin * self.dt)
        self.e_half = torch.exp(lin * self.dt / 2)
        y = self.grid()[0]
        self.f_hat = torch.fft.rfft2(-p.forcing * p.k_forcing * torch.cos(p.k_forcing * y))

    # -- grid and transforms ----------------------------------------------------------------

    def grid(self) -> tuple[Tensor, Tensor]:
        """``(y, x)`` coordinates ``(N, N)``."""
        c = torch.arange(self.params.n, dtype=self.dtype, device=self.device) * (
            2 * math.pi / self.params.n)
        return torch.meshgrid(c, c, indexing="ij")

    def to_spectral(self, w: Tensor) -> Tensor:
        """Grid vorticity ``(B, N, N)`` → dealiased ``ω̂``."""
        self._check(w)
        return torch.fft.rfft2(w.to(self.dtype)) * self.dealias

    def to_grid(self, w_hat: Tensor) -> Tensor:
        return torch.fft.irfft2(w_hat, s=(self.params.n, self.params.n))

    def velocity(self, w_hat: Tensor) -> tuple[Tensor, Tensor]:
        """``(u, v)`` on the grid: ``ψ̂ = ω̂/|k|²``, ``u = ∂y ψ``, ``v = −∂x ψ``."""
        psi = w_hat * self.inv_k2
        return self.to_grid(1j * self.ky * psi), self.to_grid(-1j * self.kx * psi)

    def _check(self, w: Tensor) -> None:
        n = self.params.n
        if w.dim() != 3 or tuple(w.shape[1:]) != (n, n):
            raise ValueError(f"vorticity must be (B, {n}, {n}), got {tuple(w.shape)}; add a "
                             "batch axis with w[None].")

    # -- dynamics ---------------------------------------------------------------------------

    def nonlinear(self, w_hat: Tensor) -> Tensor:
        """``N(ω̂) = −(u·∇ω)^ + f̂``, dealiased."""
        u, v = self.velocity(w_hat)
        wx, wy = self.to_grid(1j * self.kx * w_hat), self.to_grid(1j * self.ky * w_hat)
        return (-torch.fft.rfft2(u * wx + v * wy) + self.f_hat) * self.dealias

    def step(self, w_hat: Tensor) -> Tensor:
        """One integrating-factor RK4 step of size ``dt`` (docs/METHOD.md, "Kolmogorov flow")."""
        dt, e, e2 = self.dt, self.e_full, self.e_half
        k1 = dt * self.nonlinear(w_hat)
        k2 = dt * self.nonlinear(e2 * (w_hat + k1 / 2))
        k3 = dt * self.nonlinear(e2 * w_hat + k2 / 2)
        k4 = dt * self.nonlinear(e * w_hat + e2 * k3)
        return e * w_hat + (e * k1 + 2 * e2 * (k2 + k3) + k4) / 6

    def advance(self, w_hat: Tensor, time: float) -> Tensor:
        """Integrate for ``time`` (a whole number of steps)."""
        steps = round(time / self.dt)
        if abs(steps * self.dt - time) > 1e-9 * max(1.0, time):
            raise ValueError(f"time {time} is not a multiple of the step {self.dt}; choose a "
                             "frame interval that is.")
        for _ in range(steps):
            w_hat = self.step(w_hat)
        if not torch.isfinite(w_hat).all():
            raise FloatingPointError("the simulation blew up; use a smaller dt.")
        return w_hat

    # -- diagnostics ------------------------------------------------------------------------

    def energy(self, w_hat: Tensor) -> Tensor:
        """Mean kinetic energy ``½⟨|u|²⟩`` per trajectory ``(B,)``."""
        u, v = self.velocity(w_hat)
        return 0.5 * (u**2 + v**2).mean((-2, -1))

    def energy_budget(self, w_hat: Tensor) -> dict[str, Tensor]:
        """Terms of ``dE/dt = ⟨u F⟩ − ν⟨ω²⟩ − 2αE`` per trajectory (injection, viscous and
        drag dissipation)."""
        p = self.params
        u, _ = self.velocity(w_hat)
        y = self.grid()[0]
        w = self.to_grid(w_hat)
        return {
            "injection": (u * p.forcing * torch.sin(p.k_forcing * y)).mean((-2, -1)),
            "viscous": p.nu * (w**2).mean((-2, -1)),
            "drag": 2 * p.drag * self.energy(w_hat),
        }


def taylor_green(n: int, amplitude: float = 1.0, k: int = 1,
                 dtype: torch.dtype = torch.float64) -> Tensor:
    """The Taylor–Green vorticity ``2 A k cos(kx) cos(ky)`` on an ``n²`` grid, ``(1, n, n)``.

    Its stream function ``ψ = A/k cos(kx) cos(ky)`` makes ``u·∇ω = 0``, so without forcing it
    decays as ``exp(−(2νk² + α) t)`` (energy at twice the rate).
    """
    c = torch.arange(n, dtype=dtype) * (2 * math.pi / n)
    y, x = torch.meshgrid(c, c, indexing="ij")
    return (2 * amplitude * k * torch.cos(k * x) * torch.cos(k * y))[None]


def random_vorticity(batch: int, n: int, k_peak: float = 4.0, rms: float = 5.0,
                     generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float64) -> Tensor:
    """Random band-limited initial vorticity ``(B, n, n)``: Gaussian Fourier modes with an
    amplitude ``∝ k exp(−k²/k_peak²)``, scaled to the given root-mean-square. Only
    wavenumbers ``|k| < 3 k_peak`` are excited and the draws do not depend on ``n``, so
    every grid with ``n ≥ 6 k_peak + 2`` sees the same field for the same generator."""
    m = 2 * int(math.ceil(3 * k_peak)) + 2
    if n < m:
        raise ValueError(f"a grid of {n} points cannot hold k_peak={k_peak}; use n >= {m}.")
    noise = torch.randn(batch, m, m // 2 + 1, 2, generator=generator, dtype=torch.float64)
    kx = torch.fft.rfftfreq(m, 1.0 / m, dtype=torch.float64)
    ky = torch.fft.fftfreq(m, 1.0 / m, dtype=torch.float64)
    kk = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    amp = kk * torch.exp(-(kk**2) / k_peak**2) * (kk < 3 * k_peak)
    spec_small = torch.complex(noise[..., 0], noise[..., 1]) * amp
    spec = torch.zeros(batch, n, n // 2 + 1, dtype=torch.complex128)
    h = m // 2
    spec[:, :h, :h + 1] = spec_small[:, :h, :h + 1]
    spec[:, -h:, :h + 1] = spec_small[:, -h:, :h + 1]
    w = torch.fft.irfft2(spec, s=(n, n))
    w = w - w.mean((-2, -1), keepdim=True)
    w = w * rms / w.pow(2).mean((-2, -1), keepdim=True).sqrt().clamp(min=1e-12)
    return w.to(dtype)


def block_average(w: Tensor, factor: int) -> Tensor:
    """Average ``factor × factor`` blocks of ``(..., N, N)`` fields into ``(..., N/f, N/f)``."""
    n = w.shape[-1]
    if n % factor:
        raise ValueError(f"the grid ({n}) is not divisible by the block size {factor}.")
    s = w.shape[:-2]
    return w.reshape(*s, n // factor, factor, n // factor, factor).mean((-3, -1))


def upsample_consistent(coarse: Tensor, factor: int) -> Tensor:
    """A fine field whose ``factor × factor`` block averages are exactly ``coarse``
    ``(B, n, n)``: the Fourier (band-limited) interpolation of ``coarse``, corrected block
    by block by the difference of block means (docs/METHOD.md, "Kolmogorov flow")."""
    b, n = coarse.shape[0], coarse.shape[-1]
    m = n * factor
    c_hat = torch.fft.rfft2(coarse)
    spec = torch.zeros(b, m, m // 2 + 1, dtype=c_hat.dtype, device=coarse.device)
    h = n // 2
    spec[:, :h, :h] = c_hat[:, :h, :h]
    spec[:, -h:, :h] = c_hat[:, -h:, :h]  # the coarse Nyquist modes are dropped
    fine = torch.fft.irfft2(spec, s=(m, m)) * factor**2
    gap = coarse - block_average(fine, factor)
    return fine + gap.repeat_interleave(factor, -2).repeat_interleave(factor, -1)


def fine_perturbation(shape: tuple[int, int, int], factor: int, sd: float,
                      generator: torch.Generator | None = None,
                      dtype: torch.dtype = torch.float64) -> Tensor:
    """White noise ``(B, N, N)`` with zero ``factor × factor`` block means and root-mean-square
    ``sd``: it changes the fine scales and leaves the coarse state unchanged."""
    eta = torch.randn(shape, generator=generator, dtype=dtype)
    mean = block_average(eta, factor).repeat_interleave(factor, -2).repeat_interleave(factor, -1)
    eta = eta - mean
    return eta * sd / eta.pow(2).mean().sqrt()


def energy_spectrum(w: Tensor) -> Tensor:
    """Shell-summed kinetic energy spectrum ``E(k)``, ``k = 0..N/2``, of grid vorticities
    ``(B, N, N)``, averaged over the batch: ``E(k) = Σ_{k−½ ≤ |k| < k+½} ½|ω̂|²/|k|²``
    (normalised so that ``Σ_k E(k) = ½⟨|u|²⟩``)."""
    n = w.shape[-1]
    w_hat = torch.fft.fft2(w.double()) / n**2
    k1 = torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64)
    ky, kx = torch.meshgrid(k1, k1, indexing="ij")
    k2 = kx**2 + ky**2
    e = 0.5 * (w_hat.abs() ** 2).mean(0) / torch.where(k2 > 0, k2, torch.ones_like(k2))
    e[0, 0] = 0
    shell = torch.sqrt(k2).round().long().clamp(max=n // 2)
    return torch.zeros(n // 2 + 1, dtype=torch.float64).index_add_(0, shell.flatten(), e.flatten())
