"""``idff train kolmogorov``: a Kolmogorov-flow forecaster on a data set made by
``idff kolmogorov-data``."""

from __future__ import annotations

import click

from idff.cli.common import check_init_from, device_option, run_dir_options
from idff.cli.kolmogorov_options import (
    NFE,
    data_root_option,
    model_options,
    parse_channel_mult,
    sigma_option,
    size_option,
)
from idff.cli.options import option, train_config, train_options
from idff.errors import UserError, check_output_path
from idff.kolmogorov.config import TRAIN_DEFAULTS


@click.command("kolmogorov")
@click.option("--forecaster", type=click.Choice(["idff", "otcfm", "mse"]), default="idff",
              help="IDFF (current frame → next), OT-CFM (noise → next) or a deterministic "
                   "UNet trained by MSE.")
@size_option
@data_root_option
@model_options
@option("context", default=1,
        help="Previous frames in the conditioning.")
@click.option("--nfe", type=NFE, default=None,
              help="Network evaluations per lead stored as the run's sampling default "
                   "(default: 3; the deterministic UNet always uses 1).")
@train_options(TRAIN_DEFAULTS, only=("ckpt_every",))
@sigma_option
@device_option
@run_dir_options
def train_kolmogorov_cmd(forecaster, size, data_root, num_channels, channel_mult, steps,
                         batch_size, lr, horizon, seed, context, nfe, ckpt_every, sigma, device,
                         out, resume, init_from):
    """Train a Kolmogorov-flow forecaster on a data set made by `idff kolmogorov-data`."""
    from idff.kolmogorov.config import kolmogorov_run_config
    from idff.kolmogorov.train import train_kolmogorov
    from idff.training.checkpoint import claim_run_dir

    check_output_path(out, folder=True)
    check_init_from(init_from, resume)
    if nfe is not None and forecaster == "mse":
        raise UserError(f"--nfe {nfe} would change nothing: the deterministic UNet (--forecaster "
                        "mse) makes one network call per lead; drop --nfe.")
    sampling = {"nfe": nfe} if nfe else None
    model = {"num_channels": num_channels,
             "channel_mult": parse_channel_mult(channel_mult, num_channels)}
    cfg = kolmogorov_run_config(forecaster, size, data_root, horizon, context, batch_size,
                                model, sampling, sigma)
    claim_run_dir(out, resume)  # before the data are read: a refusal is immediate
    train_kolmogorov(cfg, out, train_config(TRAIN_DEFAULTS, out, steps=steps, lr=lr, seed=seed,
                                            ckpt_every=ckpt_every), device=device,
                     resume=resume, init_from=init_from)
    click.echo(f"saved run to {out}")
