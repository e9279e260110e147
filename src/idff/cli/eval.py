"""CLI for evaluation: ``idff fid``, ``idff train-classifier``, ``idff nll``, ``idff bench nfe``."""

from __future__ import annotations

import math
from pathlib import Path

import click

from idff.cli.common import (
    MAX_NFE,
    NONNEG_FLOAT,
    NONNEG_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    UNIT_INTERVAL,
    check_nfe_solver,
    device_option,
    grid_list,
    option_words,
    typed,
    warn,
)
from idff.cli.common import fail as _fail
from idff.cli.outputs import guard_bench_out
from idff.cli.sampler_spec import SolverSpec
from idff.cli.vocabulary import refuse_shipped, renamed, run_argument
from idff.errors import UserError, check_output_path
from idff.io import atomic_write_text
from idff.sampling import FIELD_KINDS
from idff.threads import choose_threads


def register(cli: click.Group, train: click.Group) -> None:
    cli.add_command(train_classifier_cmd)
    cli.add_command(fid_cmd)
    cli.add_command(nll_cmd)
    cli.add_command(bench)


@click.command("train-classifier")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder with the Fashion-MNIST IDX files (default: $IDFF_FASHION_MNIST or "
                   "/usr/share/datasets/fashion-mnist).")
@click.option("--out", type=click.Path(dir_okay=False), default="cache/eval/fmnist_cnn.pt",
              help="Weights file (a .json sidecar records its SHA-256 and accuracy).")
@click.option("--epochs", type=POSITIVE_INT, default=4)
@click.option("--batch-size", type=POSITIVE_INT, default=128)
@click.option("--lr", type=POSITIVE_FLOAT, default=2e-3)
@click.option("--max-minutes", type=POSITIVE_FLOAT, default=10.0,
              help="Stop after the epoch that passes this much CPU time.")
@click.option("--seed", type=NONNEG_INT, default=0)
@click.option("--threads", type=POSITIVE_INT, default=1, help="torch CPU threads.")
def train_classifier_cmd(data_root, out, epochs, batch_size, lr, max_minutes, seed, threads):
    """Train the Fashion-MNIST CNN whose features define the FD-FMNIST-CNN distance."""

    from idff.data.fashion_mnist import find_fashion_mnist, load_fashion_mnist
    from idff.eval.classifier import (
        ClassifierTrainConfig,
        accuracy,
        save_classifier,
        train_classifier,
        train_config_dict,
    )

    choose_threads(threads)
    check_output_path(out)
    try:
        folder = find_fashion_mnist(data_root)
        xtr, ytr = load_fashion_mnist("train", folder)
        xte, yte = load_fashion_mnist("test", folder)
    except (FileNotFoundError, ValueError) as e:
        _fail(e)
    cfg = ClassifierTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                max_minutes=max_minutes)
    model, log = train_classifier(xtr, ytr, cfg)
    acc = accuracy(model, xte, yte)
    meta = {"test_accuracy": acc, "train": train_config_dict(cfg), "log": log,
            "data": {"root": str(folder), "train": len(ytr), "test": len(yte)}}
    digest = save_classifier(model, out, meta)
    click.echo(f"test accuracy {acc:.4f} (10k test images), {log['epochs_run']} epochs, "
               f"{log['seconds']:.0f}s wall, {log['cpu_seconds']:.0f}s CPU; wrote {out} "
               f"sha256={digest}")


def _extractor(features: str, inception: str | None, classifier: str | None,
               classifier_sha: str | None, device: str = "cpu"):
    """The feature extractor of ``--features``; the other extractor's options are refused
    (they would change nothing)."""
    from idff.eval.fid import classifier_extractor, inception_extractor

    unused = typed("classifier", "classifier_sha256") if features == "inception" else \
        typed("inception")
    if unused:
        raise UserError(f"{option_words(unused).replace(', ', ' and ')} would change nothing "
                        f"with --features "
                        f"{features}; drop {'them' if len(unused) > 1 else 'it'}, or use "
                        f"--features {'classifier' if features == 'inception' else 'inception'}.")
    if features == "inception":
        return inception_extractor(inception, device=device)
    return classifier_extractor(classifier, classifier_sha, device=device)


