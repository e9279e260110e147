"""``idff generate`` (N PNGs of a run, resumable) and ``idff dump-real`` (a preset's real
images, the reference set for FID)."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import (
    DATA_HELP,
    NONNEG_FLOAT,
    NONNEG_INT,
    SEED_HELP,
    device_option,
    pop_sampling,
    sampling_options,
)
from idff.cli.common import fail as _fail
from idff.cli.idle_options import refuse_idff_options
from idff.cli.options import option
from idff.cli.vocabulary import run_argument
from idff.errors import check_output_path
from idff.presets import PRESETS
from idff.runlock import hold_for_command


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
