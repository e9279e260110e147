"""The data commands: ``idff kolmogorov-data`` (the Kolmogorov-flow data set, cached) and
``idff md-simulate`` (OpenMM trajectories, cached)."""

from __future__ import annotations

import click

from idff.cli.common import POSITIVE_INT, device_option
from idff.cli.kolmogorov_options import data_root_option, size_option
from idff.cli.md_options import md_errors, sim_options, simulation_settings
from idff.cli.options import option
from idff.errors import check_output_path


@click.command("kolmogorov-data")
@size_option
@data_root_option
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


@click.command("md-simulate")
@sim_options
@md_errors
def md_simulate(**kw):
    """Simulate alanine dipeptide (or --system tetrapeptide) with OpenMM (cached by
    settings); print φ/ψ statistics per residue."""
    from idff.md.metrics import BASINS, basin_populations
    from idff.md.simulate import simulate

    cache = kw.pop("cache")
    settings = simulation_settings(kw)
    res = simulate(settings, cache)
    a = res.angles.reshape(-1, res.angles.shape[-1])
    n, t = res.angles.shape[:2]
    click.echo(f"{n} trajectories × {t} frames in {res.directory}")
    for r in range(a.shape[1] // 2):
        pops = basin_populations(a[:, 2 * r], a[:, 2 * r + 1])
        where = f" (residue {res.names[2 * r][4:]})" if a.shape[1] > 2 else ""
        click.echo(f"populations{where}: "
                   + ", ".join(f"{b} {p:.3f}" for b, p in zip(BASINS, pops)))
    click.echo(f"mean potential energy {res.energies.mean():.1f} kJ/mol")
