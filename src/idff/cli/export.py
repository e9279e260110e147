"""``idff export``: a run's config and EMA weights as a folder with no pickle."""

from __future__ import annotations

import click

from idff.cli.options import option
from idff.cli.vocabulary import run_argument
from idff.errors import check_output_path


@click.command()
@run_argument()
@option("out-dir", required=True,
        help="New folder for config.json and snapshot.safetensors.")
def export(run, out):
    """Copy a run's config and EMA weights as safetensors (a run folder with no pickle).

    The exported folder works wherever a run directory does (idff sample, nll, fid, bench);
    it holds no resume state, so it cannot be trained further.
    """
    from idff.runlock import hold_for_command
    from idff.training.checkpoint import export_run

    check_output_path(out, folder=True)
    hold_for_command(out)
    path = export_run(run, out)
    click.echo(f"wrote {path}/config.json and {path}/snapshot.safetensors")
