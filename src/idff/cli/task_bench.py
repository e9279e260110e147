"""The task benchmarks: ``idff md-benchmark`` (MD and Lorenz-63) and
``idff kolmogorov-benchmark`` (Kolmogorov flow), each training and scoring its methods."""

from __future__ import annotations

import shlex
import sys

import click

from idff.cli.common import (
    NONNEG_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    CommaList,
    device_option,
    grid_list,
)
from idff.cli.kolmogorov_options import (
    NFE,
    data_root_option,
    model_options,
    parse_channel_mult,
    sigma_option,
    size_option,
)
from idff.cli.md_options import md_errors, sim_options, simulation_settings
from idff.cli.options import option
from idff.errors import UserError, check_output_path


@click.command("md-benchmark")
@sim_options
@option("runs", default="runs/md",
        help="Where the trained runs go.")
@option("steps", default=4000, help="Training steps per model.")
@click.option("--nfe", "nfes", type=CommaList(POSITIVE_INT), default="2,4",
              help="Network evaluations per generated frame, comma-separated.")
@click.option("--sigma", "sigmas", type=CommaList(POSITIVE_FLOAT), default="0.1,0.3,1",
              help="Path noise σ, comma-separated; each trains one IDFF and one I-CFM model.")
@option("members", default=4,
        help="Ensemble size: independent rollouts per method.")
@option("lag", default=2, help="τ in frames.")
@option("history", default=1, help="Earlier frames in the conditioning.")
@option("seed", default=0)
@click.option("--lorenz/--no-lorenz", default=True, help="Also run Lorenz-63.")
@click.option("--grids", default="uniform", show_default=True,
              help="Time grids to choose from per model and NFE (uniform, power:RHO, "
                   "logsnr). With several, one more trajectory is held out for validation "
                   "and each model samples on the grid with the best mean rank there "
                   "(Ramachandran JS, populations, and for several residues MFPTs).")
@option("out-dir", default="results/md")
@md_errors
def md_benchmark(runs, steps, nfes, sigmas, members, lag, history, seed, lorenz, grids, out,
                 **kw):
    """Simulate (cached), train IDFF and CFM, evaluate against held-out MD; write metrics.json,
    table.md and figures."""
    check_output_path(out, folder=True)
    check_output_path(runs, "--runs", folder=True)
    from idff.md.benchmark import run_md_benchmark
    from idff.runlock import hold_for_command

    hold_for_command(out)  # one benchmark per folder at a time
    hold_for_command(runs, option="--runs")

    cache = kw.pop("cache")
    settings = simulation_settings(kw)
    command = "idff " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run_md_benchmark(out, settings, runs, cache, steps, tuple(nfes), members, lag, history,
                     tuple(sigmas), seed, lorenz, command=command, echo=click.echo,
                     grids=grid_list(grids, required=True))
    click.echo(f"wrote {out}/metrics.json, table.md and figures")


@click.command("kolmogorov-benchmark")
@size_option
@data_root_option
@model_options
@click.option("--forecasters", default="idff,otcfm,mse",
              help="Learned forecasters to train and score (comma-separated).")
@option("members", default=16, help="Ensemble size.")
@click.option("--starts", type=POSITIVE_INT, default=2,
              help="Forecast starts per test trajectory.")
@click.option("--max-trajectories", type=POSITIVE_INT, default=None,
              help="Use at most this many test trajectories.")
@click.option("--nfe", type=NFE, default=3,
              help="Network evaluations per lead for IDFF and OT-CFM.")
@option("gamma", default=1.0,
        help="IDFF diffusion multiplier (the ensemble's noise; 0 = deterministic).")
@sigma_option
# the default is idff.kolmogorov.benchmark.SELECT_GRIDS (kept literal: the CLI
# imports torch only when a command runs)
@click.option("--grids", default="uniform,power:0.7,power:1.5", show_default=True,
              help="Time grids tried for IDFF and OT-CFM on the validation trajectories "
                   "(uniform, power:RHO, logsnr); each keeps the sharpest calibrated one "
                   "(spread-skill in [0.7, 1.3] at every lead, then the lowest mean CRPS). "
                   "One grid: no selection.")
@click.option("--jobs", type=POSITIVE_INT, default=1, show_default=True,
              help="Forecasters trained at a time (separate processes, one CPU thread each "
                   "on the CPU); 2 on a two-core machine.")
@click.option("--long-frames", type=NONNEG_INT, default=150, show_default=True,
              help="Frames of the long free rollouts (2 members from each of 8 test "
                   "trajectories per learned forecaster), compared with the test set's "
                   "statistics; 0 skips them.")
@device_option
@option("runs", default="runs/kolmogorov",
        help="Folder of the trained runs and cached scores (resumable).")
@option("out-dir", default="results/kolmogorov")
def kolmogorov_benchmark(size, data_root, num_channels, channel_mult, steps, batch_size, lr,
                         horizon, seed, forecasters, members, starts, max_trajectories, nfe,
                         gamma, sigma, grids, jobs, long_frames, device, runs, out):
    """Train IDFF, OT-CFM and a deterministic UNet with the same network and budget and score
    them against persistence, climatology and a physics ensemble, per lead."""
    import sys

    from idff.kolmogorov.benchmark import run_benchmark
    from idff.kolmogorov.config import FORECASTERS
    from idff.runlock import hold_for_command

    names = tuple(n.strip() for n in forecasters.split(",") if n.strip())
    candidates = grid_list(grids, required=True)
    for n in names:
        if n not in FORECASTERS:
            raise UserError(f"unknown forecaster {n!r} in --forecasters; choose from "
                            f"{', '.join(FORECASTERS)}.")
    check_output_path(runs, "--runs", folder=True)
    check_output_path(out, folder=True)
    hold_for_command(runs, option="--runs")  # one benchmark per folder at a time
    hold_for_command(out)
    run_benchmark(runs, out, size, data_root, names, steps, batch_size, lr, horizon, members,
                  starts, max_trajectories, seed,
                  {"num_channels": num_channels,
                   "channel_mult": parse_channel_mult(channel_mult, num_channels)},
                  {"idff": {"nfe": nfe, "gamma": gamma}, "otcfm": {"nfe": nfe}},
                  device, "idff " + " ".join(sys.argv[1:]), echo=click.echo, sigma=sigma,
                  grids=candidates, jobs=jobs, long_frames=long_frames)