_FEATURE_OPTIONS = [
    click.option("--features", type=click.Choice(["inception", "classifier"]),
                 default="inception",
                 help="'inception': FID (pytorch-fid's Inception, standard weights); "
                      "'classifier': Fréchet distance in the Fashion-MNIST CNN's features "
                      "(FD-FMNIST-CNN, not FID)."),
    click.option("--inception", type=click.Path(dir_okay=False), default=None,
                 envvar="IDFF_INCEPTION_WEIGHTS", show_envvar=True,
                 help="Local pt_inception-2015-12-05-6726825d.pth."),
    click.option("--classifier", type=click.Path(dir_okay=False),
                 default="cache/eval/fmnist_cnn.pt",
                 help="Classifier weights (written by idff train-classifier)."),
    click.option("--classifier-sha256", default=None,
                 help="Refuse a classifier whose SHA-256 differs (results stay comparable)."),
]


def _feature_options(f):
    for opt in reversed(_FEATURE_OPTIONS):
        f = opt(f)
    return f


def _source_stats(src: str, extractor, n: int, nfe: int | None, solver: str | None,
                  gamma: float, seed: int, cache_dir: str | None, progress: bool = True):
    """Statistics of a folder, an .npz file, or samples drawn from a run directory."""
    from idff.eval.fid import feature_stats, folder_stats, iter_tensor_batches, load_stats

    p = Path(src)
    if p.suffix == ".npz":
        if not p.is_file():
            raise FileNotFoundError(f"statistics file {p} does not exist.")
        st = load_stats(p)
        feat = st.meta.get("feature")
        if feat and feat != extractor.name:
            raise ValueError(f"{p} holds {feat} statistics but {extractor.name} was asked for; "
                             "use the matching --features.")
        return st, f"{p} ({st.n if st.n > 0 else '?'} images, precomputed)"
    if (p / "config.json").is_file() or (p.is_file() and p.suffix in (".pt", ".pth")):
        from idff.eval.bench import entry_from_run, run_sampler
        from idff.runs import load

        # a published image checkpoint (docs/METHOD.md, "Published checkpoints"), sampled
        # with the pf field
        if p.is_file():
            sampler = run_sampler(load(p), {"field": "pf", "gamma": gamma})
        else:
            sampler = next(iter(entry_from_run(p, gammas=(gamma,)).samplers.values()))
        from idff.sampling.registry import solver_names

        out = sampler(n, None if solver in solver_names(adaptive=True) else nfe, solver, seed)
        x = out.x if hasattr(out, "x") else out
        if x.dim() != 4:
            raise ValueError(f"{p} produced samples of shape {tuple(x.shape)}, not images.")
        x = ((x.float() + 1) / 2).clamp(0, 1)  # image runs sample in [-1, 1]
        st = feature_stats(iter_tensor_batches(x), extractor, progress, total=n)
        nfe_txt = getattr(out, "nfe", nfe)
        return st, f"{p} ({n} samples, NFE {nfe_txt}, solver {solver or 'default'}, seed {seed})"
    if p.is_dir():
        st = folder_stats(p, extractor, cache_dir, progress=progress)
        return st, f"{p} ({st.n} images)"
    raise FileNotFoundError(f"{p} is neither an image folder, an .npz statistics file, a run "
                            "directory nor a .pt image checkpoint.")


@click.command("fid")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@_feature_options
@click.option("--n", "n", type=POSITIVE_INT, default=10_000,
              help="Samples drawn when A or B is a run.")
@click.option("--nfe", type=click.IntRange(1, MAX_NFE), default=10,
              help="NFE when sampling a run.")
@click.option("--solver", type=SolverSpec(plain=True), default=None,
              help="Solver when sampling a run (default: the run's).")
