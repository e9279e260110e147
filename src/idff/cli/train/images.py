"""``idff train PRESET``: one training command per image preset (:data:`idff.presets.PRESETS`)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from idff.cli.common import (
    DATA_HELP,
    POSITIVE_INT,
    check_init_from,
    device_option,
    run_dir_options,
    warn,
)
from idff.cli.common import fail as _fail
from idff.cli.options import option
from idff.errors import check_output_path
from idff.presets import PRESETS
from idff.threads import choose_threads


def preset_commands() -> list[click.Command]:
    """``idff train PRESET`` for every preset."""
    return [_make_train_command(name) for name in sorted(PRESETS)]


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

