"""``idff demo`` (the 2D-toy methods compared) and ``idff sst-demo`` (the SST forecasters
compared)."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import POSITIVE_INT, CLIError
from idff.cli.common import fail as _fail
from idff.cli.options import option
from idff.errors import check_output_path
from idff.threads import choose_threads
from idff.toy.data import TOYS


@click.command()
@click.option("--dataset", type=click.Choice(sorted(TOYS)), default="checkerboard")
@option("steps", default=5000, help="Training steps per method.")
@option("seed", default=0)
@option("n-eval", default=2000, help="Samples per evaluation.")
@click.option("--figure-nfe", type=POSITIVE_INT, default=4, help="NFE of the trajectory figure.")
@option("out-dir", default="runs/demo")
@option("threads", default=1,
        help="CPU threads for torch (small MLPs run fastest on one).")
def demo(dataset, steps, seed, n_eval, figure_nfe, out, threads):
    """Train IDFF, OT-CFM and I-CFM on a 2D toy; print quality vs NFE; write a figure.

    The runs are kept in OUT and reused when every setting matches; rerunning an
    interrupted demo continues it. OUT must be new, empty or an earlier demo's.
    """

    from idff.toy.demo import run_demo

    choose_threads(threads)

    check_output_path(out, folder=True)
    try:
        run_demo(dataset, steps, seed, n_eval, figure_nfe, Path(out), echo=click.echo)
    except ValueError as e:
        _fail(e)
    except KeyboardInterrupt:  # the demo has no --resume: rerunning it continues
        raise CLIError("interrupted (Ctrl-C); rerun the same idff demo command: finished runs "
                       "are reused and no table is written until all three have finished.",
                       exit_code=130) from None


@click.command("sst-demo")
@option("steps", default=1000, help="Training steps per method.")
@option("batch-size", default=16)
@option("members", default=50)
@option("horizon", default=7)
@option("nfe", default=3,
        help="Network evaluations per forecast lead (Euler steps).")
@option("seed", default=0)
@option("out-dir", default="runs/sst_demo")
@click.option("--results", type=click.Path(file_okay=False), default="results/sst")
def sst_demo(steps, batch_size, members, horizon, nfe, seed, out, results):
    """IDFF vs OT-CFM vs persistence vs climatology on the eofs SST anomalies (one table)."""
    import sys

    from idff.runlock import hold_for_command
    from idff.sst.demo import run_sst_demo

    command = "idff " + " ".join(sys.argv[1:])
    check_output_path(out, folder=True)
    check_output_path(results, "--results", folder=True)
    hold_for_command(out)  # one demo per folder at a time
    hold_for_command(results, option="--results")
    try:
        run_sst_demo(out, results, steps, batch_size, horizon=horizon, members=members,
                     nfe=nfe, seed=seed, command=command,
                     echo=click.echo)
    except (ValueError, ImportError, FileNotFoundError) as e:
        _fail(e)
