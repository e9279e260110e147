"""``idff train toy``: IDFF / OT-CFM / I-CFM on a 2D toy or on your own vector data."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import check_init_from, device_option, run_dir_options, typed
from idff.cli.common import fail as _fail
from idff.cli.options import option, train_config, train_options
from idff.errors import UserError, check_output_path
from idff.toy.config import TRAIN_DEFAULTS
from idff.toy.data import TOYS


@click.command("toy")
@click.option("--method", type=click.Choice(["idff", "otcfm", "icfm"]), default="idff")
@click.option(
    "--dataset",
    type=click.Choice(sorted(TOYS)),
    default="checkerboard",
    help="Toy distribution (not with --data).",
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False),
    help="Train on your own (N, D) array saved with numpy.save.",
)
@train_options(TRAIN_DEFAULTS)
@option("batch-size", default=256)
@option("hidden", default=256)
@option("depth", default=3)
@click.option(
    "--parametrization",
    type=click.Choice(["velocity", "skip", "x1"]),
    default=None,
    help="IDFF heads: 'skip' (x̂1 = x + (1-t)F), 'x1' (published) or 'velocity' "
    "(a CFM velocity and an ε-prediction; docs/METHOD.md). Default: velocity. IDFF only.",
)
@option("sigma", default=None,
        help="Path noise σ (default: the method's, 0.2 for IDFF, 0 for OT-CFM, 0.1 for "
             "I-CFM).")
@click.option(
    "--coupling",
    type=click.Choice(["ot", "independent"]),
    default=None,
    help="Minibatch coupling (default: the method's).",
)
@device_option
@run_dir_options
def train_toy_cmd(
    method,
    dataset,
    data_file,
    steps,
    batch_size,
    lr,
    hidden,
    depth,
    parametrization,
    sigma,
    coupling,
    seed,
    ckpt_every,
    device,
    out,
    resume,
    init_from,
):
    """Train IDFF / OT-CFM / I-CFM on a 2D toy or on your own vector data."""
    from idff.toy.config import toy_run_config
    from idff.toy.data import load_vectors
    from idff.toy.train import train_toy
    from idff.training.checkpoint import claim_run_dir

    check_output_path(out, folder=True)
    check_init_from(init_from, resume)
    if data_file and typed("dataset"):
        raise UserError(f"--dataset {dataset} and --data {data_file} both name the training "
                        "data; drop one (--data trains on your file).")
    try:
        claim_run_dir(out, resume)  # before the data are read: a refusal is immediate
        data = load_vectors(data_file) if data_file else None
        objective = {"coupling": coupling} if coupling else {}
        if sigma is not None:
            objective["sigma"] = sigma
        cfg = toy_run_config(
            method,
            "file" if data is not None else dataset,
            dim=2 if data is None else data.shape[1],
            hidden=hidden,
            depth=depth,
            parametrization=parametrization,
            objective=objective,
            batch_size=batch_size,
        )
        if data_file:
            cfg["data"]["file"] = str(Path(data_file).resolve())
        train_toy(
            cfg,
            out,
            train_config(TRAIN_DEFAULTS, out, steps=steps, lr=lr, seed=seed,
                         ckpt_every=ckpt_every),
            data=data,
            device=device,
            resume=resume,
            init_from=init_from,
        )
    except (ValueError, FileNotFoundError, PermissionError) as e:
        _fail(e)
    click.echo(f"saved run to {out}")
