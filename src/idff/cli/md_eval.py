"""``idff md-eval``: trained MD (and Lorenz-63) runs scored against held-out simulations."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import POSITIVE_INT, device_option, pop_sampling, sampling_options
from idff.cli.md_options import md_errors
from idff.cli.options import option
from idff.cli.vocabulary import run_argument
from idff.errors import check_output_path
from idff.io import atomic_write_text


@click.command("md-eval")
@run_argument("runs", many=True, resolve=False)
@sampling_options
@option("members", default=4,
        help="Ensemble size: independent rollouts per run.")
@click.option("--max-frames", type=POSITIVE_INT, default=None, help="Truncate the reference.")
@option("seed", default=0)
@device_option
@option("out-dir", default=None,
        help="Folder for metrics.json, table.md and figures.")
@md_errors
def md_eval(runs, members, max_frames, seed, device, out, **kw):
    """Score trained MD runs against held-out simulations (and the MD noise floor).

    Pointwise (CC, wrapped RMSE/MAE vs a reference from the same start), distributional
    (JS of Ramachandran and 1D torsion histograms) and kinetic (basin populations,
    transition rates, autocorrelation times). Lorenz-63 runs get forecast errors over
    Lyapunov times and invariant-measure JS instead.
    """
    from idff.md.evaluate import evaluate_md
    from idff.md.lorenz_eval import evaluate_lorenz
    from idff.md.report import (
        KINETIC_COLUMNS,
        LORENZ_COLUMNS,
        MD_COLUMNS,
        PEPTIDE_COLUMNS,
        metric_table,
        save_json,
    )
    from idff.md.train import load_md_model

    overrides = pop_sampling(kw)
    if out:
        check_output_path(out, folder=True)
    md_rows, lz_rows, md_floor, lz_floor, results = [], [], [], [], {}
    for run in runs:
        _, cfg = load_md_model(run)
        if cfg["data"].get("system") == "lorenz":
            r = evaluate_lorenz(run, seed=seed, device=device, **overrides)
            lz_rows.append(r["rows"][0])
            lz_floor = r["rows"][1:]
        else:
            r = evaluate_md(run, members, seed, max_frames=max_frames, device=device,
                            **overrides)
            md_rows.append(r["rows"][0])
            md_floor = r["rows"][1:]
        results[run] = r
    md_rows += md_floor  # reference rows of the last run (runs should share the data)
    lz_rows += lz_floor
    text = []
    if md_rows:
        text += [metric_table(md_rows, MD_COLUMNS), "", metric_table(md_rows, KINETIC_COLUMNS)]
        if any("js_torsion" in r for r in md_rows):
            text += ["", "Several residues (JS: divergence in bits; factors: geometric mean "
                     "of max(a/b, b/a) against the reference):", "",
                     metric_table(md_rows, PEPTIDE_COLUMNS)]
    if lz_rows:
        text += ["", metric_table(lz_rows, LORENZ_COLUMNS)]
    click.echo("\n".join(text))
    if out:
        from idff.md.plots import plot_ramachandran

        Path(out).mkdir(parents=True, exist_ok=True)
        save_json({"md": md_rows, "lorenz": lz_rows}, Path(out) / "metrics.json")
        atomic_write_text("\n".join(text) + "\n", Path(out) / "table.md")
        panels = {}
        for run, r in results.items():
            if "generated" in r:
                panels.setdefault("MD held-out reference", r["reference"])
                panels[f"{Path(run).name} (NFE {r['nfe']})"] = r["generated"]
        if panels:
            plot_ramachandran(panels, Path(out) / "ramachandran.png")
        click.echo(f"wrote {out}/metrics.json and table.md")
