"""A run directory adapted into a benchmark entry: its sampling candidates (noise, solver,
grid) and the facts reported with it (:func:`entry_from_run`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from idff.eval.bench.records import BenchEntry
from idff.eval.bench.samplers import (
    parse_grid,
    parse_solver,
    run_sampler,
    sampler_settings,
    stored_sampler,
    with_solver,
)
from idff.runs import load
from idff.sampling.registry import solver_class

__all__ = ["entry_from_run"]


def entry_from_run(run_dir: str | Path, label: str | None = None,
                   gammas: Sequence[float] = (0.0, 0.5, 1.0),
                   field: str = "pf", solvers: Sequence[str] | None = None,
                   device: str | torch.device = "cpu", compile: bool = False,
                   grids: Sequence[str] | None = None) -> BenchEntry:
    """Adapt a run directory into a benchmark entry with its sampling candidates.

    IDFF runs get one candidate per ``γ`` (or ``s`` for ``field="published"``; one
    noise-free candidate for the score-free ``field="x1"`` or ``"velocity"``); with
    ``solvers``, one per (solver, noise) pair that the solver can integrate (``γ > 0``
    only with ``euler``, ``ddim``, ``ddim2``; ``ddim*`` only for ``pf``). CFM runs get one
    candidate per ODE solver in ``solvers``. ``grids`` (specs of :func:`parse_grid`) crosses
    every solver candidate with each time grid (``srk`` keeps the uniform one). The
    candidate with the best validation score is used at each budget. ``compile``:
    ``torch.compile`` the network (:func:`idff.accel.compile_network`).
    """
    from idff.training.checkpoint import CONFIG, RunError, load_run

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise RunError(
            f"{run_dir} is not a run directory (no {CONFIG}); pass an 'idff train' --out folder."
        )
    run = load(run_dir)
    if compile:
        from idff.accel import compile_network

        run.model = compile_network(run.model, device)
    config, kind, method = run.config, run.kind, run.config.get("method")
    grid_specs = list(grids) if grids else [None]
    parsed = {g: parse_grid(g) for g in grid_specs if g is not None}

    def facts(solver: str | None):
        return None if solver is None else solver_class(solver)

    def grid_ok(solver: str | None, spec: str | None) -> bool:
        cls = facts(solver)
        return spec is None or cls is not None and (cls.on_grid or cls.adaptive or
                                                    spec == "uniform")

    def name(*parts: str | None) -> str:
        return " ".join(p for p in parts if p)

    settings: dict[str, dict[str, Any]] = {}
    if method == "idff":
        key = "gamma" if field == "pf" else "s"
        noiseless = field in ("x1", "velocity")  # score-free ODEs: one candidate, no noise
        samplers = {}
        for solver_spec in solvers or [None]:
            solver, solver_kw = parse_solver(solver_spec) if solver_spec else (None, {})
            for spec in grid_specs:
                for g in [0.0] if noiseless else gammas:
                    # γ > 0 is diffusion (solvers that take noise only); the published image
                    # field's s acts in the drift alone
                    cls = facts(solver)
                    if field == "pf" and g > 0 and cls is not None and not (
                            cls.diffusion and cls.on_grid):
                        continue
                    if cls is not None and cls.two_heads and field != "pf" or \
                            not grid_ok(solver, spec):
                        continue
                    grid = parsed.get(spec, {})
                    noise = {} if noiseless else {key: float(g)}
                    overrides = {"field": field, **noise, **grid, **solver_kw}
                    base = run_sampler(run, overrides, device)
                    tag = f"field={field}" if noiseless else f"{key}={g:g}"
                    if solver is None:
                        samplers[tag] = base
                    else:
                        cand = name(solver_spec, spec, tag)
                        samplers[cand] = with_solver(base, solver, adaptive=not samplers,
                                                     grid=grid)
                        settings[cand] = {"solver": solver,
                                          **sampler_settings(run, overrides)}
        if not solvers and run.sampling.budgets:  # the run's own per-budget samplers compete
            samplers["stored"] = stored_sampler(run, field, device)
    else:
        ode = [x for x in (solvers or [])  # a velocity: grid solvers of one head
               if facts(parse_solver(x)[0]).on_grid and not facts(parse_solver(x)[0]).two_heads]
        samplers = {}
        for x in ode:
            solver, solver_kw = parse_solver(x)
            for spec in grid_specs:
                grid = parsed.get(spec, {})
                samplers[name(x, spec)] = with_solver(
                    run_sampler(run, {**grid, **solver_kw}, device), solver,
                    adaptive=not samplers, grid=grid)
                settings[name(x, spec)] = {"solver": solver, **grid, **solver_kw}
        samplers = samplers or {"-": run_sampler(run, device=device)}
    try:  # the snapshot's step, not the planned one: runs may still be training
        steps = load_run(run_dir)[2]
    except RunError:
        steps = config.get("train", {}).get("steps")
    return BenchEntry(label or method or run_dir.name, method or "?", samplers,
                      {"run": str(run_dir), "kind": kind, "train_steps": steps,
                       "dataset": config.get("data", {}).get("dataset")}, settings)
