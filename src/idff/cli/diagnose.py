"""``idff diagnose``: per-time diagnostics of trained runs (:mod:`idff.eval.diagnostics`)."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import CLIError
from idff.cli.options import option
from idff.cli.vocabulary import renamed, run_argument
from idff.threads import choose_threads


def _load(run: str):
    """Model, config and held-out data of a toy or Fashion-MNIST image run."""
    import torch

    from idff.runs import load

    r = load(run)
    model, cfg = r.model, r.config
    if r.kind == "toy" and cfg.get("data", {}).get("file"):
        from idff.cli.common import warn
        from idff.toy.data import load_vectors

        path = cfg["data"]["file"]
        warn(f"{run} trained on {path}; it is scored on rows of that file, not held-out data.")

        def rows(n, root):
            arr = torch.from_numpy(load_vectors(path))
            return arr[torch.randperm(len(arr), generator=torch.Generator().manual_seed(0))[:n]]

        return model, cfg, rows
    if r.kind == "toy":
        from idff.toy.data import sample_toy

        return model, cfg, lambda n, root: sample_toy(
            cfg["data"]["dataset"], n, torch.Generator().manual_seed(20_000))
    if r.kind == "image":
        from idff.images.fashion_mnist import load_fashion_mnist
        from idff.images.pixels import to_model_range

        if cfg.get("data", {}).get("dataset") != "fashion_mnist":
            raise CLIError(f"{run}: per-time diagnostics of image runs use the Fashion-MNIST "
                           "test split; this run trains on "
                           f"{cfg.get('data', {}).get('dataset')!r}.")

        def data(n, root):
            images, _ = load_fashion_mnist("test", root)
            return to_model_range(torch.from_numpy(images[:n].copy())[:, None])

        return model, cfg, data
    raise CLIError(f"{run}: runs of kind {r.kind!r} have no per-time diagnostics (toy and "
                   "image runs do).")


@click.command()
@run_argument("runs", many=True)
@renamed("--label", "--run-label")
@click.option("--run-label", "labels", multiple=True,
              help="One label per run (default: folder name).")
@click.option("--n", "n", type=click.IntRange(min=2), default=1000,
              help="Held-out targets per bin (test images / fresh toy draws).")
@click.option("--bins", type=click.IntRange(min=1, max=100), default=10)
@click.option("--t-max", type=click.FloatRange(0, 1, min_open=True), default=0.999,
              help="Bins cover [0, t-max].")
@option("data-root", default=None,
        help="Images: Fashion-MNIST IDX folder.")
@option("seed", default=0)
@option("threads", default=1, help="torch CPU threads.")
@option("out-prefix", required=True,
        help="Output prefix: writes OUT.md, OUT.csv and OUT.png.")
def diagnose(runs, labels, n, bins, t_max, data_root, seed, threads, out):
    """Held-out error of each head per time bin, and the loss weight per bin.

    The velocity error ‖D̂ − (x1 − x0)‖² of IDFF (its heads' implied velocity) and of
    OT-/I-CFM (the network's output), IDFF's x̂1 and ε errors, and the share of the flow
    loss's velocity-space weight in each bin — the numbers that explain a change of the
    objective. Each run is scored on its own path and coupling.
    """

    from idff.errors import check_output_path
    from idff.eval import diagnostics as D

    check_output_path(Path(out).with_suffix(".md"))
    if labels and len(labels) != len(runs):
        raise CLIError(f"give one --run-label per run ({len(runs)} runs, {len(labels)} labels).")
    choose_threads(threads)
    rows = []
    for i, run in enumerate(runs):
        model, cfg, data = _load(run)
        if data_root is not None and cfg.get("kind", "toy") == "toy":
            raise CLIError(f"--data-root would change nothing for the toy run {run}: its "
                           "held-out targets are fresh toy draws; drop it.")
        x1 = data(n, data_root)
        if len(x1) < n:
            raise CLIError(f"{run}: only {len(x1)} held-out samples, asked for --n {n}.")
        label = labels[i] if labels else Path(run).name
        rows += D.per_time_errors(model, cfg, x1.float(), label, bins, t_max, seed)
        click.echo(f"{label}: done ({cfg.get('step', '?')} steps)")
    header = (f"Per-time diagnostics, {n} held-out targets per bin, seed {seed}. Command: "
              f"`idff diagnose {' '.join(runs)} --n {n} --bins {bins} --out {out}`.")
    text = D.write_table(rows, out, header)
    D.plot_per_time(rows, Path(out).with_suffix(".png"))
    click.echo(text)
    click.echo(f"wrote {Path(out).with_suffix('.md')}, .csv, .png")
