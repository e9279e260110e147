"""CLI for images: ``idff train PRESET``, ``idff generate``, ``idff dump-real``.

``idff sample RUN`` (in :mod:`idff.cli.toy`) hands image runs and published ``.pt``
checkpoints to :func:`sample_image_grid`.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from idff.cli.common import (
    NONNEG_FLOAT,
    NONNEG_INT,
    POSITIVE_INT,
    SEED_HELP,
    check_init_from,
    device_option,
    pop_sampling,
    run_dir_options,
    sampling_options,
    warn,
)
from idff.cli.common import fail as _fail
from idff.cli.idle_options import refuse_idff_options
from idff.cli.options import option
from idff.cli.vocabulary import run_argument
from idff.errors import check_output_path
from idff.presets import PRESETS
from idff.runlock import hold_for_command
from idff.threads import choose_threads

DATA_HELP = (
    "Folder holding the dataset: cifar10 → ROOT/cifar-10-batches-py/; celeba64 → "
    "ROOT/celeba/img_align_celeba/; celebahq256 / lsun_* → an LMDB folder (data.mdb); "
    "imagenet64 → train_data_batch_*.npz; fashion_mnist → IDX files (default: the Debian "
    "package dataset-fashion-mnist)."
)


def register(cli: click.Group, train: click.Group) -> None:
    for name in sorted(PRESETS):
        train.add_command(_make_train_command(name))
    cli.add_command(generate)
    cli.add_command(dump_real)


def _make_train_command(preset: str) -> click.Command:
    p = PRESETS[preset]

    @click.command(preset, help=f"Train IDFF on {preset} ({p['data']['image_size']}px "
                   f"{p['data']['channels']}-channel images, preset '{preset}').")
    @run_dir_options(out_default="runs/<preset>-<date>-<time>")
    @option("data-root", help=DATA_HELP)
    @click.option("--download", is_flag=True, help="Download the dataset when possible.")
    @click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
                  help="Override a preset field, e.g. --set train.lr=1e-4 (repeatable).")
    @option("steps", default=None,
            help="Shortcut for --set train.steps=N.")
    @option("batch-size", default=None,
            help="Global batch size over all processes (train.batch_size).")
    @option("ckpt-every", default=None,
            help="Steps between checkpoints (train.ckpt_every); Ctrl-C and SIGTERM also "
                 "save one.")
    @click.option("--grad-accum", type=POSITIVE_INT, default=None, help="Micro-batches per step.")
    @click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default=None,
                  help="Autocast precision on GPU (presets: bf16; the CPU trains in fp32).")
    @option("max-minutes", default=None,
            help="Stop (and save) after this.")
    @click.option("--tensorboard/--no-tensorboard", default=True, help="Write TensorBoard scalars.")
    @option("sigma", default=None,
            help="Path noise σ (objective.sigma; default: the preset's).")
    @device_option(help="cpu or cuda (torchrun: one GPU per process).")
    @option("threads", default=None,
            help="torch CPU threads per process.")
    @option("dry-run", help="Build the model and data pipeline, run one loss, write nothing.")
    @option("compile", "compile_",
            help="torch.compile the network (minutes of compiling first; channels_last "
                 "on CUDA). A run may be resumed with or without it.")
    def command(out, data_root, download, overrides, steps, batch_size, ckpt_every, grad_accum,
                precision, max_minutes, tensorboard, sigma, device, threads, resume, init_from,
                dry_run, compile_):
        _train(preset, out, data_root, download, list(overrides), steps, batch_size, grad_accum,
               precision, max_minutes, tensorboard, device, threads, resume, dry_run, init_from,
               compile_, ckpt_every, sigma)

    return command


def _train(preset, out, data_root, download, overrides, steps, batch_size, grad_accum,
           precision, max_minutes, tensorboard, device, threads, resume, dry_run,
           init_from=None, compile_=False, ckpt_every=None, sigma=None) -> None:

    from idff.cli.common import typed
    from idff.cli.overrides import merge_set
    from idff.errors import DataError
    from idff.images.config import image_run_config
    from idff.images.report import dry_run_report
    from idff.images.train import train_images
    from idff.training.checkpoint import RunError

    if threads:
        choose_threads(threads)
    given = set(typed("steps", "batch_size", "grad_accum", "precision", "max_minutes",
                      "tensorboard", "ckpt_every", "sigma", "download", "data_root"))
    words = {"tensorboard": "--tensorboard" if tensorboard else "--no-tensorboard",
             "download": "--download", "data_root": f"--data-root {data_root}"}
    shortcuts = [("train.steps", steps, "steps"), ("train.batch_size", batch_size, "batch_size"),
                 ("train.grad_accum", grad_accum, "grad_accum"),
                 ("train.precision", precision, "precision"),
                 ("train.max_minutes", max_minutes, "max_minutes"),
                 ("train.tensorboard", tensorboard, "tensorboard"),
                 ("train.ckpt_every", ckpt_every, "ckpt_every"),
                 ("objective.sigma", sigma, "sigma"),
                 ("data.download", True if download else None, "download"),
                 ("data.root", None if data_root is None
                  else str(Path(data_root).expanduser().resolve()), "data_root")]
    try:
        overrides = merge_set(overrides, [
            (key, value, words.get(name, f"--{name.replace('_', '-')} {value}")
             if name in given else None) for key, value, name in shortcuts])
    except ValueError as e:
        _fail(e)
    if precision not in (None, "fp32") and not str(device).startswith("cuda"):
        warn(f"--precision {precision} is stored in the run but applies on a GPU only; on "
             f"{device} this run trains in fp32.")
    try:
        cfg = image_run_config(preset, overrides, data_root)
        if dry_run:
            for line in dry_run_report(cfg, device=device):
                click.echo(line)
            return
        if out is None:
            if resume:
                raise ValueError("--resume needs --out (the run directory to continue).")
            out = f"runs/{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        check_output_path(out, folder=True)
        check_init_from(init_from, resume)
        trainer = train_images(cfg, out, device=device, resume=resume, init_from=init_from,
                               compile=compile_)
    except (ValueError, FileNotFoundError, PermissionError, DataError, RunError,
            FloatingPointError, RuntimeError) as e:
        _fail(e)
    if trainer.is_main:
        click.echo(f"saved run to {out} (step {trainer.step})")
    trainer.dist.close()


def _json(v) -> str:
    import json

    return json.dumps(v)


def sample_image_grid(run, n: int, overrides: dict, seed: int, out: str,
                      device: str = "cpu") -> None:
    """``idff sample`` for image runs and published checkpoints: one PNG grid (or .npy).

    ``overrides`` are the sampling options given on the command line; the run's (or the
    published checkpoint's) sampling settings fill in the rest.
    """
    from idff.images.grid import write_grid
    from idff.images.kind import load_image_model
    from idff.images.sample import sample_images
    from idff.io import atomic_save_npy
    from idff.sampling import SamplingConfig
    from idff.training.checkpoint import RunError

    try:
        model, cfg = load_image_model(run)
        sampler = SamplingConfig.from_run(cfg, **overrides).describe()
        x, used = sample_images(model, cfg, n, seed=seed, device=device, **overrides)
        if out.endswith(".npy"):
            atomic_save_npy(x.numpy(), out)
        elif out.endswith(".png"):
            write_grid(x, out)
        else:
            raise ValueError(f"--out must end in .png (grid) or .npy (raw samples), got {out}.")
    except (RunError, ValueError, PermissionError) as e:
        _fail(e)
    click.echo(f"wrote {n} samples (NFE {used}; {sampler}) to {out}")


@click.command()
@run_argument(resolve=False)
@option("n", default=50_000, help="Number of images.")
@option("out-dir", required=True, help="Output folder.")
@sampling_options
@option("batch-size", default=256)
@option("seed", default=0,
        help="Base seed; image i uses (seed, i). " + SEED_HELP)
@click.option("--label", type=NONNEG_INT, default=None,
              help="Class label (class-conditional models).")
@click.option("--guidance", type=NONNEG_FLOAT, default=1.0, help="Classifier-free guidance scale.")
@device_option
@option("compile", "compile_",
        help="torch.compile the network (compiling takes a while first; pays off for "
             "large sets).")
def generate(run, n, out, batch_size, seed, label, guidance, device, compile_, **kw):
    """Write N PNGs (000000.png, ...) in batches; rerun the same command to resume.

    Sample i always starts from the noise of seed (SEED, i): the set does not depend on the
    batch size or on how many processes share the work (under torchrun each rank writes
    the indices i ≡ rank mod world size).
    """
    from idff.images.sets import generate_images
    from idff.training.checkpoint import RunError

    overrides = pop_sampling(kw)
    refuse_idff_options(run, overrides)  # IDFF defaults named for a velocity run
    check_output_path(out, folder=True)
    hold_for_command(out)  # one writer of the folder (under torchrun: rank 0 holds it)
    _remove_stale_pngs(Path(out))
    try:
        done = generate_images(run, n, out, batch_size=batch_size, seed=seed, label=label,
                               guidance=guidance, device=device, compile=compile_,
                               **overrides)
    except (RunError, ValueError, PermissionError) as e:
        _fail(e)
    click.echo(f"{out}: {n} images present ({done} written now)")


def _remove_stale_pngs(out: Path) -> None:
    """Delete this process's half-written ``.NNNNNN.png[.XXXXXXXX].tmp`` files left by a
    killed run (see :func:`idff.io.atomic_write`).

    Under torchrun rank ``r`` of ``W`` owns the indices ``i ≡ r (mod W)``, so it never
    touches a file another rank is writing.
    """
    import os
    import re

    if not out.is_dir():
        return
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    for p in out.glob(".*.png*.tmp"):
        m = re.fullmatch(r"\.(\d+)\.png(\.[0-9a-f]+)?\.tmp", p.name)
        if m and int(m.group(1)) % world == rank:
            p.unlink(missing_ok=True)


@click.command("dump-real")
@click.argument("preset", type=click.Choice(sorted(PRESETS)))
@option("out-dir", required=True)
@option("n", default=None, help="Number of images (default: all).")
@option("data-root", help=DATA_HELP)
@click.option("--train/--test", default=True, help="Which split.")
def dump_real(preset, out, n, data_root, train):
    """Write the preset's real images as PNGs (the reference set for FID)."""
    from idff.errors import DataError
    from idff.images.config import image_run_config
    from idff.images.sets import dump_real_images

    check_output_path(out, folder=True)
    try:
        cfg = image_run_config(preset, [], data_root)
        count = dump_real_images(cfg, out, n, train=train)
    except (DataError, ValueError, PermissionError) as e:
        _fail(e)
    click.echo(f"wrote {count} real images to {out}")
