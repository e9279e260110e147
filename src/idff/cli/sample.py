"""``idff sample RUN``: samples of any run whose kind samples from noise, through
:meth:`idff.runs.Run.sample`, written as raw samples (``.npy``), a PNG grid (images) or the
toy scatter and trajectory figure (``.png``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from idff.cli.common import (
    SEED_HELP,
    check_memory,
    device_option,
    pop_sampling,
    sampling_options,
    warn,
)
from idff.cli.common import fail as _fail
from idff.cli.idle_options import refuse_idff_options
from idff.cli.options import option
from idff.cli.vocabulary import run_argument
from idff.errors import UserError, check_output_path


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
    from idff.runs import get_kind, load, run_kind_of
    from idff.training.checkpoint import RunError

    overrides = pop_sampling(kw)
    refuse_idff_options(run, overrides)  # IDFF defaults named for a velocity run
    check_output_path(out)
    if not out.endswith((".npy", ".png")):
        raise UserError(f"--out must end in .npy (raw samples) or .png (figure), got {out}.")
    nfe = overrides.get("nfe", 0)
    if nfe > 10_000:
        warn(f"--nfe {nfe} means {nfe} network evaluations per sample; this takes long (a "
             "progress bar appears after two seconds; Ctrl-C stops).")
    kind = get_kind(run_kind_of(run))
    check_memory(4.0 * n * _sample_numel(run), f"--n {n}")  # x, x0 and two solver stages
    if kind.sample is None:
        raise UserError(f"{run} is a {kind.name!r} run, which samples from observed states, "
                        f"not from noise. {kind.note}")
    figure = out.endswith(".png") and kind.name == "toy"
    try:
        r = load(run)
        sampler = r.sampling.replace(**overrides).describe()
        # raw image samples are the solver's output, not clamped to [-1, 1]
        res = r.sample(n, seed=seed, device=device, return_trajectory=figure, progress=True,
                       clamp=False if kind.name == "image" else None, **overrides)
        _write(res, r.config, n, out)
    except (RunError, ValueError, PermissionError) as e:
        _fail(e)
    click.echo(f"wrote {n} samples (NFE {res.nfe}; {sampler}) to {out}")


def _write(res, config: dict, n: int, out: str) -> None:
    """``.npy``: the samples as drawn; ``.png``: a grid of images, else the scatter (and, for
    toy runs, trajectory) figure."""
    if out.endswith(".npy"):
        from idff.io import atomic_save_npy

        atomic_save_npy(res.x.numpy(), out)
    elif res.x.dim() == 4:
        from idff.images.grid import write_grid

        write_grid(res.x, out)
    else:
        from idff.sampler import SampleResult
        from idff.toy.plots import plot_samples_and_trajectories

        if res.trajectory is None:
            res = SampleResult(x=res.x.reshape(n, -1), nfe=res.nfe)
        plot_samples_and_trajectories({f"{config.get('method')} (NFE {res.nfe})": res}, out)


def _sample_numel(run) -> int:
    """Numbers per sample of a run (a published ``.pt`` checkpoint: 3 × 32 × 32)."""
    try:
        model = json.loads((Path(run) / "config.json").read_text()).get("model", {})
        if "dim" in model:
            return int(model["dim"])
        return int(model.get("in_channels", 3)) * int(model.get("image_size", 32)) ** 2
    except (OSError, ValueError, TypeError, AttributeError):
        return 3 * 32 * 32
