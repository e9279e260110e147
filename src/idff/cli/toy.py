"""CLI for 2D/vector data: ``idff demo``, ``idff train toy``, ``idff sample``."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import (
    POSITIVE_INT,
    SEED_HELP,
    CLIError,
    check_init_from,
    check_memory,
    device_option,
    pop_sampling,
    run_dir_options,
    sampling_options,
    typed,
    warn,
)
from idff.cli.common import fail as _fail
from idff.cli.idle_options import refuse_idff_options
from idff.cli.options import option, train_config, train_options
from idff.cli.vocabulary import run_argument
from idff.errors import UserError, check_output_path
from idff.threads import choose_threads
from idff.toy.config import TRAIN_DEFAULTS
from idff.toy.data import TOYS


def register(cli: click.Group, train: click.Group) -> None:
    cli.add_command(demo)
    cli.add_command(sample)
    train.add_command(train_toy_cmd)


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
@train_options(TRAIN_DEFAULTS, only=("steps", "lr", "seed", "ckpt_every"))
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


@click.command()
@run_argument(resolve=False)
@sampling_options
@option("n", default=2000, help="Number of samples.")
@option("seed", default=0, help=SEED_HELP)
@device_option
@option("out-file", required=True, help="Output .npy (raw samples) or .png (figure).")
def sample(run, n, seed, device, out, **kw):
    """Sample a trained run; writes raw samples (.npy) or a figure (.png).

    Every sampling option defaults to the run's own setting (toy runs: pf field, midpoint,
    NFE 10), and an NFE with a stored sampler (sampling.budgets) to that sampler. Image
    runs and published image checkpoints (.pt) write a PNG grid instead.
    """
    from idff.io import atomic_save_npy
    from idff.runs import run_kind_of

    overrides = pop_sampling(kw)
    refuse_idff_options(run, overrides)  # IDFF defaults named for a velocity run
    check_output_path(out)
    if not out.endswith((".npy", ".png")):
        raise UserError(f"--out must end in .npy (raw samples) or .png (figure), got {out}.")
    nfe = overrides.get("nfe", 0)
    if nfe > 10_000:
        warn(f"--nfe {nfe} means {nfe} network evaluations per sample; this takes long (a "
             "progress bar appears after two seconds; Ctrl-C stops).")
    kind = run_kind_of(run)
    check_memory(4.0 * n * _sample_numel(run), f"--n {n}")  # x, x0 and two solver stages
    if kind == "image":
        from idff.cli.images import sample_image_grid

        return sample_image_grid(run, n, overrides, seed, out, device)

    from idff.toy.kind import load_toy_model
    from idff.toy.sample import sample_model
    from idff.training.checkpoint import RunError

    try:
        if kind != "toy":
            return _sample_registered(run, n, overrides, seed, out, device)
        from idff.sampling import SamplingConfig

        model, cfg = load_toy_model(run)
        sampler = SamplingConfig.from_run(cfg, **overrides).describe()
        res = sample_model(model, cfg, n, seed=seed, return_trajectory=out.endswith(".png"),
                           device=device, progress=True, **overrides)
    except (RunError, ValueError) as e:
        _fail(e)
    if out.endswith(".npy"):
        atomic_save_npy(res.x.numpy(), out)
    else:
        from idff.toy.plots import plot_samples_and_trajectories

        plot_samples_and_trajectories({f"{cfg['method']} (NFE {res.nfe})": res}, out)
    click.echo(f"wrote {n} samples (NFE {res.nfe}; {sampler}) to {out}")


def _sample_numel(run) -> int:
    """Numbers per sample of a run (a published ``.pt`` checkpoint: 3 × 32 × 32)."""
    import json

    try:
        model = json.loads((Path(run) / "config.json").read_text()).get("model", {})
        if "dim" in model:
            return int(model["dim"])
        return int(model.get("in_channels", 3)) * int(model.get("image_size", 32)) ** 2
    except (OSError, ValueError, TypeError, AttributeError):
        return 3 * 32 * 32


def _sample_registered(run, n, overrides, seed, out, device) -> None:
    """``idff sample`` for any other registered kind of run (see :mod:`idff.runs`)."""
    from idff.io import atomic_save_npy
    from idff.runs import get_kind, load, run_kind_of

    kind = get_kind(run_kind_of(run))
    if kind.sample is None:
        raise UserError(f"{run} is a {kind.name!r} run, which samples from observed states, "
                        f"not from noise. {kind.note}")
    r = load(run)
    sampler = r.sampling.replace(**overrides).describe()
    res = r.sample(n, seed=seed, device=device, **overrides)
    x, nfe = res.x, res.nfe
    if out.endswith(".npy"):
        atomic_save_npy(x.numpy(), out)
    elif x.dim() == 4:
        from idff.images.grid import write_grid

        write_grid(x, out)
    else:
        from idff.sampler import SampleResult
        from idff.toy.plots import plot_samples_and_trajectories

        plot_samples_and_trajectories({f"{r.config.get('method')} (NFE {nfe})":
                                       SampleResult(x=x.reshape(n, -1), nfe=nfe)}, out)
    click.echo(f"wrote {n} samples (NFE {nfe}; {sampler}) to {out}")


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