@click.option("--gamma", type=NONNEG_FLOAT, default=0.0,
              help="IDFF pf sampling noise when sampling.")
@click.option("--seed", type=NONNEG_INT, default=0)
@click.option("--save-stats", type=click.Path(dir_okay=False), default=None,
              help="Also write A's statistics to this .npz.")
@click.option("--cache-dir", default="cache/eval/stats", help="Cache of folder statistics.")
@click.option("--threads", type=POSITIVE_INT, default=1, help="torch CPU threads.")
@device_option
def fid_cmd(a, b, features, inception, classifier, classifier_sha256, n, nfe, solver, gamma,
            seed, save_stats, cache_dir, threads, device):
    """Fréchet distance between A and B (image folders, .npz stats, runs or .pt checkpoints).

    With --features inception (default) this is FID as computed by pytorch-fid; the
    weights are read from --inception / $IDFF_INCEPTION_WEIGHTS / torch's hub cache.
    """

    from idff.eval.fid import frechet_distance
    from idff.training.checkpoint import RunError

    choose_threads(threads)
    check_nfe_solver(nfe, solver)
    if save_stats:
        check_output_path(save_stats, "--save-stats")
    try:
        ext = _extractor(features, inception, classifier, classifier_sha256, device)
        sa, da = _source_stats(a, ext, n, nfe, solver, gamma, seed, cache_dir)
        sb, db = _source_stats(b, ext, n, nfe, solver, gamma, seed + 1, cache_dir)
        value = frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma)
    except (FileNotFoundError, ValueError, RunError, ImportError) as e:
        _fail(e)
    dim = sa.mu.shape[0]
    for name, st in (("A", sa), ("B", sb)):
        if 0 < st.n <= dim:
            warn(f"{name} has {st.n} images, not more than the {dim} feature dimensions: its "
                 "covariance is singular and the distance is dominated by sampling error "
                 "(biased upward). Use thousands of images (10,000 or more for FID).")
    if save_stats:
        sa.save(save_stats)
    click.echo(f"{ext.name} = {value:.4f}")
    click.echo(f"  A: {da}\n  B: {db}\n  features: {ext.protocol}; float64 statistics")


@click.command("nll")
@run_argument(resolve=False)
@click.option("--n", "n", type=POSITIVE_INT, default=1000,
              help="Evaluation points (fresh toy draws, file rows or test images).")
@click.option("--estimator", type=click.Choice(["auto", "exact", "hutchinson",
                                                 "hutchinson-gaussian"]), default="auto",
              help="Divergence: exact (default for D ≤ 16) or Hutchinson's estimator.")
@click.option("--field", type=click.Choice(["pf", "published"]), default="pf",
              help="IDFF ODE field (published with s = 0).")
@click.option("--atol", type=POSITIVE_FLOAT, default=1e-5)
@click.option("--rtol", type=POSITIVE_FLOAT, default=1e-5)
@click.option("--t-end", type=UNIT_INTERVAL, default=1e-3,
              help="IDFF fields are singular at t = 1: data are placed at t = 1 - t_end.")
