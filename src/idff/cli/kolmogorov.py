"""CLI for the Kolmogorov-flow benchmark: ``idff kolmogorov-data``, ``idff train kolmogorov``,
``idff kolmogorov-benchmark`` (``idff forecast RUN`` takes its runs too)."""

from __future__ import annotations

import click

from idff.cli.common import (
    MAX_NFE,
    NONNEG_INT,
    POSITIVE_INT,
    check_init_from,
    device_option,
    grid_list,
    run_dir_options,
)
from idff.cli.options import option, train_config, train_options
from idff.errors import UserError, check_output_path
from idff.kolmogorov.config import TRAIN_DEFAULTS

#: --nfe, as in every command that samples
NFE = click.IntRange(1, MAX_NFE)


def register(cli: click.Group, train: click.Group) -> None:
    cli.add_command(kolmogorov_data)
    cli.add_command(kolmogorov_benchmark)
    train.add_command(train_kolmogorov_cmd)


def _data_root_option(f):
    return option("data-root", default=None,
                  help="Folder of the cached data sets (default: $IDFF_DATA/kolmogorov "
                       "or ~/.cache/idff/kolmogorov).")(f)


def _size_option(f):
    return click.option("--size", type=click.Choice(["tiny", "cpu", "gpu"]), default="cpu",
                        help="Data set: tiny (tests), cpu (64² → 32², 256/32/64 trajectories "
                             "× 200 frames), gpu (256² → 64², 1024/128/256).")(f)


@click.command("kolmogorov-data")
@_size_option
@_data_root_option
@option("seed", default=0)
@click.option("--chunk", type=POSITIVE_INT, default=None,
              help="Trajectories simulated together (one resumable part each).")
@device_option(help="Where the solver runs: cpu, cuda, cuda:1, mps.")
def kolmogorov_data(size, data_root, seed, chunk, device):
    """Simulate the Kolmogorov-flow data set once into the cache (resumable)."""
    import dataclasses
    import time

    import torch

    from idff.kolmogorov.data import SIZES, default_root, generate, load_manifest

    root = data_root or default_root()
    check_output_path(root, "--data-root", folder=True)
    spec = dataclasses.replace(SIZES[size], seed=seed,
                               **({"chunk": chunk} if chunk else {}))
    t0 = time.perf_counter()
    folder = generate(spec, root, size, dtype=torch.float32, echo=click.echo, device=device)
    man = load_manifest(folder)
    click.echo(f"{folder}: " + ", ".join(f"{s} {tuple(v)}" for s, v in man["shape"].items())
               + f" ({time.perf_counter() - t0:.0f} s this call)")


def _model_options(f):
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


def _sigma_option(f):
    return option("sigma", default=None,
                  help="IDFF's path noise σ (default 1); it sets how far the bridge "
                       "spreads the ensemble. Only for the idff forecaster.")(f)


def _mult(text: str, num_channels: int) -> list[int]:
    """``--channel-mult`` as integers, checked with ``--num-channels`` before any data load."""
    from idff.models.unet import check_width

    try:
        mult = [int(v) for v in text.split(",")]
    except ValueError as e:
        raise UserError(f"--channel-mult must be integers like 1,2,2, got {text!r}.") from e
    check_width(num_channels, mult, "--num-channels")
    return mult


@click.command("kolmogorov")
@click.option("--forecaster", type=click.Choice(["idff", "otcfm", "mse"]), default="idff",
              help="IDFF (current frame → next), OT-CFM (noise → next) or a deterministic "
                   "UNet trained by MSE.")
@_size_option
@_data_root_option
@_model_options
@option("context", default=1,
        help="Previous frames in the conditioning.")
@click.option("--nfe", type=NFE, default=None,
              help="Network evaluations per lead stored as the run's sampling default "
                   "(default: 3; the deterministic UNet always uses 1).")
@train_options(TRAIN_DEFAULTS, only=("ckpt_every",))
@_sigma_option
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
    model = {"num_channels": num_channels, "channel_mult": _mult(channel_mult, num_channels)}
    cfg = kolmogorov_run_config(forecaster, size, data_root, horizon, context, batch_size,
                                model, sampling, sigma)
    claim_run_dir(out, resume)  # before the data are read: a refusal is immediate
    train_kolmogorov(cfg, out, train_config(TRAIN_DEFAULTS, out, steps=steps, lr=lr, seed=seed,
                                            ckpt_every=ckpt_every), device=device,
                     resume=resume, init_from=init_from)
    click.echo(f"saved run to {out}")


