"""CLI for ``idff distill``: a one- or two-call student of a trained run."""

from __future__ import annotations

import click

from idff.cli.common import POSITIVE_INT, CommaList, device_option
from idff.cli.options import option
from idff.errors import check_output_path


@click.command()
@click.argument("teacher", type=click.Path())
@option("out-dir", required=True,
        help="New folder for the student (or the student to continue with --resume).")
@click.option("--method", type=click.Choice(["reflow", "x1head"]), default="reflow",
              help="reflow: rectified flow on the teacher's pairs; x1head: the teacher's map "
                   "regressed into the endpoint of each call (docs/METHOD.md).")
@click.option("--nfe", type=CommaList(POSITIVE_INT), default="1,2",
              help="Budgets whose samplers the student stores (Euler).")
@option("steps", default=None,
        help="Student steps (default: half the teacher's).")
@click.option("--pairs", type=POSITIVE_INT, default=8192, help="Teacher pairs to make.")
@click.option("--pair-nfe", type=POSITIVE_INT, default=100,
              help="The teacher's NFE for each pair.")
@click.option("--pair-solver", default=None,
              help="The teacher's solver for the pairs (default: its stored sampler).")
@option("batch-size", default=None,
        help="Default: the teacher's.")
@option("lr", default=None, help="Default: the teacher's.")
@option("seed", default=0,
        help="Seed of the pairs' source noise and of training.")
@click.option("--pairs-from", type=click.Path(file_okay=False), default=None,
              help="Copy the cached pairs of another student (same teacher and pair "
                   "settings) instead of making them: methods compared on the same pairs.")
@click.option("--resume", is_flag=True,
              help="Continue the student in --out (its cached pairs and its training).")
@device_option
def distill(teacher, out, method, nfe, steps, pairs, pair_nfe, pair_solver, batch_size, lr,
            seed, pairs_from, resume, device):
    """Distil a trained run (IDFF, OT-CFM, I-CFM; toy or image) into a student that samples
    in one or two network calls.

    The teacher's pairs (noise, its sample at --pair-nfe) are made once and cached in
    --out/pairs; the student, the teacher's network started from its weights, trains on
    them and stores its samplers for each --nfe. --out is an ordinary run folder: idff
    sample, generate and bench nfe take it. Ctrl-C saves; rerun with --resume.
    """
    from idff.distill.student import distill as run_distill
    from idff.runlock import hold_for_command

    check_output_path(out, folder=True)
    hold_for_command(out)
    student = run_distill(teacher, out, method, nfe=tuple(nfe), steps=steps, pairs=pairs,
                          pair_nfe=pair_nfe, pair_solver=pair_solver, batch_size=batch_size,
                          lr=lr, seed=seed, resume=resume, pairs_from=pairs_from,
                          device=device, echo=click.echo)
    for n in student.sampling.budgets or {}:
        click.echo(f"NFE {n}: {student.sampling.replace(nfe=n).describe()}")
    click.echo(f"saved student to {out} (idff sample {out} --nfe 1)")
