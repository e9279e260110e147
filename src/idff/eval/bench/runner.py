"""The benchmark loop: every entry at every NFE budget, the sampling candidate chosen on the
validation reference and scored, timed, on the evaluation reference (:func:`run_benchmark`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from idff.eval.bench.journal import append_journal, cell_key, read_journal
from idff.eval.bench.records import NFE_GRID, BenchEntry, BenchRow, Sampler

if TYPE_CHECKING:
    from idff.eval.bench.quality import Quality

__all__ = ["HIGHER_IS_BETTER", "run_benchmark"]

#: validation metrics where higher is better (selection maximises them)
HIGHER_IS_BETTER = frozenset({"in_support", "precision", "recall"})


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
    done = read_journal(journal) if journal is not None else {}
    metric = select or quality.name
    bar = tqdm(total=len(entries) * len(nfes), desc="bench nfe", disable=echo is None)
    for entry in entries:
        for budget in nfes:
            key = cell_key(entry, budget, n_eval, n_val, seed, select)
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
                append_journal(journal, key, row, val_log[val_start:])
            bar.update(1)
            if echo is not None:
                bar.write(f"{entry.label:>12} NFE {budget!s:>8} [{row.noise}]: {quality.name} "
                          f"{row.value:.4g}  counted NFE {row.nfe}  {row.seconds_per_1k:.3g} s/1k")
    bar.close()
    return rows, val_log
