"""CLI for the Kolmogorov-flow benchmark: ``idff kolmogorov-data``, ``idff train kolmogorov``,
``idff kolmogorov-benchmark`` (``idff forecast RUN`` takes its runs too)."""

from __future__ import annotations

import click

from idff.cli.common import NONNEG_INT, POSITIVE_INT
from idff.errors import check_output_path


def register(cli: click.Group, train: click.Group) -> None:
    cli.add_command(kolmogorov_data)


def _data_root_option(f):
    return click.option("--data-root", type=click.Path(file_okay=False), default=None,
                        help="Folder of the cached data sets (default: $IDFF_DATA/kolmogorov "
                             "or ~/.cache/idff/kolmogorov).")(f)


def _size_option(f):
    return click.option("--size", type=click.Choice(["tiny", "cpu", "gpu"]), default="cpu",
                        help="Data set: tiny (tests), cpu (64² → 32², 256/32/64 trajectories "
                             "× 200 frames), gpu (256² → 64², 1024/128/256).")(f)


@click.command("kolmogorov-data")
@_size_option
@_data_root_option
@click.option("--seed", type=NONNEG_INT, default=0)
@click.option("--chunk", type=POSITIVE_INT, default=None,
              help="Trajectories simulated together (one resumable part each).")
@click.option("--device", default="cpu", help="Where the solver runs (cpu, cuda).")
def kolmogorov_data(size, data_root, seed, chunk, device):
    """Simulate the Kolmogorov-flow data set once into the cache (resumable)."""
    import dataclasses
    import time

    import torch

    from idff.data.kolmogorov import SIZES, default_root, generate, load_manifest

    root = data_root or default_root()
    check_output_path(root, "--data-root", folder=True)
    spec = dataclasses.replace(SIZES[size], seed=seed,
                               **({"chunk": chunk} if chunk else {}))
    t0 = time.perf_counter()
    folder = generate(spec, root, size, dtype=torch.float32, echo=click.echo, device=device)
    man = load_manifest(folder)
    click.echo(f"{folder}: " + ", ".join(f"{s} {tuple(v)}" for s, v in man["shape"].items())
               + f" ({time.perf_counter() - t0:.0f} s this call)")
