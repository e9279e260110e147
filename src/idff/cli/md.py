"""CLI for molecular dynamics: ``idff md-simulate``, ``idff train md``, ``idff md-eval``,
``idff md-benchmark`` (alanine dipeptide, plus Lorenz-63 through the same pipeline)."""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path

import click

from idff.cli.common import (
    NONNEG_FLOAT,
    NONNEG_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    CommaList,
    check_init_from,
    device_option,
    grid_list,
    option_words,
    pop_sampling,
    run_dir_options,
    sampling_options,
    typed,
)
from idff.cli.common import fail as _fail
from idff.cli.options import option, train_config, train_options
from idff.cli.vocabulary import run_argument
from idff.errors import UserError, check_output_path
from idff.io import atomic_write_text
from idff.md.config import TRAIN_DEFAULTS


def register(cli: click.Group, train: click.Group) -> None:
    cli.add_command(md_simulate)
    cli.add_command(md_eval)
    cli.add_command(md_benchmark)
    train.add_command(train_md_cmd)


def _sim_options(f):
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
SOURCE_OPTIONS = {
    "simulation": set(SIM_OPTIONS),
    "files": {"trajectories", "topology", "frame_ps"},
    "pickle": {"pickle_path", "units", "frame_ps"},
    "lorenz": set(),
}


def _refuse_unread(source: str) -> None:
    """Refuse options given on the command line that ``--source`` does not read."""
    every = set().union(*SOURCE_OPTIONS.values())
    unread = [n for n in typed(*sorted(every)) if n not in SOURCE_OPTIONS[source]]
    if unread:
        raise UserError(f"{option_words(unread)} would change nothing with --source {source}, "
                        "which does not read "
                        f"{'them' if len(unread) > 1 else 'it'}; drop "
                        f"{'them' if len(unread) > 1 else 'it'} or choose the --source that "
                        "does (simulation: the OpenMM settings; files: --trajectory, "
                        "--topology; pickle: --pickle, --units).")


def _settings(kw: dict):
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


def _errors(f):
    @functools.wraps(f)
    def wrapper(*a, **kw):
        from idff.training.checkpoint import RunError

        try:
            return f(*a, **kw)
        except (ValueError, FileNotFoundError, PermissionError, RunError, ImportError) as e:
            _fail(e)

    return wrapper


@click.command("md-simulate")
@_sim_options
@_errors
def md_simulate(**kw):
    """Simulate alanine dipeptide (or --system tetrapeptide) with OpenMM (cached by
    settings); print φ/ψ statistics per residue."""
    from idff.md.metrics import BASINS, basin_populations
    from idff.md.simulate import simulate

    cache = kw.pop("cache")
    settings = _settings(kw)
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


@click.command("md")
@click.option("--method", type=click.Choice(["idff", "icfm"]), default="idff",
              help="IDFF, or the I-CFM baseline (same pairs, same network).")
@click.option("--source", type=click.Choice(["simulation", "files", "pickle", "lorenz"]),
              default="simulation", help="Where the trajectories come from.")
@_sim_options
@click.option("--trajectory", "trajectories", multiple=True, type=click.Path(dir_okay=False),
              help="files: DCD/XTC trajectories (repeat); the last one or two are held out.")
@click.option("--topology", type=click.Path(dir_okay=False), help="files: topology (PDB).")
@click.option("--pickle", "pickle_path", type=click.Path(dir_okay=False),
              help="pickle: the published layout (dict with 'angles', 'sim_length'), read as "
                   "plain data only: a pickle naming anything but arrays, numbers, lists and "
                   "dicts is refused, so no code runs.")
@click.option("--units", type=click.Choice(["degrees", "radians"]), default="degrees",
              help="pickle: unit of the stored angles.")
@option("lag", default=2, help="τ in frames: frame k → frame k+τ.")
@option("history", default=1, help="Earlier frames in the conditioning.")
@click.option("--cond", type=click.Choice(["state", "index"]), default="state",
              help="Condition on the current frame (+history) or on the frame index (paper).")
