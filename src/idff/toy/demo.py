"""``idff demo``, the main job: IDFF beside OT-CFM and I-CFM on a 2D toy, quality versus NFE."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from idff.errors import TrainingInterrupted, UserError
from idff.eval.bench.plot import plot_quality_vs_nfe
from idff.eval.bench.records import BenchRow
from idff.io import atomic_write_text
from idff.runlock import folder_lock
from idff.toy.config import toy_run_config
from idff.toy.data import sample_toy
from idff.toy.demo_cache import claim_demo_folder, demo_settings, finish_run, prepare_run
from idff.toy.evaluate import evaluate_nfe, true_floor
from idff.toy.kind import load_toy_model
from idff.toy.plots import plot_samples_and_trajectories
from idff.toy.sample import sample_model
from idff.toy.train import train_toy
from idff.training import TrainConfig

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
    """Train the three methods (cached in ``out``), evaluate, write table and figures.

    ``out`` must be new, empty or an earlier demo's (:mod:`idff.toy.demo_cache`);
    it is locked meanwhile (:mod:`idff.runlock`). A run is reused only when every setting
    matches and it finished; an interrupted one is continued by the next call.
    """
    with folder_lock(out):
        return _run_demo(dataset, steps, seed, n_eval, figure_nfe, out, echo)


def _run_demo(dataset, steps, seed, n_eval, figure_nfe, out: Path, echo) -> str:
    claim_demo_folder(out)
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
        settings = demo_settings(cfg, train)
        todo = prepare_run(rd, settings)
        if todo != "reuse":
            echo(f"{'continuing' if todo == 'continue' else 'training'} {LABELS[m]} on "
                 f"{dataset} for {steps} steps ...")
            try:
                train_toy(cfg, rd, train, resume="auto")
            except TrainingInterrupted as e:  # the demo has no --resume: it continues itself
                e.args = (f"interrupted at step {e.step} of {steps} of {LABELS[m]}; call "
                          "run_demo again with the same settings to continue it.",)
                e.cli = (f"interrupted at step {e.step} of {steps} of {LABELS[m]}; rerun the "
                         "same idff demo command to continue it (no table is written until "
                         "all three runs have finished).")
                raise
            finish_run(rd, settings)
        models[m] = load_toy_model(rd)
        if models[m][1].get("step") != steps:  # never a table from a partly trained model
            raise UserError(f"{rd} holds {LABELS[m]} at step {models[m][1].get('step')}, not "
                            f"{steps}; delete {rd} and rerun.")
        rows += evaluate_nfe(*models[m], NFES, n_eval=n_eval, seed=seed)
    floor = true_floor(dataset, n_eval, seed)
    table = format_table(rows, floor)
    atomic_write_text(table + "\n", out / "table.md")
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
