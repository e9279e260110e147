"""The SST demo (``idff sst-demo``): train IDFF and OT-CFM on the eofs SST anomalies, score
them with persistence and climatology, and write the results folder."""

from __future__ import annotations

import json
from pathlib import Path

from idff.io import atomic_write_json, atomic_write_text
from idff.sst.config import SST_METHODS, load_sst_data, sst_run_config
from idff.sst.forecast import (
    Forecast,
    climatology_forecast,
    forecast_starts,
    persistence_forecast,
    sst_forecast,
)
from idff.sst.report import evaluate_sst, plot_forecast, save_scores, scores_table
from idff.sst.train import load_sst_model, train_sst
from idff.timeseries.forecast import ForecastScores
from idff.training import TrainConfig

__all__ = ["run_sst_demo"]


def run_sst_demo(
    out: str | Path,
    results: str | Path,
    steps: int = 1000,
    batch_size: int = 16,
    lr: float = 5e-4,
    horizon: int = 7,
    members: int = 50,
    nfe: int = 3,
    seed: int = 0,
    command: str = "",
    echo=print,
) -> dict[str, ForecastScores]:
    """Train IDFF and OT-CFM on the eofs SST anomalies, score them with persistence and
    climatology, and write ``metrics.json``, ``per_lead.csv``, ``forecast.png``, the table
    ``table.md`` and the data, split and budget ``setup.json`` into ``results``
    (``benchmarks/sst_readme.py`` turns them into the results README)."""
    import time

    out, results = Path(out), Path(results)
    train_info: dict[str, dict[str, float]] = {}
    forecasts: dict[str, Forecast] = {}
    for method in SST_METHODS:
        cfg = sst_run_config(method, horizon=horizon, batch_size=batch_size,
                             sampling={"nfe": nfe})
        t0 = time.perf_counter()
        echo(f"training {method} for {steps} steps -> {out / method}")
        train_sst(cfg, out / method, TrainConfig(steps=steps, lr=lr, warmup=min(100, steps),
                                                 ema_decay=0.995, seed=seed, log_every=50,
                                                 ckpt_every=250), resume="auto")
        # wall time accumulates over sessions, so a resumed or re-scored run keeps its cost
        clock = out / method / "train_time.json"
        spent = json.loads(clock.read_text())["seconds"] if clock.is_file() else 0.0
        spent += time.perf_counter() - t0
        atomic_write_text(json.dumps({"seconds": spent}), clock)
        train_info[method] = {"steps": steps, "minutes": spent / 60}
    cube = splits = starts = None
    for method in SST_METHODS:
        model, cfg = load_sst_model(out / method)
        if cube is None:
            cube, splits = load_sst_data(cfg["data"])
            starts = forecast_starts(cube.data.shape[1], splits["test"], horizon, cfg["context"])
        echo(f"forecasting {method}: {len(starts)} starts × {members} members × {horizon} leads")
        forecasts[method] = sst_forecast(model, cfg, cube, starts, horizon, members, seed=seed)
    forecasts["persistence"] = persistence_forecast(cube, starts, horizon)
    forecasts["climatology"] = climatology_forecast(cube, splits["train"], starts, horizon,
                                                    members, seed=seed)
    scores = {name: evaluate_sst(cube, fc) for name, fc in forecasts.items()}
    save_scores(scores, results)
    plot_forecast(cube, {k: forecasts[k] for k in ("idff", "otcfm", "persistence")},
                  results / "forecast.png")
    table = scores_table(scores, train_info)
    atomic_write_text(table + "\n", results / "table.md")
    years = cube.years
    atomic_write_json({
        "command": command, "winters": int(cube.data.shape[1]),
        "first_year": int(years.min()), "last_year": int(years.max()),
        "grid": [int(n) for n in cube.mask.shape[1:]], "land_cells": int((~cube.mask).sum()),
        "last_train_year": int(years[splits["train"]].max()),
        "first_test_year": int(years[splits["test"]].min()),
        "train_pairs": len(splits["train"]) - 1, "horizon": horizon, "starts": len(starts),
        "members": members, "nfe_per_lead": nfe, "train": train_info,
    }, results / "setup.json", indent=2)
    echo(table)
    return scores

