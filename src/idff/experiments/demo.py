"""The main job: IDFF beside OT-CFM and I-CFM on a 2D toy, quality versus NFE."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from idff.data.toys import sample_toy
from idff.eval.bench import BenchRow, plot_quality_vs_nfe
from idff.experiments.plots import plot_samples_and_trajectories
from idff.experiments.toy import (
    evaluate_nfe,
    load_toy_model,
    sample_model,
    toy_run_config,
    train_toy,
    true_floor,
)
from idff.training import TrainConfig
from idff.training.checkpoint import snapshot_file

METHODS = ("idff", "otcfm", "icfm")
NFES = (1, 2, 5, 10, 20, 100, "adaptive")
LABELS = {"idff": "IDFF", "otcfm": "OT-CFM", "icfm": "I-CFM"}


def format_table(rows, floor: tuple[float, float]) -> str:
    """Markdown table: one row per method and metric, one column per NFE budget."""
    head = "| method | metric | " + " | ".join(f"NFE {b}" for b in NFES) + " |"
    lines = [head, "|---|---|" + "---|" * len(NFES)]
    for m in METHODS:
        mine = {r.nfe_budget: r for r in rows if r.method == m}
        for metric in ("mmd", "w2"):
            cells = []
            for b in NFES:
                r = mine[str(b)]
                cell = f"{getattr(r, metric):.4f}"
                if b == "adaptive":
                    cell += f" ({r.nfe})"
                cells.append(cell)
            lines.append(f"| {LABELS[m]} | {metric.upper()} | " + " | ".join(cells) + " |")
    lines.append(
        f"\ntrue-vs-true floor: MMD {floor[0]:.4f}, W2 {floor[1]:.4f}; "
        "adaptive = dopri5 (atol = rtol = 1e-5), its counted NFE in brackets."
    )
    return "\n".join(lines)


def run_demo(
    dataset: str,
    steps: int,
    seed: int,
    n_eval: int,
    figure_nfe: int,
    out: Path,
    echo: Callable[[str], None] = print,
) -> str:
    """Train the three methods (cached in ``out``), evaluate, write table and figures."""
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    train = TrainConfig(
        steps=steps,
        lr=1e-3,
        warmup=min(200, steps),
        ema_decay=0.999,
        seed=seed,
        ckpt_every=max(steps, 1),
    )
    rows, models = [], {}
    for m in METHODS:
        rd = out / m
        cfg = toy_run_config(m, dataset)
        fresh = not snapshot_file(rd).exists()
        if not fresh:  # a cached run is reused only if it is the run asked for
            old = json.loads((rd / "config.json").read_text())
            fresh = old["train"]["steps"] != steps or any(
                old.get(k) != cfg[k] for k in ("model", "objective", "data")
            )
        if fresh:
            echo(f"training {LABELS[m]} on {dataset} for {steps} steps ...")
            for name in ("state.pt", "snapshot.pt", "snapshot.safetensors", "config.json",
                         "log.jsonl"):
                (rd / name).unlink(missing_ok=True)  # a stale run of other settings
            train_toy(cfg, rd, train)
        models[m] = load_toy_model(rd)
        rows += evaluate_nfe(*models[m], NFES, n_eval=n_eval, seed=seed)
    floor = true_floor(dataset, n_eval, seed)
    table = format_table(rows, floor)
    (out / "table.md").write_text(table + "\n")
    echo(f"\n{dataset}: quality vs NFE ({n_eval} samples, lower is better)\n")
    echo(table)

    ref = sample_toy(dataset, n_eval, torch.Generator().manual_seed(1))
    panels = {}
    for m in ("idff", "otcfm"):
        res = sample_model(*models[m], n=n_eval, nfe=figure_nfe, seed=seed, return_trajectory=True)
        panels[f"{LABELS[m]}, NFE {res.nfe}"] = res
    plot_samples_and_trajectories(panels, out / "trajectories.png", reference=ref)
    bench_rows = [BenchRow(label=LABELS[r.method], method=r.method, nfe_budget=r.nfe_budget,
                           nfe=r.nfe, solver=r.solver, noise="", metric="MMD", value=r.mmd,
                           seconds_per_1k=1000 * r.seconds / n_eval, n_samples=n_eval)
                  for r in rows]
    plot_quality_vs_nfe(bench_rows, out / "mmd_vs_nfe.png", floor=floor[0], title=dataset)
    echo(
        f"\nwrote {out / 'table.md'}, {out / 'trajectories.png'}, {out / 'mmd_vs_nfe.png'} "
        f"({time.perf_counter() - t_start:.0f} s)"
    )
    return table
