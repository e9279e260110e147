"""Quality versus NFE for IDFF, OT-CFM and I-CFM runs, with sampling time and a fair noise choice.

A benchmark entry is a method's trained run seen through *samplers*: callables

    sampler(n, nfe, solver, seed) -> samples (N, ...) or a SampleResult

(``nfe=None`` with an adaptive ``solver`` such as ``"dopri5"``; ``solver=None`` means the
run's default fixed-step solver). An entry holds one sampler per sampling-noise candidate
(e.g. IDFF's ``γ ∈ {0, 0.5, 1}``); at each NFE budget the candidate with the best quality on
the **validation** reference is chosen, and only that one is scored on the **evaluation**
reference, with fresh seeds. Candidates may also differ in solver and time grid
(:func:`entry_from_run` with ``solvers`` and ``grids``). Quality is a :class:`Quality`
(MMD/W2 for vectors, a Fréchet distance in classifier or Inception features for images).

Toy run directories (``idff train toy``) are adapted here; image runs are adapted by the
image code through :func:`register_sampler_factory` or a module
``idff.experiments.<kind>`` exposing ``make_sampler(run_dir, **noise) -> sampler``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from idff.eval.fid import (
    FeatureExtractor,
    FeatureStats,
    frechet_distance,
    iter_tensor_batches,
)
from idff.io import atomic_savefig, atomic_write, atomic_write_text
from idff.runs import Run, get_kind, load

__all__ = [
    "NFE_GRID",
    "Sampler",
    "BenchEntry",
    "Quality",
    "ToyQuality",
    "ImageQuality",
    "fashion_mnist_quality",
    "BenchRow",
    "run_sampler",
    "sampler_settings",
    "entry_from_run",
    "stored_sampler",
    "store_budgets",
    "store_choices",
    "run_benchmark",
    "write_csv",
    "read_csv",
    "write_markdown",
    "plot_quality_vs_nfe",
]

NFE_GRID: tuple[int | str, ...] = (1, 2, 4, 6, 10, 20, 50, 100, "adaptive")

Sampler = Callable[[int, "int | None", "str | None", int], Any]

@dataclass
class BenchEntry:
    """One trained run: its label, method and sampling-noise candidates.

    Attributes:
        label: the name in tables and plots.
        method: ``"idff"``, ``"otcfm"`` or ``"icfm"``.
        samplers: candidate name (e.g. ``"gamma=0.5"``) -> sampler; one entry when the
            method has no sampling noise.
        info: free-form facts reported with the run (training steps, run directory).
        settings: candidate name -> the sampling settings it runs with (solver, grid,
            noise; :data:`idff.sampling.SAMPLER_KNOBS`), for candidates bound to a solver:
            what ``idff bench nfe --store`` writes into the run for the chosen one.
    """

    label: str
    method: str
    samplers: dict[str, Sampler]
    info: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        if not self.samplers:
            raise ValueError(f"entry {self.label!r} has no sampler.")


class Quality:
    """Scores samples against a ``"val"`` or ``"eval"`` reference; lower is better.

    Subclasses set ``name`` (the primary metric), ``protocol`` (text reported beside every
    number) and implement :meth:`score` returning ``{metric: value}`` with ``name`` in it.
    """

    name: str = ""
    protocol: str = ""

    def score(self, samples: Tensor, split: str) -> dict[str, float]:
        raise NotImplementedError

    def floor(self) -> dict[str, float]:
        """The metric between the two references (what a perfect sampler would get)."""
        return {}


class ToyQuality(Quality):
    """MMD (primary), exact W2, a small-bandwidth MMD (``mmd_fine``, kernel variances 0.001
    and 0.01: sensitive to blur across the checkerboard's gaps) and, for checkerboard and
    8 Gaussians, the share of samples on the support (``in_support``) against fresh draws.

    The validation and evaluation references are independent draws with disjoint seeds.
    """

    name = "mmd"

    def __init__(self, dataset: str, n: int = 2000, seed: int = 0):
        from idff.data.toys import sample_toy

        self.dataset = dataset
        self.refs = {
            "val": sample_toy(dataset, n, torch.Generator().manual_seed(30_000 + seed)),
            "eval": sample_toy(dataset, n, torch.Generator().manual_seed(10_000 + seed)),
        }
        self.protocol = (f"{dataset}: MMD² (RBF mixture) and exact W2 vs {n} fresh points; "
                         f"validation reference seed {30_000 + seed}, evaluation {10_000 + seed}")

    def score(self, samples: Tensor, split: str) -> dict[str, float]:
        from idff.data.toys import support_fraction
        from idff.metrics import mmd, wasserstein

        ref = self.refs[split]
        out = {"mmd": mmd(samples, ref), "w2": wasserstein(samples, ref, 2),
               "mmd_fine": mmd(samples, ref, bandwidths=(0.001, 0.01))}
        if self.dataset in ("checkerboard", "8gaussians"):
            out["in_support"] = support_fraction(self.dataset, samples)
        return out

    def floor(self) -> dict[str, float]:
        return self.score(self.refs["val"], "eval")


class ImageQuality(Quality):
    """Fréchet distance in a feature network against cached reference statistics.

    On the evaluation reference it also reports a 95 % bootstrap interval of the distance
    (``<name>_lo``, ``<name>_hi``, over resamples of the generated set) and, when reference
    features are given, k-NN ``precision`` and ``recall`` against as many reference
    images as there are samples (:mod:`idff.eval.distribution`).

    Args:
        extractor: the feature network (its ``name`` is the metric: ``"FID"`` or
            ``"FD-FMNIST-CNN"``).
        refs: ``{"val": FeatureStats, "eval": FeatureStats}``.
        value_range: range of the sampler's images, mapped linearly to ``[0, 1]``.
        protocol: how the references were made (split, count).
        eval_features: optional ``(N, D)`` features of the evaluation reference images.
        n_boot: bootstrap resamples for the interval (0: none).
    """

    def __init__(self, extractor: FeatureExtractor, refs: dict[str, FeatureStats],
                 value_range: tuple[float, float] = (-1.0, 1.0), protocol: str = "",
                 eval_features: np.ndarray | None = None, n_boot: int = 200):
        if set(refs) != {"val", "eval"}:
            raise ValueError("ImageQuality needs reference statistics for 'val' and 'eval'.")
        self.extractor, self.refs, self.value_range = extractor, refs, value_range
        self.eval_features, self.n_boot = eval_features, int(n_boot)
        self.name = extractor.name
        extra = (f"; 95 % bootstrap interval over {n_boot} resamples of the samples"
                 if n_boot else "")
        if eval_features is not None:
            extra += "; k-NN (k = 3) precision/recall vs as many evaluation images as samples"
        self.protocol = f"{extractor.name}: {extractor.protocol}; {protocol}{extra}".strip("; ")

    def to_unit(self, x: Tensor) -> Tensor:
        lo, hi = self.value_range
        return ((x.float() - lo) / (hi - lo)).clamp(0, 1)

    def features(self, samples: Tensor) -> np.ndarray:
        return torch.cat([self.extractor(b) for b in iter_tensor_batches(self.to_unit(samples))]
                         ).double().numpy()

    def score(self, samples: Tensor, split: str) -> dict[str, float]:
        from idff.eval.distribution import frechet_bootstrap, knn_precision_recall

        feats = self.features(samples)
        ref = self.refs[split]
        if split != "eval" or not self.n_boot:
            return {self.name: frechet_distance(feats.mean(0), np.cov(feats, rowvar=False),
                                                ref.mu, ref.sigma)}
        value, lo, hi = frechet_bootstrap(feats, ref.mu, ref.sigma, self.n_boot)
        out = {self.name: value, f"{self.name}_lo": lo, f"{self.name}_hi": hi}
        if self.eval_features is not None:
            n = min(len(feats), len(self.eval_features))
            out.update(knn_precision_recall(self.eval_features[:n], feats[:n]))
        return out

    def floor(self) -> dict[str, float]:
        a, b = self.refs["val"], self.refs["eval"]
        return {self.name: frechet_distance(a.mu, a.sigma, b.mu, b.sigma)}


@dataclass
class BenchRow:
    """One (entry, NFE budget) result; ``seconds_per_1k`` is the evaluation sampling time."""

    label: str
    method: str
    nfe_budget: str
    nfe: int
    solver: str
    noise: str
    metric: str
    value: float
    seconds_per_1k: float
    n_samples: int
    extra: dict[str, float] = field(default_factory=dict)


def _unpack(out: Any) -> tuple[Tensor, int | None]:
    if torch.is_tensor(out):
        return out, None
    if hasattr(out, "x") and hasattr(out, "nfe"):
        return out.x, int(out.nfe)
    raise TypeError("a sampler must return a tensor of samples or a SampleResult (x, nfe).")


def _draw(sampler: Sampler, n: int, budget: int | str, seed: int) -> tuple[Tensor, int, float]:
    adaptive = budget == "adaptive"
    t0 = time.perf_counter()
    out = sampler(n, None if adaptive else int(budget), "dopri5" if adaptive else None, seed)
    seconds = time.perf_counter() - t0
    x, nfe = _unpack(out)
    if nfe is None:
        nfe = -1 if adaptive else int(budget)
    return x, nfe, seconds


def run_benchmark(
    entries: Sequence[BenchEntry],
    quality: Quality,
    nfes: Sequence[int | str] = NFE_GRID,
    n_eval: int = 2000,
    n_val: int = 1000,
    seed: int = 0,
    echo: Callable[[str], None] | None = print,
    journal: str | Path | None = None,
    select: str | None = None,
) -> tuple[list[BenchRow], list[dict[str, Any]]]:
    """Score every entry at every NFE budget.

    ``select`` names the validation metric that picks the candidate (default: the
    quality's primary metric; :data:`HIGHER_IS_BETTER` metrics are maximised), e.g.
    ``"mmd_fine"`` or ``"in_support"`` for toys, where MMD² sits at its noise floor.

    For entries with several sampling-noise candidates, each candidate draws ``n_val``
    samples (seed ``seed + 1``) scored on the validation reference; the best is then drawn
    with ``n_eval`` samples (seed ``seed``), timed and scored on the evaluation reference.
    A candidate that cannot run a budget (an SDE under an adaptive ODE solver, a stalled
    adaptive solve) is skipped; a budget no candidate can run gives a NaN row.

    With ``journal`` (a JSON-lines file), every finished cell is appended to it as soon as
    it is scored, and cells already there for the same run, training step, budget, sample
    counts and seed are reused instead of sampled again: an interrupted benchmark resumes
    where it stopped.

    Returns:
        The result rows and the validation log (one dict per candidate and budget).
    """
    from tqdm.auto import tqdm

    if not entries:
        raise ValueError("nothing to benchmark: give at least one run.")
    for b in nfes:
        if b != "adaptive" and (not str(b).isdigit() or int(b) < 1):
            raise ValueError(f"NFE budgets are integers >= 1 or 'adaptive', got {b!r}.")
    rows: list[BenchRow] = []
    val_log: list[dict[str, Any]] = []
    done = _read_journal(journal) if journal is not None else {}
    metric = select or quality.name
    bar = tqdm(total=len(entries) * len(nfes), desc="bench nfe", disable=echo is None)
    for entry in entries:
        for budget in nfes:
            key = _cell_key(entry, budget, n_eval, n_val, seed, select)
            if key in done:
                row = BenchRow(**done[key]["row"])
                rows.append(row)
                val_log.extend(done[key]["val"])
                bar.update(1)
                if echo is not None:
                    bar.write(f"{entry.label:>12} NFE {budget!s:>8}: reused from {journal}")
                continue
            val_start = len(val_log)
            chosen, best = None, math.inf
            candidates = list(entry.samplers.items())
            for name, sampler in candidates:
                if len(candidates) == 1:
                    chosen = name
                    break
                try:
                    x, nfe, _ = _draw(sampler, n_val, budget, seed + 1)
                except (ValueError, RuntimeError) as e:
                    val_log.append({"label": entry.label, "nfe_budget": str(budget),
                                    "noise": name, "skipped": str(e)[:120]})
                    continue
                scores = quality.score(x, "val")
                if metric not in scores:
                    raise ValueError(f"cannot select on {metric!r}: the validation scores are "
                                     f"{', '.join(scores)}.")
                v = scores[metric] * (-1 if metric in HIGHER_IS_BETTER else 1)
                val_log.append({"label": entry.label, "nfe_budget": str(budget), "noise": name,
                                "nfe": nfe, f"val_{metric}": scores[metric]})
                if v < best or chosen is None:
                    chosen, best = name, v
            row = BenchRow(entry.label, entry.method, str(budget), -1,
                           "dopri5" if budget == "adaptive" else "default", chosen or "-",
                           quality.name, float("nan"), float("nan"), n_eval)
            if chosen is not None:
                try:
                    x, nfe, seconds = _draw(entry.samplers[chosen], n_eval, budget, seed)
                    scores = quality.score(x, "eval")
                    row.nfe, row.value = nfe, scores.pop(quality.name)
                    row.seconds_per_1k, row.extra = 1000 * seconds / n_eval, scores
                except (ValueError, RuntimeError) as e:
                    row.noise = f"{chosen} (failed: {str(e)[:60]})"
            rows.append(row)
            if journal is not None:
                _append_journal(journal, key, row, val_log[val_start:])
            bar.update(1)
            if echo is not None:
                bar.write(f"{entry.label:>12} NFE {budget!s:>8} [{row.noise}]: {quality.name} "
                          f"{row.value:.4g}  counted NFE {row.nfe}  {row.seconds_per_1k:.3g} s/1k")
    bar.close()
    return rows, val_log


def _cell_key(entry: BenchEntry, budget: int | str, n_eval: int, n_val: int,
              seed: int, select: str | None = None) -> str:
    import json

    return json.dumps({"label": entry.label, "method": entry.method,
                       "run": str(entry.info.get("run", "")),
                       "train_steps": entry.info.get("train_steps"),
                       "candidates": sorted(entry.samplers), "budget": str(budget),
                       "n_eval": n_eval, "n_val": n_val, "seed": seed,
                       **({"select": select} if select else {})}, sort_keys=True)


def _read_journal(path: str | Path) -> dict[str, dict[str, Any]]:
    """Finished cells of an earlier (possibly interrupted) benchmark; torn lines are ignored."""
    import json

    path = Path(path)
    if not path.is_file():
        return {}
    done: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
            done[rec["key"]] = rec
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by an interruption
    return done


def _append_journal(path: str | Path, key: str, row: BenchRow,
                    val: list[dict[str, Any]]) -> None:
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = {"key": key, "row": asdict(row), "val": val}
    # a line torn by an interruption gets its own line, so this record stays readable
    torn = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + json.dumps(rec, default=float) + "\n")
        f.flush()
        os.fsync(f.fileno())


def fashion_mnist_quality(
    extractor: FeatureExtractor,
    root: str | Path | None = None,
    n_val: int = 10_000,
    n_eval: int = 10_000,
    cache_dir: str | Path | None = "cache/eval/stats",
    seed: int = 0,
) -> ImageQuality:
    """Fashion-MNIST references: validation = ``n_val`` training images (a fixed random
    subset), evaluation = the first ``n_eval`` test images. Statistics cached as ``.npz``."""
    from idff.data.fashion_mnist import load_fashion_mnist
    from idff.eval.fid import load_stats

    refs, eval_features = {}, None
    for split, data_split, n in (("val", "train", n_val), ("eval", "test", n_eval)):
        key = f"fmnist-{data_split}-{n}-s{seed}-{extractor.name}-{extractor.ident[:16]}.npz"
        path = Path(cache_dir) / key if cache_dir is not None else None
        feat_path = None if path is None else path.with_suffix(".features.npy")
        if path is not None and path.is_file() and (split == "val" or feat_path.is_file()):
            refs[split] = load_stats(path)
            if split == "eval":
                eval_features = np.load(feat_path)
            continue
        images, _ = load_fashion_mnist(data_split, root)
        if n > len(images):
            raise ValueError(f"asked for {n} {data_split} images, the split has {len(images)}.")
        if data_split == "train":
            idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
            images = images[idx.numpy()]
        else:
            images = images[:n]
        x = torch.from_numpy(np.ascontiguousarray(images))[:, None].float() / 255.0
        feats = torch.cat([extractor(b) for b in iter_tensor_batches(x)]).double().numpy()
        refs[split] = FeatureStats(feats.mean(0), np.cov(feats, rowvar=False), len(feats),
                                   {"split": data_split, "n": n})
        if split == "eval":
            eval_features = feats.astype(np.float32)
        if path is not None:
            refs[split].save(path)
            if split == "eval":
                atomic_write(feat_path, lambda f, a=eval_features: np.save(f, a))
    protocol = (f"validation reference {n_val} Fashion-MNIST train images (seed {seed}), "
                f"evaluation reference {n_eval} test images")
    return ImageQuality(extractor, refs, (-1.0, 1.0), protocol, eval_features)


# ------------------------------------------------------------------------- run adapters


def sampler_settings(run: Run, noise: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sampling overrides a candidate with ``noise`` runs with: ``noise`` itself, plus
    the diffusion switch of kinds whose published recipe is an SDE."""
    base = dict(noise or {})
    if base.get("field") == "published" and base.get("s", 0) > 0 and \
            get_kind(run.kind).published_sde:
        base["sde"] = True
    return base


def run_sampler(run: Run, noise: dict[str, Any] | None = None,
                device: str | torch.device = "cpu") -> Sampler:
    """A benchmark sampler for a loaded run (any registered kind with a ``sample``).

    ``noise`` holds ``field`` and ``gamma`` (``pf``) or ``s`` (``published``) for IDFF
    runs, nothing for CFM runs. Without a solver of its own a candidate with diffusion
    (``γ > 0``, or the published field's ``s`` on kinds whose published recipe is an SDE)
    integrates with Euler–Maruyama; otherwise with the run's solver.
    """
    base = sampler_settings(run, noise)

    def sampler(n: int, nfe: int | None, solver: str | None, seed: int):
        from idff.sampler import SampleResult

        if solver is None and (base.get("gamma", 0) > 0 or base.get("sde")):
            solver = "euler"
        with torch.no_grad():
            res = run.sample(n, seed=seed, nfe=nfe, solver=solver, device=device, clamp=False,
                             **base)
        return SampleResult(x=res.x, nfe=res.nfe)

    return sampler


#: validation metrics where higher is better (selection maximises them)
HIGHER_IS_BETTER = frozenset({"in_support", "precision", "recall"})

def parse_grid(spec: str) -> dict[str, Any]:
    """A grid candidate (``uniform``, ``power:1.5``, ...) -> its sampling overrides; the
    registry's parser (:func:`idff.sampling.registry.parse_grid`)."""
    from idff.sampling.registry import parse_grid as parse

    return parse(spec)


def parse_solver(spec: str) -> tuple[str, dict[str, Any]]:
    """A solver candidate (``midpoint``, ``rk2:0.25``, ...) -> ``(name, sampling
    overrides)``; the registry's parser (:func:`idff.sampling.registry.parse_solver`)."""
    from idff.sampling.registry import parse_solver as parse

    return parse(spec)


def stored_sampler(run: Run, field: str = "pf",
                   device: str | torch.device = "cpu") -> Sampler:
    """A candidate that samples each budget with the sampler the run stores for it
    (``sampling.budgets``), as ``idff sample RUN --nfe N`` does; budgets without an entry, or
    whose entry uses another IDFF field than ``field``, are refused (the candidate skips
    them)."""
    table = run.sampling.budgets or {}

    def sampler(n: int, nfe: int | None, asked: str | None, seed: int):
        from idff.sampler import SampleResult

        if asked is not None or nfe not in table:
            raise ValueError(f"no sampler stored for NFE {nfe}.")
        if run.sampling.replace(nfe=nfe).field != field:
            raise ValueError(f"the sampler stored for NFE {nfe} uses another field.")
        with torch.no_grad():
            res = run.sample(n, seed=seed, nfe=nfe, device=device, clamp=False)
        return SampleResult(x=res.x, nfe=res.nfe)

    return sampler


def with_solver(base: Sampler, solver: str, adaptive: bool = False,
                grid: dict[str, Any] | None = None) -> Sampler:
    """``base`` with its fixed-budget solver set to ``solver``; adaptive budgets pass through
    when ``adaptive`` (one candidate per entry should take them), else are refused. With a
    non-uniform ``grid``, a budget of one step (where every grid is ``[0, 1]``) is refused,
    so the uniform candidate alone runs it."""
    from idff.sampling.registry import solver_class, steps_for_nfe

    def sampler(n: int, nfe: int | None, asked: str | None, seed: int):
        if asked is not None:
            if not adaptive:
                raise ValueError(f"candidate bound to solver {solver!r} is for fixed budgets "
                                 "only.")
            return base(n, nfe, asked, seed)
        least = solver_class(solver).min_nfe
        if nfe is not None and nfe < least:
            raise ValueError(f"solver {solver!r} needs at least {least} evaluations.")
        if grid and grid.get("grid", "uniform") not in ("uniform", "custom") and \
                nfe is not None and steps_for_nfe(nfe, solver) == 1:
            raise ValueError("one step: every grid is [0, 1], the uniform candidate runs it.")
        return base(n, nfe, solver, seed)

    return sampler




def entry_from_run(run_dir: str | Path, label: str | None = None,
                   gammas: Sequence[float] = (0.0, 0.5, 1.0),
                   field: str = "pf", solvers: Sequence[str] | None = None,
                   device: str | torch.device = "cpu", compile: bool = False,
                   grids: Sequence[str] | None = None) -> BenchEntry:
    """Adapt a run directory into a benchmark entry with its sampling candidates.

    IDFF runs get one candidate per ``γ`` (or ``s`` for ``field="published"``; one
    noise-free candidate for the score-free ``field="x1"`` or ``"velocity"``); with
    ``solvers``, one per (solver, noise) pair that the solver can integrate (``γ > 0``
    only with ``euler``, ``ddim``, ``ddim2``; ``ddim*`` only for ``pf``). CFM runs get one
    candidate per ODE solver in ``solvers``. ``grids`` (specs of :func:`parse_grid`) crosses
    every solver candidate with each time grid (``srk`` keeps the uniform one). The
    candidate with the best validation score is used at each budget. ``compile``:
    ``torch.compile`` the network (:func:`idff.accel.compile_network`).
    """
    from idff.training.checkpoint import CONFIG, RunError, load_run

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise RunError(
            f"{run_dir} is not a run directory (no {CONFIG}); pass an 'idff train' --out folder."
        )
    run = load(run_dir)
    if compile:
        from idff.accel import compile_network

        run.model = compile_network(run.model, device)
    config, kind, method = run.config, run.kind, run.config.get("method")
    from idff.sampling.registry import solver_class

    grid_specs = list(grids) if grids else [None]
    parsed = {g: parse_grid(g) for g in grid_specs if g is not None}

    def facts(solver: str | None):
        return None if solver is None else solver_class(solver)

    def grid_ok(solver: str | None, spec: str | None) -> bool:
        cls = facts(solver)
        return spec is None or cls is not None and (cls.on_grid or cls.adaptive or
                                                    spec == "uniform")

    def name(*parts: str | None) -> str:
        return " ".join(p for p in parts if p)

    settings: dict[str, dict[str, Any]] = {}
    if method == "idff":
        key = "gamma" if field == "pf" else "s"
        noiseless = field in ("x1", "velocity")  # score-free ODEs: one candidate, no noise
        samplers = {}
        for solver_spec in solvers or [None]:
            solver, solver_kw = parse_solver(solver_spec) if solver_spec else (None, {})
            for spec in grid_specs:
                for g in [0.0] if noiseless else gammas:
                    # γ > 0 is diffusion (solvers that take noise only); the published image
                    # field's s acts in the drift alone
                    cls = facts(solver)
                    if field == "pf" and g > 0 and cls is not None and not (
                            cls.diffusion and cls.on_grid):
                        continue
                    if cls is not None and cls.two_heads and field != "pf" or \
                            not grid_ok(solver, spec):
                        continue
                    grid = parsed.get(spec, {})
                    noise = {} if noiseless else {key: float(g)}
                    overrides = {"field": field, **noise, **grid, **solver_kw}
                    base = run_sampler(run, overrides, device)
                    tag = f"field={field}" if noiseless else f"{key}={g:g}"
                    if solver is None:
                        samplers[tag] = base
                    else:
                        cand = name(solver_spec, spec, tag)
                        samplers[cand] = with_solver(base, solver, adaptive=not samplers,
                                                     grid=grid)
                        settings[cand] = {"solver": solver,
                                          **sampler_settings(run, overrides)}
        if not solvers and run.sampling.budgets:  # the run's own per-budget samplers compete
            samplers["stored"] = stored_sampler(run, field, device)
    else:
        ode = [x for x in (solvers or [])  # a velocity: grid solvers of one head
               if facts(parse_solver(x)[0]).on_grid and not facts(parse_solver(x)[0]).two_heads]
        samplers = {}
        for x in ode:
            solver, solver_kw = parse_solver(x)
            for spec in grid_specs:
                grid = parsed.get(spec, {})
                samplers[name(x, spec)] = with_solver(
                    run_sampler(run, {**grid, **solver_kw}, device), solver,
                    adaptive=not samplers, grid=grid)
                settings[name(x, spec)] = {"solver": solver, **grid, **solver_kw}
        samplers = samplers or {"-": run_sampler(run, device=device)}
    try:  # the snapshot's step, not the planned one: runs may still be training
        steps = load_run(run_dir)[2]
    except RunError:
        steps = config.get("train", {}).get("steps")
    return BenchEntry(label or method or run_dir.name, method or "?", samplers,
                      {"run": str(run_dir), "kind": kind, "train_steps": steps,
                       "dataset": config.get("data", {}).get("dataset")}, settings)


def store_budgets(run_dir: str | Path, entries: dict[int, dict[str, Any]]) -> None:
    """Merge ``{nfe: sampler settings}`` into the run's ``sampling.budgets`` (atomically;
    the other budgets keep their entries). A table that would not load is refused first."""
    import json

    from idff.io import atomic_write_json
    from idff.run_config import upgrade_config
    from idff.sampling import SamplingConfig

    path = Path(run_dir) / "config.json"
    raw = upgrade_config(json.loads(path.read_text()))
    section = dict(raw.get("sampling") or {})
    budgets = {int(k): v for k, v in (section.get("budgets") or {}).items()}
    budgets.update(entries)
    section["budgets"] = {str(k): v for k, v in sorted(budgets.items())}
    SamplingConfig.from_run({**raw, "sampling": section})
    raw["sampling"] = section
    atomic_write_json(raw, path, indent=2)


def store_choices(entry: BenchEntry, rows: Sequence[BenchRow]) -> dict[int, dict[str, Any]]:
    """Write the sampler chosen at each fixed budget of ``rows`` (this entry's, from
    :func:`run_benchmark`) into the entry's run config (``sampling.budgets``, atomically,
    kept beside the budgets stored before), so that sampling the run at that NFE uses it.

    Returns:
        ``{nfe: settings}`` of what was stored (budgets whose candidate is not bound to a
        solver, failed or was not scored are left out).
    """
    import json

    from idff.run_config import upgrade_config
    from idff.sampling import SamplingConfig

    chosen = {int(r.nfe_budget): entry.settings[r.noise] for r in rows
              if r.nfe_budget.isdigit() and r.noise in entry.settings and
              math.isfinite(r.value)}
    if not chosen:
        return {}
    current = SamplingConfig.from_run(upgrade_config(json.loads(
        (Path(entry.info["run"]) / "config.json").read_text())))
    for k, v in chosen.items():  # a tuned grid is stored with its times
        used = current.replace(nfe=k, **v)
        if used.grid == "custom":
            chosen[k] = {**v, "times": list(used.times)}
    store_budgets(entry.info["run"], chosen)
    return chosen


# ------------------------------------------------------------------------------ outputs


def write_csv(rows: Sequence[BenchRow], path: str | Path) -> None:
    """All rows, one per (run, NFE budget), with secondary metrics as extra columns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extras = sorted({k for r in rows for k in r.extra})
    fields = [f for f in asdict(rows[0]) if f != "extra"] + extras
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        d = asdict(r)
        d.update(d.pop("extra"))
        w.writerow(d)
    atomic_write_text(buf.getvalue(), path)


def read_csv(path: str | Path) -> list[BenchRow]:
    """Rows written by :func:`write_csv` (extra metric columns come back in ``extra``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no benchmark CSV there (written by 'idff bench nfe').")
    names = {f for f in BenchRow.__dataclass_fields__ if f != "extra"}
    conv = {"nfe": int, "n_samples": int, "value": float, "seconds_per_1k": float}
    rows = []
    with open(path, newline="") as f:
        for d in csv.DictReader(f):
            missing = names - set(d)
            if missing:
                raise ValueError(f"{path}: not a benchmark CSV (missing {sorted(missing)}).")
            kw = {k: conv.get(k, str)(d[k]) for k in names}
            extra = {k: float(v) for k, v in d.items() if k not in names and v not in ("", None)}
            rows.append(BenchRow(**kw, extra=extra))
    return rows


def _fmt(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


def target_check(rows: Sequence[BenchRow], fast: tuple[str, str] = ("idff", "10"),
                 slow: tuple[str, str] = ("otcfm", "100"), speedup: float = 5.0) -> str | None:
    """Whether ``fast`` (method, NFE) matches ``slow`` in quality with ``speedup``× less time."""
    def pick(method: str, budget: str):
        return next((r for r in rows if r.method == method and r.nfe_budget == budget), None)

    a, b = pick(*fast), pick(*slow)
    if a is None or b is None or not (np.isfinite(a.value) and np.isfinite(b.value)):
        return None
    ratio = b.seconds_per_1k / a.seconds_per_1k if a.seconds_per_1k > 0 else float("inf")
    met = a.value <= b.value and ratio >= speedup
    return (f"Target {'MET' if met else 'NOT MET'}: {a.label} at NFE {fast[1]} has "
            f"{a.metric} {_fmt(a.value)} vs {b.label} at NFE {slow[1]} {_fmt(b.value)} "
            f"({'≤' if a.value <= b.value else '>'}), sampling time ratio {ratio:.1f}× "
            f"(needs ≥ {speedup:g}×).")


def write_markdown(rows: Sequence[BenchRow], path: str | Path, quality: Quality,
                   header: str = "", floor: dict[str, float] | None = None) -> str:
    """A quality table and a time table (runs × NFE budgets) with the protocol; returns it."""
    labels = list(dict.fromkeys(r.label for r in rows))
    budgets = list(dict.fromkeys(r.nfe_budget for r in rows))
    get = {(r.label, r.nfe_budget): r for r in rows}
    n = rows[0].n_samples
    lines = [header.strip(), ""] if header else []
    lines += [f"Protocol: {quality.protocol}; {n} evaluation samples per cell; sampling noise "
              "chosen per budget on the validation reference; NFE counted by wrapping the network.",
              ""]
    if floor:
        lines += ["Reference floor (validation vs evaluation reference): "
                  + ", ".join(f"{k} {_fmt(v)}" for k, v in floor.items()), ""]
    head = "| run | " + " | ".join(f"NFE {b}" for b in budgets) + " |"
    sep = "|---|" + "---:|" * len(budgets)
    lines += [f"**{quality.name}** (lower is better; [chosen noise], adaptive: counted NFE)", "",
              head, sep]
    for lab in labels:
        cells = []
        for b in budgets:
            r = get.get((lab, b))
            if r is None:
                cells.append("")
                continue
            c = _fmt(r.value)
            if r.noise not in ("-", "gamma=0", "s=0"):
                c += f" [{r.noise}]"
            if b == "adaptive":
                c += f" (NFE {r.nfe})"
            cells.append(c)
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    extras = sorted({k for r in rows for k in r.extra})
    for k in extras:
        lines += ["", f"**{k}**", "", head, sep]
        for lab in labels:
            cells = [_fmt(get[(lab, b)].extra.get(k, float("nan"))) if (lab, b) in get else ""
                     for b in budgets]
            lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines += ["", "**Sampling wall time, seconds per 1k samples**", "", head, sep]
    for lab in labels:
        cells = [_fmt(get[(lab, b)].seconds_per_1k) if (lab, b) in get else "" for b in budgets]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    check = target_check(rows)
    if check:
        lines += ["", check]
    text = "\n".join(lines) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(text, path)
    return text


def plot_quality_vs_nfe(rows: Sequence[BenchRow], path: str | Path, title: str = "",
                        floor: float | None = None) -> None:
    """Quality (log-log) and seconds per 1k samples against counted NFE, one line per run
    (where several budgets spend the same counted NFE, the best of them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(11, 4.2))
    metric = rows[0].metric
    for lab in dict.fromkeys(r.label for r in rows):
        fixed = [r for r in rows if r.label == lab and r.nfe_budget != "adaptive"
                 and np.isfinite(r.value)]
        fixed.sort(key=lambda r: (r.nfe, r.value))
        # budgets that spend the same counted NFE (e.g. 3 → one midpoint step, 2 calls):
        # the curve shows the best of them, the quality that many calls buy
        fixed = [r for i, r in enumerate(fixed) if i == 0 or r.nfe != fixed[i - 1].nfe]
        line = ax.plot([r.nfe for r in fixed], [r.value for r in fixed], marker="o", ms=3,
                       label=lab)[0]
        ax_t.plot([r.nfe for r in fixed], [r.seconds_per_1k for r in fixed], marker="o", ms=3,
                  color=line.get_color(), label=lab)
        for r in rows:
            if r.label == lab and r.nfe_budget == "adaptive" and np.isfinite(r.value) and r.nfe > 0:
                ax.scatter([r.nfe], [r.value], marker="*", s=90, color=line.get_color(),
                           label=f"{lab} adaptive")
                ax_t.scatter([r.nfe], [r.seconds_per_1k], marker="*", s=90,
                             color=line.get_color())
    values = [r.value for r in rows if np.isfinite(r.value)]
    if floor is not None and np.isfinite(floor):
        if floor > 0:
            ax.axhline(floor, color="k", ls=":", label="reference floor")
        else:  # an unbiased MMD² between two true samples can be ≤ 0
            ax.text(0.02, 0.02, f"reference floor {floor:.2g}", transform=ax.transAxes,
                    fontsize=7)
    log = "log" if values else "linear"  # every cell failed: nothing to log-scale
    if not values:
        ax.text(0.5, 0.5, "no finite results", ha="center", transform=ax.transAxes)
    ax.set_xscale(log)
    if min(values, default=1.0) > 0:
        ax.set_yscale(log)
    else:
        ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel("NFE (counted network evaluations per sample)")
    ax.set_ylabel(f"{metric} (lower is better)")
    ax.set_title(title or f"{metric} vs NFE")
    ax.legend(fontsize=7)
    ax_t.set_xscale(log)
    ax_t.set_yscale(log)
    ax_t.set_xlabel("NFE (counted)")
    ax_t.set_ylabel("sampling seconds per 1k samples")
    ax_t.set_title("sampling time")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)