@click.option("--seed", type=NONNEG_INT, default=0)
@device_option
def nll_cmd(run, n, estimator, field, atol, rtol, t_end, seed, device):
    """Negative log-likelihood (nats, bits/dim) of a run's ODE.

    Named toys are scored on fresh draws; runs trained on a --data file on N points drawn
    (with seed SEED) from that file, i.e. on training points, which the output says; image
    runs on N test images with uniform dequantisation, in bits/dim of the 8-bit images.
    """
    import torch

    from idff.eval.likelihood import log_likelihood
    from idff.experiments.images import is_image_run
    from idff.experiments.toy import load_toy_model
    from idff.sampling import SamplingConfig
    from idff.training.checkpoint import RunError

    levels = None
    try:
        if Path(run).is_dir() and is_image_run(run):
            model, cfg, x, what = _image_nll_data(run, n, seed)
            levels = 256
        else:
            kind = _run_kind(run)
            if kind not in (None, "toy"):
                raise UserError(f"{run} is a {kind!r} run; idff nll scores toy and image runs.")
            model, cfg = load_toy_model(run)
            x, what = _vector_nll_data(run, cfg, n, seed)
        f = SamplingConfig.from_run(cfg, field=field).field_for(model.to(device))
        if not f.singular_at_one and typed("t_end"):
            raise UserError(f"--t-end would change nothing: the field of {run} is regular at "
                            "t = 1, where the data are placed; drop it.")
        res = log_likelihood(f, x.to(device), estimator, atol=atol, rtol=rtol, t_end=t_end,
                             levels=levels, generator=torch.Generator().manual_seed(seed),
                             progress=True)
    except (RunError, ValueError, RuntimeError) as e:
        _fail(e)
    n = x.shape[0]
    se = res.nll.std().item() / n**0.5
    click.echo(f"NLL {res.nll.mean().item():.4f} ± {se:.4f} nats "
               f"({res.bpd.mean().item():.4f} bits/dim), {what}, estimator "
               f"{res.estimator}, dopri5 atol={atol} rtol={rtol}, x placed at t={res.t_start:g}, "
               f"{res.nfe} NFE")


def _run_kind(run: str) -> str | None:
    """The ``kind`` of a run (``None`` when it is no readable run; the loader then says why)."""
    from idff.runs import run_kind_of

    try:
        return run_kind_of(run)
    except (OSError, ValueError, AttributeError):
        return None


def _vector_nll_data(run: str, cfg: dict, n: int, seed: int):
    """``n`` points to score a toy run on: fresh draws of its toy, or rows of its data file."""
    import torch

    from idff.data.toys import load_vectors, sample_toy

    data = cfg.get("data", {})
    if data.get("dataset") not in (None, "file"):
        x = sample_toy(data["dataset"], n, torch.Generator().manual_seed(10_000 + seed))
        return x, f"{n} fresh points"
    if data.get("file"):
        arr = torch.from_numpy(load_vectors(data["file"]))
        idx = torch.randperm(arr.shape[0], generator=torch.Generator().manual_seed(seed))
        x = arr[idx[:n]]
        return x, f"{x.shape[0]} points of the training file {data['file']}"
    raise UserError(f"{run} records no data source to score (no dataset, no file).")


def _image_nll_data(run: str, n: int, seed: int):
    """Model, config and ``n`` dequantised test images ``(u + U[0, 1)) / 128 - 1`` of a run."""
    import torch

    from idff.data.images import build_dataset
    from idff.experiments.images import load_image_model

    model, cfg = load_image_model(run)
    if cfg["model"].get("num_classes"):
        raise UserError(f"{run} is class-conditional; idff nll scores unconditional image "
                        "models only.")
    ds = build_dataset(cfg["data"], train=False)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n].tolist()
    x = torch.stack([ds[i][0] for i in idx])  # [-1, 1], from uint8 as u / 127.5 - 1
    u = ((x + 1) * 127.5).round()
    x = (u + torch.rand(x.shape, generator=g)) / 128.0 - 1.0
    return model, cfg, x, f"{len(idx)} test images (uniform dequantisation, 256 levels)"


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
@click.option("--n-eval", type=POSITIVE_INT, default=2000, help="Samples per evaluated cell.")
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
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Images: Fashion-MNIST IDX folder.")
@_feature_options
@click.option("--seed", type=NONNEG_INT, default=0)
@click.option("--threads", type=POSITIVE_INT, default=1,
              help="torch CPU threads (timings depend on it).")
@click.option("--out", type=click.Path(), required=True,
              help="Output prefix: writes OUT.csv, OUT.md, OUT.png, OUT.val.csv, OUT.meta.json "
                   "and the journal OUT.jsonl.")
@click.option("--fresh", is_flag=True,
              help="Discard the journal OUT.jsonl instead of reusing its finished cells.")
@click.option("--store", is_flag=True,
              help="Write the sampler chosen at each NFE budget into each run's config "
                   "(sampling.budgets): sampling the run at that NFE then uses it unless a "
                   "solver, grid or noise is named. Needs --solvers.")