@option("nfe", default=4,
        help="Default NFE per frame for evaluation.")
@option("sigma", default=None,
        help="Path noise σ (default 0.1; Lorenz-63 I-CFM: 0).")
@train_options(TRAIN_DEFAULTS, only=("steps", "lr", "seed", "ckpt_every"))
@option("batch-size", default=256)
@option("hidden", default=256)
@option("depth", default=3)
@device_option
@run_dir_options
@_errors
def train_md_cmd(method, source, trajectories, topology, pickle_path, units, lag, history, cond,
                 nfe, sigma, steps, batch_size, lr, hidden, depth, seed, ckpt_every, device, out,
                 resume, init_from, **kw):
    """Train IDFF (or I-CFM) from frame k to frame k+τ of torsion trajectories."""
    from dataclasses import asdict

    from idff.md.config import md_run_config
    from idff.md.train import train_md
    from idff.training.checkpoint import claim_run_dir

    check_output_path(out, folder=True)
    check_init_from(init_from, resume)
    _refuse_unread(source)
    claim_run_dir(out, resume)  # before any simulation or data: a refusal is immediate
    cache = kw.pop("cache")
    frame_ps = kw["frame_ps"]
    if source == "simulation":
        data = {"source": "simulation", "system": "alanine",
                "settings": asdict(_settings(kw)), "cache": str(cache)}
    elif source == "files":
        if not trajectories or not topology:
            raise ValueError("--source files needs --trajectory (at least twice) and --topology.")
        data = {"source": "files", "system": "alanine", "frame_ps": frame_ps,
                "trajectories": [str(Path(p).resolve()) for p in trajectories],
                "topology": str(Path(topology).resolve())}
    elif source == "pickle":
        if not pickle_path:
            raise ValueError("--source pickle needs --pickle PATH.")
        data = {"source": "pickle", "system": "alanine", "path": str(Path(pickle_path).resolve()),
                "units": units, "frame_ps": frame_ps}
    else:
        data = {"source": "lorenz", "system": "lorenz", "dt": 0.02, "dim": 3}
    if source != "lorenz":
        from idff.md.config import input_dim
        from idff.md.series import load_series

        series = load_series(data)
        data["dim"] = input_dim(series)
    else:
        series = None
    cfg = md_run_config(method, data, lag, history, cond, hidden, depth, batch_size,
                        sampling={"nfe": nfe}, sigma=sigma)
    train = train_config(TRAIN_DEFAULTS, out, steps=steps, lr=lr, seed=seed,
                         ckpt_every=ckpt_every)
    train_md(cfg, out, train, series=series, device=device, resume=resume, init_from=init_from)
    click.echo(f"saved run to {out}")


@click.command("md-eval")
@run_argument("runs", many=True, resolve=False)
@sampling_options
@option("members", default=4,
        help="Ensemble size: independent rollouts per run.")
@click.option("--max-frames", type=POSITIVE_INT, default=None, help="Truncate the reference.")
@option("seed", default=0)
@device_option
@option("out-dir", default=None,
        help="Folder for metrics.json, table.md and figures.")
