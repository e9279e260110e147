"""The resumable journal of a benchmark: one JSON line per finished (run, NFE budget) cell,
keyed by what makes a cell the same (run, training step, candidates, budget, sample counts,
seed), so that an interrupted benchmark reuses what it already scored."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from idff.eval.bench.records import BenchEntry, BenchRow

__all__ = ["cell_key", "read_journal", "append_journal"]


def cell_key(entry: BenchEntry, budget: int | str, n_eval: int, n_val: int,
             seed: int, select: str | None = None) -> str:
    return json.dumps({"label": entry.label, "method": entry.method,
                       "run": str(entry.info.get("run", "")),
                       "train_steps": entry.info.get("train_steps"),
                       "candidates": sorted(entry.samplers), "budget": str(budget),
                       "n_eval": n_eval, "n_val": n_val, "seed": seed,
                       **({"select": select} if select else {})}, sort_keys=True)


def read_journal(path: str | Path) -> dict[str, dict[str, Any]]:
    """Finished cells of an earlier (possibly interrupted) benchmark; torn lines are ignored."""
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


def append_journal(path: str | Path, key: str, row: BenchRow,
                   val: list[dict[str, Any]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = {"key": key, "row": asdict(row), "val": val}
    # a line torn by an interruption gets its own line, so this record stays readable
    torn = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + json.dumps(rec, default=float) + "\n")
        f.flush()
        os.fsync(f.fileno())
