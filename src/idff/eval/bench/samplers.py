"""Benchmark samplers from a loaded run: one per sampling candidate (noise, solver, grid), the
run's stored per-budget samplers, and the solver and grid specs they are named by (the
sampling registry's parsers)."""

from __future__ import annotations

from typing import Any

import torch

from idff.eval.bench.records import Sampler
from idff.runs import Run, get_kind
from idff.sampling import registry
from idff.sampling.result import SampleResult

__all__ = ["sampler_settings", "run_sampler", "parse_grid", "parse_solver", "stored_sampler",
           "with_solver"]


def sampler_settings(run: Run, noise: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sampling overrides a candidate with ``noise`` runs with: ``noise`` itself, plus
    the diffusion switch of kinds whose published recipe is an SDE."""
    base = dict(noise or {})
    if base.get("field") == "published" and base.get("s", 0) > 0 and \
            get_kind(run.kind).published_sde:
        base["sde"] = True
    return base


def run_sampler(run: Run, noise: dict[str, Any] | None = None,
                device: str | torch.device = "cpu") -> Sampler:
    """A benchmark sampler for a loaded run (any registered kind with a ``sample``).

    ``noise`` holds ``field`` and ``gamma`` (``pf``) or ``s`` (``published``) for IDFF
    runs, nothing for CFM runs. Without a solver of its own a candidate with diffusion
    (``γ > 0``, or the published field's ``s`` on kinds whose published recipe is an SDE)
    integrates with Euler–Maruyama; otherwise with the run's solver.
    """
    base = sampler_settings(run, noise)

    def sampler(n: int, nfe: int | None, solver: str | None, seed: int):
        if solver is None and (base.get("gamma", 0) > 0 or base.get("sde")):
            solver = "euler"
        with torch.no_grad():
            res = run.sample(n, seed=seed, nfe=nfe, solver=solver, device=device, clamp=False,
                             **base)
        return SampleResult(x=res.x, nfe=res.nfe)

    return sampler


def parse_grid(spec: str) -> dict[str, Any]:
    """A grid candidate (``uniform``, ``power:1.5``, ...) -> its sampling overrides; the
    registry's parser (:func:`idff.sampling.registry.parse_grid`)."""
    return registry.parse_grid(spec)


def parse_solver(spec: str) -> tuple[str, dict[str, Any]]:
    """A solver candidate (``midpoint``, ``rk2:0.25``, ...) -> ``(name, sampling
    overrides)``; the registry's parser (:func:`idff.sampling.registry.parse_solver`)."""
    return registry.parse_solver(spec)


def stored_sampler(run: Run, field: str = "pf",
                   device: str | torch.device = "cpu") -> Sampler:
    """A candidate that samples each budget with the sampler the run stores for it
    (``sampling.budgets``), as ``idff sample RUN --nfe N`` does; budgets without an entry, or
    whose entry uses another IDFF field than ``field``, are refused (the candidate skips
    them)."""
    table = run.sampling.budgets or {}

    def sampler(n: int, nfe: int | None, asked: str | None, seed: int):
        if asked is not None or nfe not in table:
            raise ValueError(f"no sampler stored for NFE {nfe}.")
        if run.sampling.replace(nfe=nfe).field != field:
            raise ValueError(f"the sampler stored for NFE {nfe} uses another field.")
        with torch.no_grad():
            res = run.sample(n, seed=seed, nfe=nfe, device=device, clamp=False)
        return SampleResult(x=res.x, nfe=res.nfe)

    return sampler


def with_solver(base: Sampler, solver: str, adaptive: bool = False,
                grid: dict[str, Any] | None = None) -> Sampler:
    """``base`` with its fixed-budget solver set to ``solver``; adaptive budgets pass through
    when ``adaptive`` (one candidate per entry should take them), else are refused. With a
    non-uniform ``grid``, a budget of one step (where every grid is ``[0, 1]``) is refused,
    so the uniform candidate alone runs it."""
    def sampler(n: int, nfe: int | None, asked: str | None, seed: int):
        if asked is not None:
            if not adaptive:
                raise ValueError(f"candidate bound to solver {solver!r} is for fixed budgets "
                                 "only.")
            return base(n, nfe, asked, seed)
        least = registry.solver_class(solver).min_nfe
        if nfe is not None and nfe < least:
            raise ValueError(f"solver {solver!r} needs at least {least} evaluations.")
        if grid and grid.get("grid", "uniform") not in ("uniform", "custom") and \
                nfe is not None and registry.steps_for_nfe(nfe, solver) == 1:
            raise ValueError("one step: every grid is [0, 1], the uniform candidate runs it.")
        return base(n, nfe, solver, seed)

    return sampler