@_errors
def md_eval(runs, members, max_frames, seed, device, out, **kw):
    """Score trained MD runs against held-out simulations (and the MD noise floor).

    Pointwise (CC, wrapped RMSE/MAE vs a reference from the same start), distributional
    (JS of Ramachandran and 1D torsion histograms) and kinetic (basin populations,
    transition rates, autocorrelation times). Lorenz-63 runs get forecast errors over
    Lyapunov times and invariant-measure JS instead.
    """
    from idff.md.evaluate import evaluate_md
    from idff.md.lorenz_eval import evaluate_lorenz
    from idff.md.report import (
        KINETIC_COLUMNS,
        LORENZ_COLUMNS,
        MD_COLUMNS,
        PEPTIDE_COLUMNS,
        metric_table,
        save_json,
    )
    from idff.md.train import load_md_model

    overrides = pop_sampling(kw)
    if out:
        check_output_path(out, folder=True)
    md_rows, lz_rows, md_floor, lz_floor, results = [], [], [], [], {}
    for run in runs:
        _, cfg = load_md_model(run)
        if cfg["data"].get("system") == "lorenz":
            r = evaluate_lorenz(run, seed=seed, device=device, **overrides)
            lz_rows.append(r["rows"][0])
            lz_floor = r["rows"][1:]
        else:
            r = evaluate_md(run, members, seed, max_frames=max_frames, device=device,
                            **overrides)
            md_rows.append(r["rows"][0])
            md_floor = r["rows"][1:]
        results[run] = r
    md_rows += md_floor  # reference rows of the last run (runs should share the data)
    lz_rows += lz_floor
    text = []
    if md_rows:
        text += [metric_table(md_rows, MD_COLUMNS), "", metric_table(md_rows, KINETIC_COLUMNS)]
        if any("js_torsion" in r for r in md_rows):
            text += ["", "Several residues (JS: divergence in bits; factors: geometric mean "
                     "of max(a/b, b/a) against the reference):", "",
                     metric_table(md_rows, PEPTIDE_COLUMNS)]
    if lz_rows:
        text += ["", metric_table(lz_rows, LORENZ_COLUMNS)]
    click.echo("\n".join(text))
    if out:
        from idff.md.plots import plot_ramachandran

        Path(out).mkdir(parents=True, exist_ok=True)
        save_json({"md": md_rows, "lorenz": lz_rows}, Path(out) / "metrics.json")
        atomic_write_text("\n".join(text) + "\n", Path(out) / "table.md")
        panels = {}
        for run, r in results.items():
            if "generated" in r:
                panels.setdefault("MD held-out reference", r["reference"])
                panels[f"{Path(run).name} (NFE {r['nfe']})"] = r["generated"]
        if panels:
            plot_ramachandran(panels, Path(out) / "ramachandran.png")
        click.echo(f"wrote {out}/metrics.json and table.md")


@click.command("md-benchmark")
@_sim_options
@option("runs", default="runs/md",
        help="Where the trained runs go.")
@option("steps", default=4000, help="Training steps per model.")
@click.option("--nfe", "nfes", type=CommaList(POSITIVE_INT), default="2,4",
              help="Network evaluations per generated frame, comma-separated.")
@click.option("--sigma", "sigmas", type=CommaList(POSITIVE_FLOAT), default="0.1,0.3,1",
              help="Path noise σ, comma-separated; each trains one IDFF and one I-CFM model.")
@option("members", default=4,
        help="Ensemble size: independent rollouts per method.")
@option("lag", default=2, help="τ in frames.")
@option("history", default=1, help="Earlier frames in the conditioning.")
@option("seed", default=0)
@click.option("--lorenz/--no-lorenz", default=True, help="Also run Lorenz-63.")
@click.option("--grids", default="uniform", show_default=True,
              help="Time grids to choose from per model and NFE (uniform, power:RHO, "
                   "logsnr). With several, one more trajectory is held out for validation "
                   "and each model samples on the grid with the best mean rank there "
                   "(Ramachandran JS, populations, and for several residues MFPTs).")
@option("out-dir", default="results/md")
@_errors
def md_benchmark(runs, steps, nfes, sigmas, members, lag, history, seed, lorenz, grids, out,
                 **kw):
    """Simulate (cached), train IDFF and CFM, evaluate against held-out MD; write metrics.json,
    table.md and figures."""
    check_output_path(out, folder=True)
    check_output_path(runs, "--runs", folder=True)
    from idff.md.benchmark import run_md_benchmark
    from idff.runlock import hold_for_command

    hold_for_command(out)  # one benchmark per folder at a time
    hold_for_command(runs, option="--runs")

    cache = kw.pop("cache")
    settings = _settings(kw)
    command = "idff " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run_md_benchmark(out, settings, runs, cache, steps, tuple(nfes), members, lag, history,
                     tuple(sigmas), seed, lorenz, command=command, echo=click.echo,
                     grids=grid_list(grids, required=True))
    click.echo(f"wrote {out}/metrics.json, table.md and figures")
