"""What the Kolmogorov-flow commands share: the data-set, model and σ options and the
``--channel-mult`` parser."""

from __future__ import annotations

import click

from idff.cli.common import MAX_NFE
from idff.cli.options import option, train_options
from idff.errors import UserError
from idff.kolmogorov.config import TRAIN_DEFAULTS

__all__ = ["NFE", "data_root_option", "size_option", "model_options", "sigma_option",
           "parse_channel_mult"]

#: --nfe, as in every command that samples
NFE = click.IntRange(1, MAX_NFE)


def data_root_option(f):
    return option("data-root", default=None,
                  help="Folder of the cached data sets (default: $IDFF_DATA/kolmogorov "
                       "or ~/.cache/idff/kolmogorov).")(f)


def size_option(f):
    return click.option("--size", type=click.Choice(["tiny", "cpu", "gpu"]), default="cpu",
                        help="Data set: tiny (tests), cpu (64² → 32², 256/32/64 trajectories "
                             "× 200 frames), gpu (256² → 64², 1024/128/256).")(f)



def model_options(f):
    for opt in reversed([
        option("num-channels", default=32,
               help="UNet width (a multiple of 32)."),
        option("channel-mult", default="1,2,2", help="UNet levels, e.g. 1,2,2."),
        train_options(TRAIN_DEFAULTS, only=("steps", "lr", "seed")),
        option("batch-size", default=32),
        option("horizon", default=16,
               help="Longest lead (frames) the model is trained for."),
    ]):
        f = opt(f)
    return f


def sigma_option(f):
    return option("sigma", default=None,
                  help="IDFF's path noise σ (default 1); it sets how far the bridge "
                       "spreads the ensemble. Only for the idff forecaster.")(f)


def parse_channel_mult(text: str, num_channels: int) -> list[int]:
    """``--channel-mult`` as integers, checked with ``--num-channels`` before any data load."""
    from idff.models.unet import check_width

    try:
        mult = [int(v) for v in text.split(",")]
    except ValueError as e:
        raise UserError(f"--channel-mult must be integers like 1,2,2, got {text!r}.") from e
    check_width(num_channels, mult, "--num-channels")
    return mult

