"""What a solve returns."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["SampleResult"]


@dataclass
class SampleResult:
    """Output of :func:`idff.sampling.integrate.integrate`.

    Attributes:
        x: final samples ``(B, ...)``.
        nfe: counted network evaluations per sample.
        trajectory: states ``(K, B, ...)`` at ``times`` when requested, else ``None``.
        times: the ``K`` times of ``trajectory``.
    """

    x: Tensor
    nfe: int
    trajectory: Tensor | None = None
    times: Tensor | None = None
