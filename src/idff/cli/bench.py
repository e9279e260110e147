"""CLI for benchmarks: ``idff bench nfe`` (quality and time against NFE, samplers stored per
budget) and ``idff bench merge``."""

from __future__ import annotations

import math
from pathlib import Path

import click

from idff.cli.common import (
    MAX_NFE,
    POSITIVE_INT,
    device_option,
    grid_list,
    option_words,
    typed,
)
from idff.cli.common import fail as _fail
from idff.cli.eval import _extractor, _feature_options
from idff.cli.options import option
from idff.cli.outputs import guard_bench_out
from idff.cli.vocabulary import refuse_shipped, renamed, run_argument
from idff.errors import UserError, check_output_path
from idff.io import atomic_write_text
from idff.sampling import FIELD_KINDS
from idff.threads import choose_threads


def _parse_list(text: str, option: str, what: str, parse, ok) -> list:
    """Comma-separated values of ``option``; a bad entry is a one-line user error."""
    out = []
    for item in (x.strip() for x in text.split(",")):
        try:
            value = parse(item)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise UserError(f"{option} takes {what}; {item!r} in {text!r} is not one.")
        out.append(value)
    return out


def _write_val_csv(val_log: list[dict], path: Path) -> None:
    """IDFF's validation scores, one row per noise candidate and budget (none: no file)."""
    import csv
    import io

    if not val_log:
        return
    keys = list(dict.fromkeys(k for d in val_log for k in d))
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(val_log)
    atomic_write_text(buf.getvalue(), path)


@click.group("bench")
def bench() -> None:
    """Benchmarks."""


@bench.command("nfe")
@run_argument("runs", many=True)
@renamed("--label", "--run-label")
@click.option("--run-label", "labels", multiple=True, help="One label per run (default: method).")
@click.option("--nfe", "nfe_list", default="1,2,4,6,10,20,50,100,adaptive",
              help="Comma-separated budgets; 'adaptive' = dopri5.")
@option("n-eval", default=2000, help="Samples per evaluated cell.")
@click.option("--n-val", type=POSITIVE_INT, default=1000, help="Samples per validation candidate.")
@click.option("--gammas", default="0,0.5,1",
              help="IDFF sampling-noise candidates: γ for --field pf, s for published.")
@click.option("--solvers", default="",
              help="Comma-separated solver candidates (e.g. midpoint,euler,ddim,ddim2,heun,srk, "
                   "unipc3, rk2:0.25 for rk2 with its second call at t + 0.25·h), "
                   "crossed with the noise candidates and chosen per budget on the validation "
                   "reference; CFM runs use the ODE ones. Default: each run's own sampler, as "
                   "'idff sample --nfe N' gives it (an IDFF run's noise candidates, plus the "
                   "candidate 'stored' at budgets where the run stores a sampler).")
@click.option("--grids", default="",
              help="Comma-separated time-grid candidates crossed with --solvers: uniform, "
                   "power (ρ = 2), power:RHO, logsnr, custom (the run's tuned grid). Put "
                   "uniform first: that candidate also runs 'adaptive'. Default: each run's own.")
@click.option("--field", "field_kind", type=click.Choice(list(FIELD_KINDS)), default="pf",
              help="IDFF sampling field (x1, velocity: score-free ODEs, one noise-free "
                   "candidate).")
@click.option("--select-metric", default=None,
              help="Validation metric that picks each budget's candidate (default: the primary "
                   "metric; e.g. mmd_fine or in_support for toys, maximised where higher is "
                   "better).")
@click.option("--ref-val", type=POSITIVE_INT, default=10_000,
              help="Images: validation reference size.")
@click.option("--ref-eval", type=POSITIVE_INT, default=10_000,
              help="Images: evaluation reference size.")
@option("data-root", default=None,
        help="Images: Fashion-MNIST IDX folder.")
@_feature_options
@option("seed", default=0)
@option("threads", default=1,
        help="torch CPU threads (timings depend on it).")
@option("out-prefix", required=True,
        help="Output prefix: writes OUT.csv, OUT.md, OUT.png, OUT.val.csv, OUT.meta.json "
             "and the journal OUT.jsonl.")
@click.option("--fresh", is_flag=True,
              help="Discard the journal OUT.jsonl instead of reusing its finished cells.")
@click.option("--store", is_flag=True,
              help="Write the sampler chosen at each NFE budget into each run's config "
                   "(sampling.budgets): sampling the run at that NFE then uses it unless a "
                   "solver, grid or noise is named. Needs --solvers.")
@device_option
@option("compile", "compile_",
        help="torch.compile the networks (the first cells' times include compiling).")
