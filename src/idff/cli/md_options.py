"""What the molecular-dynamics commands share: the OpenMM simulation options, the
settings built from them, and their one-line errors."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from idff.cli.common import (
    NONNEG_FLOAT,
    NONNEG_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    typed,
)
from idff.cli.common import fail as _fail
from idff.errors import UserError

__all__ = ["SIM_OPTIONS", "sim_options", "simulation_settings", "md_errors"]


def sim_options(f):
    """OpenMM simulation settings shared by every command that may simulate."""
    opts = [
        click.option("--n-traj", type=POSITIVE_INT, default=6, help="Independent trajectories."),
        click.option("--length-ns", type=POSITIVE_FLOAT, default=2.0, help="Length of each (ns)."),
        click.option("--frame-ps", type=POSITIVE_FLOAT, default=1.0,
                     help="Interval between frames (ps)."),
        click.option("--timestep-fs", type=POSITIVE_FLOAT, default=2.0),
        click.option("--temperature", type=POSITIVE_FLOAT, default=300.0, help="K."),
        click.option("--friction", type=NONNEG_FLOAT, default=1.0,
                     help="Langevin friction (1/ps)."),
        click.option("--sim-seed", type=NONNEG_INT, default=0, help="Seed of trajectory 0."),
        click.option("--system", type=click.Choice(["dipeptide", "tetrapeptide"]),
                     default="dipeptide",
                     help="Shipped structure: alanine dipeptide (ACE-ALA-NME, φ/ψ) or "
                          "tetrapeptide (ACE-ALA3-NME, 6 backbone torsions)."),
        click.option("--pdb", type=click.Path(dir_okay=False), default=None,
                     help="Input structure (overrides --system)."),
        click.option("--platform", default="Reference", help="OpenMM platform."),
        click.option("--cache", type=click.Path(file_okay=False), default="cache/md",
                     help="Simulation cache folder."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


#: the options each --source of ``idff train md`` reads (parameter names)
SIM_OPTIONS = ("n_traj", "length_ns", "frame_ps", "timestep_fs", "temperature", "friction",
               "sim_seed", "system", "pdb", "platform", "cache")


def simulation_settings(kw: dict):
    from idff.md.simulate import SimulationSettings, shipped_pdb

    if typed("pdb", "system") == ["pdb", "system"]:
        raise UserError("--pdb and --system both name the structure to simulate; drop one "
                        "(--pdb: your own file, --system: a shipped one).")
    pdb, system = kw.pop("pdb"), kw.pop("system")
    if pdb is None and system != "dipeptide":
        pdb = shipped_pdb(system)
    return SimulationSettings(
        n_traj=kw.pop("n_traj"), length_ns=kw.pop("length_ns"), frame_ps=kw.pop("frame_ps"),
        timestep_fs=kw.pop("timestep_fs"), temperature_k=kw.pop("temperature"),
        friction_per_ps=kw.pop("friction"), seed=kw.pop("sim_seed"),
        pdb=str(Path(pdb).resolve()) if pdb else None,
        platform=kw.pop("platform"),
    )


def md_errors(f):
    @functools.wraps(f)
    def wrapper(*a, **kw):
        from idff.training.checkpoint import RunError

        try:
            return f(*a, **kw)
        except (ValueError, FileNotFoundError, PermissionError, RunError, ImportError) as e:
            _fail(e)

    return wrapper
