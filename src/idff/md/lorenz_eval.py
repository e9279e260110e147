"""Lorenz-63 through the MD pipeline (runs of kind ``"md"`` on the ``"lorenz"`` source):
forecasts from many starts and a free rollout (:func:`evaluate_lorenz`, scored by
:mod:`idff.timeseries.lorenz`), and the small benchmark of IDFF against I-CFM
(:func:`run_lorenz_benchmark`) that ``idff md-benchmark`` runs after the peptide."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from idff.io import atomic_write_text
from idff.md.config import LABELS, md_run_config
from idff.md.evaluate import _generate
from idff.md.report import LORENZ_COLUMNS, metric_table
from idff.md.rollout import rollout
from idff.md.series import load_series
from idff.md.train import load_md_model, train_md
from idff.sampling import SamplingConfig
from idff.timeseries.lorenz import LYAPUNOV_EXPONENT, compare_lorenz, invariant_js
from idff.training import TrainConfig

__all__ = ["evaluate_lorenz", "run_lorenz_benchmark"]


def evaluate_lorenz(
    run_dir: str | Path,
    n_starts: int = 50,
    horizon_lt: float = 3.0,
    free_steps: int = 5000,
    seed: int = 0,
    series: dict[str, Any] | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    **overrides: Any,
) -> dict[str, Any]:
    """Forecasts from ``n_starts`` points of the held-out trajectory, and a free rollout
    (sampling: the run's, changed by ``overrides``)."""
    model, cfg = load_md_model(run_dir)
    model = model.to(device)
    d = cfg["data"]
    series = series or load_series(d, progress)
    lag, h = d["lag"], d["history"]
    sampling = SamplingConfig.from_run(cfg, **overrides)
    ref, dt = series["reference"], series["dt"] * lag
    horizon = int(round(horizon_lt / (LYAPUNOV_EXPONENT * dt))) + 1
    sub = ref[::lag]
    starts = np.linspace(h, len(sub) - horizon - 1, n_starts).astype(int)
    windows = torch.as_tensor(np.stack([sub[s - h:s + 1] for s in starts]), dtype=torch.float32)
    g = torch.Generator(device=device).manual_seed(seed)
    fc = rollout(model, windows.to(device), horizon, sampling, cond=d["cond"], lag=lag,
                 index_scale=d.get("index_scale", 1.0), project=None, generator=g)
    truth = np.stack([sub[s:s + horizon + 1] for s in starts])
    n_free = min(free_steps, len(sub) - 1 - h)
    free, used = _generate(model, cfg, sub[:h + 1], n_free, 1, sampling, False, seed + 1, h,
                           progress, device)
    scale = np.ones(3)  # states are standardised
    rows = [{"label": f"{LABELS[cfg['method']]} (NFE {used}/step)",
             **compare_lorenz(fc.states.numpy(), truth, free[0], sub[h:h + n_free + 1], dt, scale)}]
    floor = series["floor"][::lag][: n_free + 1]
    rows.append({"label": "true system, second trajectory (floor)",
                 **invariant_js(floor, sub[h:h + n_free + 1])})
    return {"rows": rows, "nfe": used, "forecast": fc.states.numpy(), "truth": truth,
            "free": free[0], "reference": sub, "config": cfg}


def run_lorenz_benchmark(out: str | Path, runs: str | Path = "runs/md", steps: int = 4000,
                         nfe: int = 4, lag: int = 1, history: int = 0, seed: int = 0,
                         echo=print, progress: bool = True) -> dict[str, Any]:
    """Lorenz-63 through the same pipeline: train IDFF and I-CFM, forecast and roll out freely."""
    import time

    t0 = time.perf_counter()
    data = {"source": "lorenz", "system": "lorenz", "n_train": 20000, "n_test": 6000,
            "dt": 0.02, "seed": seed, "dim": 3}
    series = load_series(data, progress)
    train_cfg = TrainConfig(steps=steps, lr=1e-3, warmup=min(200, steps), ema_decay=0.999,
                            seed=seed, log_every=200, ckpt_every=max(steps, 1))
    res: dict[str, Any] = {}
    for method in ("idff", "icfm"):
        cfg = md_run_config(method, data, lag=lag, history=history, sampling={"nfe": nfe})
        cfg["data"]["periodic"] = False
        run_dir = Path(runs) / f"lorenz-{method}-lag{lag}-h{history}-s{seed}-n{steps}"
        echo(f"training {method} on Lorenz-63 -> {run_dir}")
        train_md(cfg, run_dir, train_cfg, series=series, progress=progress, resume="auto")
        res[method] = evaluate_lorenz(run_dir, seed=seed, series=series, progress=progress,
                                      nfe=nfe)
    rows = [res["idff"]["rows"][0], res["icfm"]["rows"][0], res["idff"]["rows"][1]]
    res["rows"] = rows
    res["seconds"] = time.perf_counter() - t0
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(metric_table(rows, LORENZ_COLUMNS) + "\n", Path(out) / "table.md")
    echo(metric_table(rows, LORENZ_COLUMNS))
    return res