def bench_nfe(runs, labels, nfe_list, n_eval, n_val, gammas, solvers, grids, field_kind,
              select_metric, ref_val, ref_eval, data_root, features, inception, classifier,
              classifier_sha256, seed, threads, out, fresh, store, device, compile_):
    """Quality and sampling time vs NFE for IDFF / OT-CFM / I-CFM runs.

    Toy runs are scored by MMD/W2; image runs (Fashion-MNIST) by a Fréchet distance
    (--features classifier for FD-FMNIST-CNN, inception for FID). Each finished cell is
    journalled in OUT.jsonl, so rerunning an interrupted command resumes it. Runs can be
    benchmarked in separate processes (one --out each) and joined with 'idff bench merge'.
    """
    import json
    import shlex
    import sys

    from idff.eval.bench.entries import entry_from_run
    from idff.eval.bench.plot import plot_quality_vs_nfe
    from idff.eval.bench.quality import ToyQuality, fashion_mnist_quality
    from idff.eval.bench.report import write_csv, write_markdown
    from idff.eval.bench.runner import run_benchmark
    from idff.eval.bench.samplers import parse_solver
    from idff.eval.bench.store import store_choices
    from idff.training.checkpoint import RunError

    choose_threads(threads)
    check_output_path(out)
    guard_bench_out(out, runs if store else ())  # --store writes the runs' config.json
    refuse_shipped(runs if store else (), "bench nfe --store")
    try:
        nfes = _parse_list(nfe_list, "--nfe", f"integers >= 1 (at most {MAX_NFE:,}) or "
                           "'adaptive', e.g. 1,2,4,adaptive",
                           lambda b: b if b == "adaptive" else int(b),
                           lambda b: b == "adaptive" or 1 <= b <= MAX_NFE)
        gam = _parse_list(gammas, "--gammas", "finite numbers >= 0, e.g. 0,0.5,1", float,
                          lambda g: math.isfinite(g) and g >= 0)
        if field_kind in ("x1", "velocity") and any(g > 0 for g in gam) and typed("gammas"):
            raise ValueError(f"--gammas {gammas} would change nothing: the {field_kind} field "
                             "is an ODE without noise; drop --gammas or use --field pf.")
        if field_kind == "published" and any(g > 2 for g in gam):
            raise ValueError(f"--gammas {gammas}: with --field published they are the noise s, "
                             "and s > 2 makes the field undefined near t = 0.5; use values "
                             "<= 2 (the published runs use σ or 2σ).")
        if labels and len(labels) != len(runs):
            raise ValueError(f"give one --run-label per run ({len(runs)} runs, "
                             f"{len(labels)} labels).")
        solver_list = [x.strip() for x in solvers.split(",") if x.strip()] or None
        for x in solver_list or []:
            try:
                parse_solver(x)
            except ValueError as e:
                raise ValueError(f"--solvers: {str(e).rstrip('.')} (rk2:ALPHA places rk2's "
                                 "second call).") from None
        grid_specs = list(grid_list(grids)) or None
        if grid_specs and not solver_list:
            raise ValueError("--grids needs --solvers (the grids are crossed with them).")
        if store and not solver_list:
            raise ValueError("--store writes the sampler chosen among --solvers (and "
                             "--grids) into each run; give --solvers, e.g. --solvers "
                             "midpoint,rk2:0.25,unipc3 --grids uniform,power.")
        entries = [entry_from_run(r, labels[i] if labels else None, gam, field_kind,
                                  solver_list, device, compile_, grid_specs)
                   for i, r in enumerate(runs)]
        idle = typed("field_kind", "gammas")  # IDFF's field and noise; velocity runs have none
        if idle and not any(e.method == "idff" for e in entries):
            raise UserError(f"{option_words(idle)} would change nothing: OT-/I-CFM runs are "
                            "sampled with their velocity, which has no IDFF field or noise; "
                            f"drop {'them' if len(idle) > 1 else 'it'}.")
        kinds = {e.info["kind"] for e in entries}
        if len(kinds) != 1:
            raise ValueError(f"runs of different kinds {sorted(kinds)} cannot share one table.")
        if kinds - {"toy", "image"}:
            e = next(e for e in entries if e.info["kind"] not in ("toy", "image"))
            raise UserError(f"{e.info['run']} is a {e.info['kind']!r} run; idff bench nfe scores "
                            "toy and Fashion-MNIST image runs (MD runs: idff md-eval; SST runs: "
                            "idff forecast).")
        if kinds == {"toy"}:
            datasets = {json.loads((Path(r) / "config.json").read_text())["data"]["dataset"]
                        for r in runs}
            if len(datasets) != 1:
                raise ValueError(f"toy runs on different datasets {sorted(datasets)}.")
            image_only = typed("ref_val", "ref_eval", "data_root", "features", "inception",
                               "classifier", "classifier_sha256")
            if image_only:
                raise UserError(f"{option_words(image_only)} would change nothing: toy runs are "
                                "scored by MMD and W2 against fresh toy samples, not against "
                                "image references or features; drop "
                                f"{'them' if len(image_only) > 1 else 'it'}.")
            quality = ToyQuality(datasets.pop(), n_eval, seed)
        else:
            for e in entries:
                dataset = e.info.get("dataset")
                if dataset != "fashion_mnist":
                    raise ValueError(
                        f"{e.info['run']}: image benchmarks score against Fashion-MNIST "
                        f"references, but this run was trained on {dataset!r}."
                    )
            ext = _extractor(features, inception, classifier, classifier_sha256, device)
            quality = fashion_mnist_quality(ext, data_root, ref_val, ref_eval, seed=seed)
        outp = Path(out)
        journal = Path(f"{outp}.jsonl")
        if fresh and journal.exists():
            journal.unlink()
        rows, val_log = run_benchmark(entries, quality, nfes, n_eval, n_val, seed,
                                      echo=click.echo, journal=journal,
                                      select=select_metric)
    except (ValueError, FileNotFoundError, RunError, ImportError) as e:
        _fail(e)
    floor = quality.floor()
    write_csv(rows, outp.with_suffix(".csv"))
    _write_val_csv(val_log, outp.with_suffix(".val.csv"))
    runs_txt = ", ".join(f"{e.label} = {e.info['run']} ({e.info['train_steps']} steps)"
                         for e in entries)
    argv = sys.argv[1:] if Path(sys.argv[0]).name == "idff" else ["bench", "nfe", *runs, "..."]
    header = (f"Runs: {runs_txt}. torch threads: {threads}. Command: "
              f"`idff {shlex.join(argv)}`. Every row: the CSV"
              + ("; validation scores: .val.csv." if val_log else "."))
    text = write_markdown(rows, outp.with_suffix(".md"), quality, header, floor)
    plot_quality_vs_nfe(rows, outp.with_suffix(".png"), floor=floor.get(quality.name))
    meta = {"metric": quality.name, "protocol": quality.protocol, "floor": floor,
            "header": header, "threads": threads}
    atomic_write_text(json.dumps(meta, indent=2) + "\n", outp.with_suffix(".meta.json"))
    click.echo(text)
    click.echo(f"wrote {outp.with_suffix('.csv')}, .md, .png, .meta.json")
    if store:
        per = len(nfes)
        for i, e in enumerate(entries):
            chosen = store_choices(e, rows[i * per:(i + 1) * per])
            what = "; ".join(f"NFE {k}: {' '.join(f'{a}={b}' for a, b in v.items())}"
                             for k, v in chosen.items()) or "nothing (no budget was scored)"
            click.echo(f"stored in {e.info['run']}/config.json (sampling.budgets): {what}")


