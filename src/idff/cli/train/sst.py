"""``idff train sst``: an IDFF (or OT-CFM) SST forecaster on OISSTv2-style netCDF data, and
the parsers of its patch and year options."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import (
    POSITIVE_INT,
    check_init_from,
    device_option,
    run_dir_options,
    typed,
)
from idff.cli.common import fail as _fail
from idff.cli.options import option, train_config, train_options
from idff.errors import UserError, check_output_path
from idff.sst.config import TRAIN_DEFAULTS


def parse_years(text: str | None) -> list[int | None] | None:
    """``"1982-2018"`` → ``[1982, 2018]``; open ends as ``"-2018"`` or ``"2020-"``."""
    if text is None or text.lower() == "none":
        return None
    lo, sep, hi = text.partition("-")
    try:
        if not sep:
            y = int(lo)
            return [y, y]
        return [int(lo) if lo else None, int(hi) if hi else None]
    except ValueError as e:
        raise click.BadParameter(
            f"years must look like 1982-2018, 2020- or 2019, got {text!r}."
        ) from e


def parse_boxes(text: str | None) -> list[list[int]] | None:
    """``"0,0,60,60;0,60,60,60"`` → two patch boxes ``[i0, j0, h, w]``."""
    if not text:
        return None
    boxes = []
    for part in text.split(";"):
        vals = part.split(",")
        if len(vals) != 4:
            raise click.BadParameter(f"a box is 'i0,j0,h,w' (grid indices), got {part!r}.")
        try:
            boxes.append([int(v) for v in vals])
        except ValueError as e:
            raise click.BadParameter(f"box values must be integers, got {part!r}.") from e
    return boxes


def parse_corners(text: str | None) -> list[list[float]] | None:
    """``"10,200;-20,180"`` → south-west corners ``[lat, lon]`` in degrees."""
    if not text:
        return None
    out = []
    for part in text.split(";"):
        try:
            lat, lon = (float(v) for v in part.split(","))
        except ValueError as e:
            raise click.BadParameter(f"a corner is 'lat,lon' in degrees, got {part!r}.") from e
        out.append([lat, lon])
    return out


@click.command("sst")
@click.option("--data", "data_path", type=click.Path(), default="eofs",
              help="OISSTv2 netCDF file or folder of sst.day.mean.YYYY.nc files; 'eofs' for "
                   "the SST anomalies shipped in the eofs package.")
@click.option("--var", default="sst", help="Name of the SST variable.")
@click.option("--boxes", default=None,
              help="Patches as 'i0,j0,h,w;...' in grid indices (default: the whole grid).")
@click.option("--corners", default=None,
              help="Patches by south-west corner in degrees, 'lat,lon;...' (with --patch-size).")
@click.option("--patch-size", type=POSITIVE_INT, default=60,
              help="Grid cells per side of --corners.")
@click.option("--normalisation", type=click.Choice(["global", "patch"]), default="global")
@click.option("--train-years", default=None, help="e.g. 1982-2018 (eofs default: -1999).")
@click.option("--val-years", default=None, help="e.g. 2019 (default: none).")
@click.option("--test-years", default=None, help="e.g. 2020 (eofs default: 2000-).")
@click.option("--method", type=click.Choice(["idff", "otcfm"]), default="idff")
@option("horizon", default=7,
        help="Longest lead the model is trained for.")
@option("context", default=1,
        help="Previous frames in the conditioning.")
@train_options(TRAIN_DEFAULTS)
@option("batch-size", default=16)
@option("num-channels", default=32,
        help="UNet width (a multiple of 32).")
@option("channel-mult", default="1,2,2", help="UNet levels, e.g. 1,2,2.")
@option("nfe", default=3,
        help="Network evaluations per forecast lead (Euler steps), stored as the run's "
             "sampling default.")
@option("sigma", default=None,
        help="Path noise σ (default: the method's, 0.2 for IDFF, 0 for OT-CFM).")
@device_option
@run_dir_options
def train_sst_cmd(data_path, var, boxes, corners, patch_size, normalisation, train_years,
                  val_years, test_years, method, horizon, context, steps, batch_size, lr,
                  num_channels, channel_mult, nfe, seed, ckpt_every, sigma, device, out, resume,
                  init_from):
    """Train an IDFF (or OT-CFM) SST forecaster on OISSTv2-style netCDF data."""
    from idff.sst.config import EOFS_DATA, sst_run_config
    from idff.sst.train import train_sst
    from idff.training.checkpoint import claim_run_dir

    check_output_path(out, folder=True)
    check_init_from(init_from, resume)
    if corners is None and typed("patch_size"):
        raise UserError(f"--patch-size {patch_size} would change nothing: it sizes the patches "
                        "of --corners; add --corners 'lat,lon;...' or drop it (--boxes gives "
                        "its own sizes).")
    claim_run_dir(out, resume)  # before the data are read: a refusal is immediate
    data = dict(EOFS_DATA)
    if data_path != "eofs":
        data.update(path=str(Path(data_path).resolve()), train=[None, 2018], val=[2019, 2019],
                    test=[2020, 2020])
    data.update(var=var, boxes=parse_boxes(boxes), normalisation=normalisation,
                corners=parse_corners(corners), patch_size=patch_size)
    for key, val in (("train", train_years), ("val", val_years), ("test", test_years)):
        if val is not None:
            data[key] = parse_years(val)
    try:
        try:
            mult = [int(v) for v in channel_mult.split(",")]
        except ValueError as e:
            raise UserError(f"--channel-mult must be integers like 1,2,2, got {channel_mult!r}."
                            ) from e
        from idff.models.unet import check_width

        check_width(num_channels, mult, "--num-channels")
        cfg = sst_run_config(method, data, {"num_channels": num_channels, "channel_mult": mult},
                             horizon, context, batch_size, {"nfe": nfe}, sigma=sigma)
        train_sst(cfg, out, train_config(TRAIN_DEFAULTS, out, steps=steps, lr=lr, seed=seed,
                                         ckpt_every=ckpt_every), device=device, resume=resume,
                  init_from=init_from)
    except (ValueError, FileNotFoundError, ImportError, PermissionError) as e:
        _fail(e)
    click.echo(f"saved run to {out}")
