"""The MD benchmark (``idff md-benchmark``): simulate (cached), train IDFF and the CFM
baseline at several σ, choose each model's time grid on a validation trajectory when
asked (:func:`select_md_sampling`), evaluate at several NFE, run Lorenz-63 through the
same pipeline, and write ``metrics.json``, ``table.md`` and the figures."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from idff.io import atomic_write_text
from idff.md.config import LABELS, input_dim, md_run_config
from idff.md.evaluate import evaluate_md
from idff.md.lorenz_eval import run_lorenz_benchmark
from idff.md.report import benchmark_tables, save_json, selection_table
from idff.md.series import load_series
from idff.md.simulate import SimulationSettings
from idff.md.train import train_md
from idff.sampling.registry import parse_grid
from idff.training import TrainConfig

__all__ = ["SELECT_METRICS", "select_md_sampling", "run_md_benchmark"]


#: what the validation choice of sampler ranks (lower is better): the multi-residue targets
#: when the system has them, else the dipeptide's distribution and populations
SELECT_METRICS = (("js_rama_res", "msm_pop_err", "mfpt_factor"), ("js_rama", "pop_abs_err"))


def select_md_sampling(rows: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Choose among validation rows ``{candidate: row}``: the lowest mean rank over
    :data:`SELECT_METRICS` (the first set every row has; NaN ranks last); ties go to the
    earlier candidate (docs/METHOD.md, "Molecular dynamics: the time grid chosen on a
    validation trajectory"). Returns the candidate and
    ``{"metrics": [...], "ranks": {candidate: mean rank}}``.

    Raises:
        ValueError: no candidates, or rows without the metrics.
    """
    if not rows:
        raise ValueError("select_md_sampling needs at least one candidate.")
    metrics = next((m for m in SELECT_METRICS if all(k in r for r in rows.values() for k in m)),
                   None)
    if metrics is None:
        raise ValueError("the validation rows lack the selection metrics "
                         f"({' or '.join(', '.join(m) for m in SELECT_METRICS)}).")
    names = list(rows)
    ranks = np.zeros(len(names))
    for k in metrics:  # a metric that could not be computed (NaN) ranks last
        v = np.array([rows[n][k] for n in names], float)
        v = np.where(np.isfinite(v), v, np.inf)
        ranks += v.argsort(kind="stable").argsort(kind="stable")
    ranks /= len(metrics)
    best = names[int(np.argmin(ranks))]
    return best, {"metrics": list(metrics), "ranks": dict(zip(names, ranks.tolist()))}