def forecast_kolmogorov(run, horizon, members, max_forecasts, baselines, seed, device, out,
                        overrides, split: str = "test") -> None:
    """``idff forecast RUN`` for Kolmogorov runs: the run's ensembles (and persistence and
    climatology) from two starts per trajectory of ``split`` (test or val), scored per lead."""
    from pathlib import Path

    from idff.io import atomic_write_json, atomic_write_text
    from idff.kolmogorov import report as kr
    from idff.kolmogorov.config import load_data
    from idff.kolmogorov.forecast import (
        climatology_forecast,
        forecast_starts,
        learned_forecast,
        persistence_forecast,
    )
    from idff.kolmogorov.scores import score
    from idff.kolmogorov.train import load_kolmogorov_model

    model, cfg = load_kolmogorov_model(run)
    _refuse_idle_forecast_options(run, cfg, overrides, members)
    data = load_data(cfg["data"], ("train", split))
    test = data.splits[split]
    starts = forecast_starts(test.shape[1], horizon, cfg["context"])
    if max_forecasts:
        test = test[: max(1, max_forecasts // len(starts))]
    dt = data.manifest["spec"]["frame_dt"]
    fcs = {cfg["forecaster"]: learned_forecast(model, cfg, test, starts, horizon, members,
                                               seed=seed, device=device, progress=True,
                                               **overrides)}
    if baselines:
        fcs["persistence"] = persistence_forecast(test, starts, horizon)
        fcs["climatology"] = climatology_forecast(data.splits["train"], test, starts, horizon,
                                                  members, seed)
    scores = {k: score(f, dt) for k, f in fcs.items()}
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write_json(scores, Path(out) / "metrics.json", indent=1)
    atomic_write_text(kr.tables(scores, dt), Path(out) / "table.md")
    kr.plot_scores(scores, Path(out) / "scores.png")
    kr.plot_calibration(scores, dt, Path(out) / "calibration.png")
    fields = {"truth": fcs[cfg["forecaster"]].truth[:, 0, 0].numpy()}
    fields.update({k: f.ens[:, :, 0, 0].mean(1).numpy() for k, f in fcs.items()})
    kr.plot_fields(fields, dt, Path(out) / "forecast.png")
    click.echo(kr.tables(scores, dt))
    click.echo(f"wrote {out}/metrics.json, table.md, scores.png, calibration.png, forecast.png")


def _refuse_idle_forecast_options(run, cfg, overrides, members) -> None:
    """``idff forecast`` options a Kolmogorov run would ignore: ``--data`` (the run reads its
    own data set), for the deterministic UNet the sampling options and ``--members``, and
    IDFF's sampling options for OT-CFM."""
    from idff.cli.common import typed
    from idff.cli.idle_options import refuse_idff_options

    if typed("data_path"):
        raise UserError(f"--data would change nothing: a Kolmogorov run forecasts the "
                        f"trajectories of the data set it was trained on "
                        f"({cfg['data'].get('root', 'its data root')}); drop --data.")
    if cfg.get("forecaster") != "mse":
        return refuse_idff_options(run, overrides)
    words = [f"--{k}" for k in overrides]
    if typed("members") and members != 1:
        words.append(f"--members {members}")
    if words:
        raise UserError(f"{', '.join(words)} would change nothing: the deterministic UNet "
                        "(--forecaster mse) makes one network call per lead and forecasts one "
                        f"member; drop {'them' if len(words) > 1 else 'it'}.")


@click.command("kolmogorov-benchmark")
@_size_option
@_data_root_option
@_model_options
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
@_sigma_option
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
                  {"num_channels": num_channels, "channel_mult": _mult(channel_mult, num_channels)},
                  {"idff": {"nfe": nfe, "gamma": gamma}, "otcfm": {"nfe": nfe}},
                  device, "idff " + " ".join(sys.argv[1:]), echo=click.echo, sigma=sigma,
                  grids=candidates, jobs=jobs, long_frames=long_frames)