@device_option
@click.option("--compile", "compile_", is_flag=True,
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

    from idff.eval import bench as B
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
                B.parse_solver(x)
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
        entries = [B.entry_from_run(r, labels[i] if labels else None, gam, field_kind,
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
            quality = B.ToyQuality(datasets.pop(), n_eval, seed)
        else:
            for e in entries:
                dataset = e.info.get("dataset")
                if dataset != "fashion_mnist":
                    raise ValueError(
                        f"{e.info['run']}: image benchmarks score against Fashion-MNIST "
                        f"references, but this run was trained on {dataset!r}."
                    )
            ext = _extractor(features, inception, classifier, classifier_sha256, device)
            quality = B.fashion_mnist_quality(ext, data_root, ref_val, ref_eval, seed=seed)
        outp = Path(out)
        journal = Path(f"{outp}.jsonl")
        if fresh and journal.exists():
            journal.unlink()
        rows, val_log = B.run_benchmark(entries, quality, nfes, n_eval, n_val, seed,
                                        echo=click.echo, journal=journal,
                                        select=select_metric)
    except (ValueError, FileNotFoundError, RunError, ImportError) as e:
        _fail(e)
    floor = quality.floor()
    B.write_csv(rows, outp.with_suffix(".csv"))
    _write_val_csv(val_log, outp.with_suffix(".val.csv"))
    runs_txt = ", ".join(f"{e.label} = {e.info['run']} ({e.info['train_steps']} steps)"
                         for e in entries)
    argv = sys.argv[1:] if Path(sys.argv[0]).name == "idff" else ["bench", "nfe", *runs, "..."]
    header = (f"Runs: {runs_txt}. torch threads: {threads}. Command: "
              f"`idff {shlex.join(argv)}`. Every row: the CSV"
              + ("; validation scores: .val.csv." if val_log else "."))
    text = B.write_markdown(rows, outp.with_suffix(".md"), quality, header, floor)
    B.plot_quality_vs_nfe(rows, outp.with_suffix(".png"), floor=floor.get(quality.name))
    meta = {"metric": quality.name, "protocol": quality.protocol, "floor": floor,
            "header": header, "threads": threads}
    atomic_write_text(json.dumps(meta, indent=2) + "\n", outp.with_suffix(".meta.json"))
    click.echo(text)
    click.echo(f"wrote {outp.with_suffix('.csv')}, .md, .png, .meta.json")
    if store:
        per = len(nfes)
        for i, e in enumerate(entries):
            chosen = B.store_choices(e, rows[i * per:(i + 1) * per])
            what = "; ".join(f"NFE {k}: {' '.join(f'{a}={b}' for a, b in v.items())}"
                             for k, v in chosen.items()) or "nothing (no budget was scored)"
            click.echo(f"stored in {e.info['run']}/config.json (sampling.budgets): {what}")


@bench.command("merge")
@click.argument("parts", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(), required=True,
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

    from idff.eval import bench as B

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
            rows += B.read_csv(base.with_suffix(".csv"))
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
    B.write_csv(rows, outp.with_suffix(".csv"))
    _write_val_csv(val_rows, outp.with_suffix(".val.csv"))
    header = "Joined from:\n\n" + "\n".join(f"- {m['header']}" for m in metas)
    quality = SimpleNamespace(name=metric, protocol=protocol)
    text = B.write_markdown(rows, outp.with_suffix(".md"), quality, header, floor)
    B.plot_quality_vs_nfe(rows, outp.with_suffix(".png"), title=title,
                          floor=floor.get(metric))
    atomic_write_text(json.dumps(
        {"metric": metric, "protocol": protocol, "floor": floor, "header": header,
         "parts": list(parts)}, indent=2) + "\n", outp.with_suffix(".meta.json"))
    click.echo(text)
    click.echo(f"wrote {outp.with_suffix('.csv')}, .md, .png")
