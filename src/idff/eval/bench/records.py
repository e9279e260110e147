"""What a benchmark passes around: a run's sampling candidates (:class:`BenchEntry`), one
scored cell (:class:`BenchRow`), the sampler signature and the default NFE budgets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NFE_GRID", "Sampler", "BenchEntry", "BenchRow"]

NFE_GRID: tuple[int | str, ...] = (1, 2, 4, 6, 10, 20, 50, 100, "adaptive")

#: ``sampler(n, nfe, solver, seed) -> samples (N, ...) or a SampleResult``
Sampler = Callable[[int, "int | None", "str | None", int], Any]


@dataclass
class BenchEntry:
    """One trained run: its label, method and sampling-noise candidates.

    Attributes:
        label: the name in tables and plots.
        method: ``"idff"``, ``"otcfm"`` or ``"icfm"``.
        samplers: candidate name (e.g. ``"gamma=0.5"``) -> sampler; one entry when the
            method has no sampling noise.
        info: free-form facts reported with the run (training steps, run directory).
        settings: candidate name -> the sampling settings it runs with (solver, grid,
            noise; :data:`idff.sampling.SAMPLER_KNOBS`), for candidates bound to a solver:
            what ``idff bench nfe --store`` writes into the run for the chosen one.
    """

    label: str
    method: str
    samplers: dict[str, Sampler]
    info: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        if not self.samplers:
            raise ValueError(f"entry {self.label!r} has no sampler.")


@dataclass
class BenchRow:
    """One (entry, NFE budget) result; ``seconds_per_1k`` is the evaluation sampling time."""

    label: str
    method: str
    nfe_budget: str
    nfe: int
    solver: str
    noise: str
    metric: str
    value: float
    seconds_per_1k: float
    n_samples: int
    extra: dict[str, float] = field(default_factory=dict)
