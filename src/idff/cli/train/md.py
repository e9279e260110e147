"""``idff train md``: IDFF (or I-CFM) from frame k to frame k+τ of torsion trajectories."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import check_init_from, device_option, option_words, run_dir_options, typed
from idff.cli.md_options import SIM_OPTIONS, md_errors, sim_options, simulation_settings
from idff.cli.options import option, train_config, train_options
from idff.errors import UserError, check_output_path
from idff.md.config import TRAIN_DEFAULTS

SOURCE_OPTIONS = {
    "simulation": set(SIM_OPTIONS),
    "files": {"trajectories", "topology", "frame_ps"},
    "pickle": {"pickle_path", "units", "frame_ps"},
    "lorenz": set(),
}


def _refuse_unread(source: str) -> None:
    """Refuse options given on the command line that ``--source`` does not read."""
    every = set().union(*SOURCE_OPTIONS.values())
    unread = [n for n in typed(*sorted(every)) if n not in SOURCE_OPTIONS[source]]
    if unread:
        raise UserError(f"{option_words(unread)} would change nothing with --source {source}, "
                        "which does not read "
                        f"{'them' if len(unread) > 1 else 'it'}; drop "
                        f"{'them' if len(unread) > 1 else 'it'} or choose the --source that "
                        "does (simulation: the OpenMM settings; files: --trajectory, "
                        "--topology; pickle: --pickle, --units).")


@click.command("md")
@click.option("--method", type=click.Choice(["idff", "icfm"]), default="idff",
              help="IDFF, or the I-CFM baseline (same pairs, same network).")
@click.option("--source", type=click.Choice(["simulation", "files", "pickle", "lorenz"]),
              default="simulation", help="Where the trajectories come from.")
@sim_options
@click.option("--trajectory", "trajectories", multiple=True, type=click.Path(dir_okay=False),
              help="files: DCD/XTC trajectories (repeat); the last one or two are held out.")
@click.option("--topology", type=click.Path(dir_okay=False), help="files: topology (PDB).")
@click.option("--pickle", "pickle_path", type=click.Path(dir_okay=False),
              help="pickle: the published layout (dict with 'angles', 'sim_length'), read as "
                   "plain data only: a pickle naming anything but arrays, numbers, lists and "
                   "dicts is refused, so no code runs.")
@click.option("--units", type=click.Choice(["degrees", "radians"]), default="degrees",
              help="pickle: unit of the stored angles.")
@option("lag", default=2, help="τ in frames: frame k → frame k+τ.")
@option("history", default=1, help="Earlier frames in the conditioning.")
@click.option("--cond", type=click.Choice(["state", "index"]), default="state",
              help="Condition on the current frame (+history) or on the frame index (paper).")
@option("nfe", default=4,
        help="Default NFE per frame for evaluation.")
@option("sigma", default=None,
        help="Path noise σ (default 0.1; Lorenz-63 I-CFM: 0).")
@train_options(TRAIN_DEFAULTS)
@option("batch-size", default=256)
@option("hidden", default=256)
@option("depth", default=3)
@device_option
@run_dir_options
@md_errors
def train_md_cmd(method, source, trajectories, topology, pickle_path, units, lag, history, cond,
                 nfe, sigma, steps, batch_size, lr, hidden, depth, seed, ckpt_every, device, out,
                 resume, init_from, **kw):
    """Train IDFF (or I-CFM) from frame k to frame k+τ of torsion trajectories."""
    from dataclasses import asdict

    from idff.md.config import md_run_config
    from idff.md.train import train_md
    from idff.training.checkpoint import claim_run_dir

    check_output_path(out, folder=True)
    check_init_from(init_from, resume)
    _refuse_unread(source)
    claim_run_dir(out, resume)  # before any simulation or data: a refusal is immediate
    cache = kw.pop("cache")
    frame_ps = kw["frame_ps"]
    if source == "simulation":
        data = {"source": "simulation", "system": "alanine",
                "settings": asdict(simulation_settings(kw)), "cache": str(cache)}
    elif source == "files":
        if not trajectories or not topology:
            raise ValueError("--source files needs --trajectory (at least twice) and --topology.")
        data = {"source": "files", "system": "alanine", "frame_ps": frame_ps,
                "trajectories": [str(Path(p).resolve()) for p in trajectories],
                "topology": str(Path(topology).resolve())}
    elif source == "pickle":
        if not pickle_path:
            raise ValueError("--source pickle needs --pickle PATH.")
        data = {"source": "pickle", "system": "alanine", "path": str(Path(pickle_path).resolve()),
                "units": units, "frame_ps": frame_ps}
    else:
        data = {"source": "lorenz", "system": "lorenz", "dt": 0.02, "dim": 3}
    if source != "lorenz":
        from idff.md.config import input_dim
        from idff.md.series import load_series

        series = load_series(data)
        data["dim"] = input_dim(series)
    else:
        series = None
    cfg = md_run_config(method, data, lag, history, cond, hidden, depth, batch_size,
                        sampling={"nfe": nfe}, sigma=sigma)
    train = train_config(TRAIN_DEFAULTS, out, steps=steps, lr=lr, seed=seed,
                         ckpt_every=ckpt_every)
    train_md(cfg, out, train, series=series, device=device, resume=resume, init_from=init_from)
    click.echo(f"saved run to {out}")