def run_md_benchmark(
    out: str | Path,
    settings: SimulationSettings,
    runs: str | Path = "runs/md",
    cache: str | Path = "cache/md",
    steps: int = 4000,
    nfes: tuple[int, ...] = (2, 4),
    n_rollouts: int = 4,
    lag: int = 2,
    history: int = 1,
    sigmas: tuple[float, ...] = (0.1, 0.3, 1.0),
    seed: int = 0,
    lorenz: bool = True,
    command: str = "",
    echo=print,
    progress: bool = True,
    grids: tuple[str, ...] = ("uniform",),
) -> dict[str, Any]:
    """Simulate (cached), train IDFF and the CFM baseline, evaluate; write ``metrics.json``
    (every number and setting, and ``command``), ``table.md`` and the figures into ``out``.

    Every ``σ`` in ``sigmas`` trains one IDFF and one CFM model (same network, data and
    steps); every model is rolled out at every NFE in ``nfes``. With several ``grids``
    (``"uniform"``, ``"power:0.7"``, ...) one more trajectory is held out for validation
    (before the reference and floor), and each model and NFE samples on the grid
    :func:`select_md_sampling` picks there. ``benchmarks/md_readme.py`` turns
    ``metrics.json`` into the results README.

    Raises:
        ValueError: a bad grid, or too few trajectories for a validation split.
    """
    import time

    from idff.md.plots import plot_ramachandran, plot_torsion_series
    from idff.timeseries.lorenz import plot_lorenz

    grid_overrides = {g: parse_grid(g) for g in grids}
    select = len(grid_overrides) > 1
    out, runs = Path(out), Path(runs)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    data = {"source": "simulation", "system": "alanine", "settings": asdict(settings),
            "cache": str(cache), **({"validation": True} if select else {})}
    echo(f"simulating (cached in {cache}) ...")
    series = load_series(data, progress)
    data["dim"] = input_dim(series)  # 4 for the dipeptide, 12 for the tetrapeptide
    t_sim = time.perf_counter() - t_start
    train_cfg = TrainConfig(steps=steps, lr=1e-3, warmup=min(200, steps), ema_decay=0.999,
                            seed=seed, log_every=200, ckpt_every=max(steps, 1))
    timings = {"simulation_s": t_sim}
    rows, floor_rows, first = [], [], {}
    selection: list[dict[str, Any]] = []
    for sigma in sigmas:
        for method in ("idff", "icfm"):
            cfg = md_run_config(method, data, lag=lag, history=history, sigma=sigma)
            name = f"alanine-{method}-sigma{sigma:g}-{settings.key()}-lag{lag}-h{history}"
            name += "-val" if select else ""  # trained without the validation trajectory
            run_dir = runs / f"{name}-s{seed}-n{steps}"
            t0 = time.perf_counter()
            echo(f"training {method} σ={sigma:g} -> {run_dir}")
            train_md(cfg, run_dir, train_cfg, series=series, progress=progress, resume="auto")
            timings[f"train_{method}_{sigma:g}_s"] = time.perf_counter() - t0
            for nfe in nfes:
                t0 = time.perf_counter()
                over: dict[str, Any] = {}
                if select:
                    val = {g: evaluate_md(run_dir, n_rollouts, seed + 1, series=series,
                                          progress=progress, split="validation", nfe=nfe,
                                          **o)["rows"][0]
                           for g, o in grid_overrides.items()}
                    chosen, info = select_md_sampling(val)
                    over = grid_overrides[chosen]
                    selection.append({"method": method, "sigma": sigma, "nfe": nfe,
                                      "chosen": chosen, **info,
                                      "rows": {g: {k: r[k] for k in info["metrics"]}
                                               for g, r in val.items()}})
                    echo(f"{LABELS[method]} σ={sigma:g} NFE {nfe}: grid {chosen} chosen on "
                         "the validation trajectory")
                r = evaluate_md(run_dir, n_rollouts, seed, series=series, progress=progress,
                                nfe=nfe, **over)
                timings[f"eval_{method}_{sigma:g}_nfe{nfe}_s"] = time.perf_counter() - t0
                rows.append(r["rows"][0])
                floor_rows = r["rows"][1:]
                first[(method, sigma)] = r  # figures show the largest NFE
    rows += floor_rows
    any_r = next(iter(first.values()))
    ref, floor, dt = any_r["reference"], any_r["floor"], any_r["dt_ps"]
    panels = {"MD held-out reference": ref}
    if floor is not None:
        panels["MD second run (floor)"] = floor
    for (method, sigma), r in first.items():
        panels[f"{LABELS[method]} σ={sigma:g} (NFE {r['nfe']}, {n_rollouts} rollouts)"] = (
            r["generated"])
    plot_ramachandran(panels, out / "ramachandran.png")
    ts = {"MD reference": ref}
    ts.update({f"{LABELS[m]} σ={s:g}": r["generated"][0] for (m, s), r in first.items()})
    plot_torsion_series(ts, dt, out / "torsions.png")
    lz = None
    if lorenz:
        lz = run_lorenz_benchmark(out / "lorenz", runs, steps=steps, nfe=max(nfes), seed=seed,
                                  echo=echo, progress=progress)
        plot_lorenz({"true (held-out)": lz["idff"]["reference"][:5000],
                     f"IDFF (NFE {lz['idff']['nfe']})": lz["idff"]["free"],
                     f"I-CFM (NFE {lz['icfm']['nfe']})": lz["icfm"]["free"]}, out / "lorenz.png")
        timings["lorenz_s"] = lz["seconds"]
    timings["total_s"] = time.perf_counter() - t_start
    save_json({"rows": rows, "lorenz": lz["rows"] if lz else None, "timings": timings,
               "settings": asdict(settings), "lag": lag, "history": history, "steps": steps,
               "nfes": list(nfes), "sigmas": list(sigmas), "rollouts": n_rollouts,
               "train_trajectories": len(series["train"]),
               "reference_frames": len(series["reference"]), "command": command,
               "grids": list(grids), "selection": selection},
              out / "metrics.json")
    tables = benchmark_tables(rows, lz["rows"] if lz else None)
    if selection:  # before the Lorenz table, which stays last
        tables.insert(len(tables) - 1 if lz else len(tables), selection_table(selection))
    atomic_write_text("\n\n".join(tables) + "\n", out / "table.md")
    for table in tables[:-1] if lz else tables:  # the Lorenz table was printed with its run
        echo(table)
    return {"rows": rows, "timings": timings, "tables": tables}