@bench.command("merge")
@click.argument("parts", nargs=-1, required=True, type=click.Path())
@option("out-prefix", required=True,
        help="Output prefix for the joined OUT.csv, OUT.md, OUT.png, OUT.val.csv.")
@click.option("--title", default="", help="Plot title.")
def bench_merge(parts, out, title):
    """Join 'idff bench nfe' outputs (given by their --out prefixes) into one table and plot.

    The parts must use the same metric and protocol (e.g. one process per run on a
    multi-core machine); rows keep their own timings.
    """
    import csv
    import json
    from types import SimpleNamespace

    from idff.eval.bench.plot import plot_quality_vs_nfe
    from idff.eval.bench.report import read_csv, write_csv, write_markdown

    check_output_path(out)
    guard_bench_out(out, journal=False)
    rows, val_rows, metas = [], [], []
    try:
        for prefix in parts:
            for suffix in (".meta.json", ".csv", ".md", ".png"):
                prefix = prefix.removesuffix(suffix)
            base = Path(prefix)
            meta_path = base.with_suffix(".meta.json")
            if not meta_path.is_file():
                raise FileNotFoundError(
                    f"{meta_path} not found: give the --out prefix of a finished 'idff bench "
                    "nfe' run (it writes PREFIX.csv and PREFIX.meta.json)."
                )
            metas.append(json.loads(meta_path.read_text()))
            rows += read_csv(base.with_suffix(".csv"))
            val = base.with_suffix(".val.csv")
            if val.is_file():
                with open(val, newline="") as f:
                    val_rows += list(csv.DictReader(f))
        protocols = {(m["metric"], m["protocol"]) for m in metas}
        if len(protocols) != 1:
            raise ValueError(
                "the parts were scored differently and cannot share one table: "
                + "; ".join(f"{a} ({b})" for a, b in sorted(protocols))
            )
        if len({(r.label, r.nfe_budget) for r in rows}) != len(rows):
            raise ValueError("two parts contain the same run label and NFE budget; give the "
                             "runs distinct --run-label values.")
    except (ValueError, FileNotFoundError) as e:
        _fail(e)
    metric, protocol = protocols.pop()
    floor = metas[0].get("floor") or {}
    outp = Path(out)
    write_csv(rows, outp.with_suffix(".csv"))
    _write_val_csv(val_rows, outp.with_suffix(".val.csv"))
    header = "Joined from:\n\n" + "\n".join(f"- {m['header']}" for m in metas)
    quality = SimpleNamespace(name=metric, protocol=protocol)
    text = write_markdown(rows, outp.with_suffix(".md"), quality, header, floor)
    plot_quality_vs_nfe(rows, outp.with_suffix(".png"), title=title,
                        floor=floor.get(metric))
    atomic_write_text(json.dumps(
        {"metric": metric, "protocol": protocol, "floor": floor, "header": header,
         "parts": list(parts)}, indent=2) + "\n", outp.with_suffix(".meta.json"))
    click.echo(text)
    click.echo(f"wrote {outp.with_suffix('.csv')}, .md, .png")
