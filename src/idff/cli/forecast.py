"""``idff forecast RUN``: ensemble forecasts of a trained SST or Kolmogorov run, scored per
lead."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import (
    POSITIVE_INT,
    device_option,
    pop_sampling,
    sampling_options,
    typed,
)
from idff.cli.common import fail as _fail
from idff.cli.idle_options import refuse_idff_options
from idff.cli.options import option
from idff.cli.vocabulary import run_argument
from idff.errors import UserError, check_output_path


@click.command()
@run_argument(resolve=False)
@click.option("--data", "data_path", type=click.Path(), default=None,
              help="SST file/folder to forecast on (default: the run's training data).")
@option("horizon", default=7)
@option("members", default=50)
@sampling_options
@click.option("--max-forecasts", type=POSITIVE_INT, default=None,
              help="Use at most this many starts.")
@click.option("--baselines/--no-baselines", default=True,
              help="Also score persistence and climatology.")
@option("seed", default=0)
@click.option("--split", type=click.Choice(["test", "val"]), default="test",
              help="Kolmogorov runs: forecast the test or the validation trajectories (choose "
                   "sampling settings on val, report on test).")
@device_option
@option("out-dir", required=True,
        help="Folder for metrics.json, per_lead.csv and forecast.png.")
def forecast(run, data_path, horizon, members, max_forecasts, baselines, seed, split, device,
             out, **kw):
    """Ensemble forecasts of a trained SST run over the test years, with CRPS, MSE and
    spread-skill per lead, and a figure of predicted vs true fields."""
    from idff.sst.config import load_sst_data
    from idff.sst.forecast import (
        climatology_forecast,
        forecast_starts,
        persistence_forecast,
        sst_forecast,
    )
    from idff.sst.report import evaluate_sst, plot_forecast, save_scores
    from idff.sst.train import load_sst_model
    from idff.training.checkpoint import RunError

    overrides = pop_sampling(kw)
    check_output_path(out, folder=True)
    from idff.runs import run_kind_of

    if (Path(run) / "config.json").is_file() and run_kind_of(run) == "kolmogorov":
        return forecast_kolmogorov(run, horizon, members, max_forecasts, baselines, seed,
                                   device, out, overrides, split)
    refuse_idff_options(run, overrides)  # IDFF defaults named for a velocity run
    if split != "test":
        raise UserError(f"--split {split} applies to Kolmogorov runs; SST forecasts cover the "
                        "run's test years. Drop --split.")
    try:
        model, cfg = load_sst_model(run)
        if data_path is not None:
            cfg["data"]["path"] = str(Path(data_path).resolve())
        cube, splits = load_sst_data(cfg["data"])
        starts = forecast_starts(cube.data.shape[1], splits["test"], horizon, cfg["context"])
        starts = starts[:max_forecasts] if max_forecasts else starts
        fcs = {cfg["method"]: sst_forecast(model, cfg, cube, starts, horizon, members,
                                           seed=seed, device=device, progress=True,
                                           **overrides)}
        if baselines:
            fcs["persistence"] = persistence_forecast(cube, starts, horizon)
            fcs["climatology"] = climatology_forecast(cube, splits["train"], starts, horizon,
                                                      members, seed=seed)
        scores = {k: evaluate_sst(cube, f) for k, f in fcs.items()}
    except (RunError, ValueError, FileNotFoundError, ImportError) as e:
        _fail(e)
    save_scores(scores, out)
    plot_forecast(cube, fcs, Path(out) / "forecast.png")
    for name, sc in scores.items():
        click.echo(f"{name:12s} CRPS {sc.crps:.4f}  MSE {sc.mse:.4f}  SSR {sc.ssr:.3f}  "
                   f"NFE/lead {sc.extra['nfe_per_lead']}  s/forecast "
                   f"{sc.extra['seconds_per_forecast']:.2f}")
    click.echo(f"wrote {out}/metrics.json, per_lead.csv, forecast.png")


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
