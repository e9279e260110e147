"""Time grids ``0 = t_0 < t_1 < … < t_N = 1``, one class each (docs/METHOD.md, "Few-step
solvers"): uniform, power(ρ), log-SNR, custom times and the learned grid of
:mod:`idff.schedule`. Their arithmetic is float64 torch, so a grid may carry gradients."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

__all__ = ["Grid", "Uniform", "Power", "LogSNR", "Custom", "Learned", "LOGSNR_SPAN",
           "check_times"]

#: the ``logsnr`` grid is uniform in λ = log(t/(1 − t)) on [−L, L], rescaled to [0, 1]
LOGSNR_SPAN = 4.0


class Grid:
    """A grid family. ``name`` is its registry name (``power:1.5`` sets its ``param``)."""

    name: ClassVar[str] = ""
    param: ClassVar[str | None] = None
    param_default: ClassVar[Any] = None
    summary: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        self.params = params

    @classmethod
    def parse_param(cls, spec: str, arg: str) -> dict[str, Any]:
        """``name:ARG`` -> the sampling overrides it sets (refused without a parameter)."""
        raise ValueError(f"grid {cls.name!r} takes no parameter, got {spec!r}.")

    @classmethod
    def check_params(cls, **params: Any) -> None:
        """Refuse a bad parameter value (ValueError naming the fix)."""

    def times(self, steps: int) -> Tensor:
        """The ``steps + 1`` times, float64."""
        raise NotImplementedError


def _k(steps: int) -> Tensor:
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"a grid needs an integer number of steps >= 1, got {steps!r}.")
    return torch.arange(steps + 1, dtype=torch.float64) / steps


class Uniform(Grid):
    name, summary = "uniform", "uniform k/N"

    def times(self, steps: int) -> Tensor:
        return _k(steps)


class Power(Grid):
    """``(k/N)^ρ``: ρ > 1 packs steps near the noise."""

    name, param, param_default = "power", "rho", 2.0
    summary = "power (k/N)^rho (power:RHO)"

    @classmethod
    def parse_param(cls, spec: str, arg: str) -> dict[str, Any]:
        try:
            rho = float(arg)
        except ValueError:
            rho = float("nan")
        try:
            cls.check_params(rho=rho)
        except ValueError:
            raise ValueError(f"grid {spec!r}: the power exponent must be a number > 0 "
                             "(e.g. power:2).") from None
        return {"rho": rho}

    @classmethod
    def check_params(cls, rho: Any = 2.0, **_: Any) -> None:
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or \
                not (math.isfinite(rho) and rho > 0):
            raise ValueError(f"the power grid needs an exponent rho > 0, got {rho!r}.")

    def times(self, steps: int) -> Tensor:
        rho = self.params.get("rho", 2.0)
        k = _k(steps)
        self.check_params(rho=rho)
        return k**rho


class LogSNR(Grid):
    """Uniform in ``λ = log(t/(1 − t))`` on ``[−L, L]`` (``L`` = :data:`LOGSNR_SPAN`),
    rescaled to end at 0 and 1."""

    name, summary = "logsnr", "uniform in log-SNR"

    def times(self, steps: int) -> Tensor:
        s = torch.sigmoid(LOGSNR_SPAN * (2 * _k(steps) - 1))
        t = (s - s[0]) / (s[-1] - s[0])
        t[0], t[-1] = 0.0, 1.0
        return t


class Custom(Grid):
    """Given times (``idff tune-schedule`` fits them); as many steps as the budget takes."""

    name, summary = "custom", "custom times (fitted by 'idff tune-schedule')"

    def times(self, steps: int) -> Tensor:
        times = self.params.get("times")
        _k(steps)
        if times is None:
            raise ValueError("grid 'custom' needs its times (0 = t_0 < … < t_N = 1); run "
                             "'idff tune-schedule' or choose grid 'uniform' or 'power'.")
        t = check_times(times)
        if len(t) != steps + 1:
            raise ValueError(f"the custom grid has {len(t) - 1} steps but this budget takes "
                             f"{steps}; tune a grid for this NFE ('idff tune-schedule RUN "
                             "--nfe N') or choose grid 'uniform' or 'power'.")
        return t


class Learned(Grid):
    """``t_k = Σ_{i<k} softmax(θ)_i``: a grid for every θ, which :mod:`idff.schedule` fits
    by gradient; stored as a custom grid once fitted (not a name of its own)."""

    summary = "learned (softmax increments)"

    def times(self, steps: int | None = None) -> Tensor:
        inc = torch.softmax(self.params["theta"], 0)
        t = torch.cat([inc.new_zeros(1), torch.cumsum(inc, 0)])
        return torch.cat([t[:-1], t.new_ones(1)])


def check_times(times: Sequence[float] | Tensor) -> Tensor:
    """``times`` as a float64 tensor after checking it is a grid ``0 = t_0 < … < t_N = 1``.

    Raises:
        ValueError: fewer than two times, not starting at 0 or ending at 1, or not
            strictly increasing.
    """
    try:
        t = torch.as_tensor([float(v) for v in times], dtype=torch.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"grid times must be a list of numbers, got {times!r}.") from e
    if len(t) < 2 or t[0] != 0 or t[-1] != 1:
        raise ValueError("grid times must start at 0 and end at 1 (0 = t_0 < … < t_N = 1), "
                         f"got {[round(float(v), 6) for v in t]}.")
    if not bool((t[1:] > t[:-1]).all()):
        raise ValueError("grid times must be strictly increasing, got "
                         f"{[round(float(v), 6) for v in t]}.")
    return t
