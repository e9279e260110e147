"""CLI for evaluation: ``idff fid``, ``idff train-classifier``, ``idff nll``."""

from __future__ import annotations

from pathlib import Path

import click

from idff.cli.common import (
    POSITIVE_FLOAT,
    POSITIVE_INT,
    UNIT_INTERVAL,
    check_nfe_solver,
    device_option,
    option_words,
    typed,
    warn,
)
from idff.cli.common import fail as _fail
from idff.cli.options import option
from idff.cli.sampler_spec import SolverSpec
from idff.cli.vocabulary import run_argument
from idff.errors import UserError, check_output_path
from idff.threads import choose_threads


@click.command("train-classifier")
@option("data-root", default=None,
        help="Folder with the Fashion-MNIST IDX files (default: $IDFF_FASHION_MNIST or "
             "/usr/share/datasets/fashion-mnist).")
@option("out-file", default="cache/eval/fmnist_cnn.pt",
        help="Weights file (a .json sidecar records its SHA-256 and accuracy).")
@click.option("--epochs", type=POSITIVE_INT, default=4)
@option("batch-size", default=128)
@option("lr", default=2e-3)
@option("max-minutes", default=10.0,
        help="Stop after the epoch that passes this much CPU time.")
@option("seed", default=0)
@option("threads", default=1, help="torch CPU threads.")
def train_classifier_cmd(data_root, out, epochs, batch_size, lr, max_minutes, seed, threads):
    """Train the Fashion-MNIST CNN whose features define the FD-FMNIST-CNN distance."""

    from idff.eval.classifier import (
        ClassifierTrainConfig,
        accuracy,
        save_classifier,
        train_classifier,
        train_config_dict,
    )
    from idff.images.fashion_mnist import find_fashion_mnist, load_fashion_mnist

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
        from idff.eval.bench.entries import entry_from_run
        from idff.eval.bench.samplers import run_sampler
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
@option("n", default=10_000,
        help="Samples drawn when A or B is a run.")
@option("nfe", default=10,
        help="NFE when sampling a run.")
@click.option("--solver", type=SolverSpec(plain=True), default=None,
              help="Solver when sampling a run (default: the run's).")
@option("gamma", default=0.0,
        help="IDFF pf sampling noise when sampling.")
@option("seed", default=0)
@click.option("--save-stats", type=click.Path(dir_okay=False), default=None,
              help="Also write A's statistics to this .npz.")
@click.option("--cache-dir", default="cache/eval/stats", help="Cache of folder statistics.")
@option("threads", default=1, help="torch CPU threads.")
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
@option("n", default=1000,
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
@option("seed", default=0)
@device_option
def nll_cmd(run, n, estimator, field, atol, rtol, t_end, seed, device):
    """Negative log-likelihood (nats, bits/dim) of a run's ODE.

    Named toys are scored on fresh draws; runs trained on a --data file on N points drawn
    (with seed SEED) from that file, i.e. on training points, which the output says; image
    runs on N test images with uniform dequantisation, in bits/dim of the 8-bit images.
    """
    import torch

    from idff.eval.likelihood import log_likelihood
    from idff.images.kind import is_image_run
    from idff.runs import load
    from idff.sampling import SamplingConfig
    from idff.toy.kind import load_toy_model
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
            if kind is None:  # no readable run: the run-folder loader says why
                load_toy_model(run)
            r = load(run)
            model, cfg = r.model, r.config
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

    from idff.toy.data import load_vectors, sample_toy

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

    from idff.images.datasets import build_dataset
    from idff.runs import load

    r = load(run)
    model, cfg = r.model, r.config
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
