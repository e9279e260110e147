"""The samplers a benchmark chose, written into each run's ``sampling.budgets`` so that
sampling the run at that NFE uses them."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from idff.eval.bench.records import BenchEntry, BenchRow

__all__ = ["store_budgets", "store_choices"]


def store_budgets(run_dir: str | Path, entries: dict[int, dict[str, Any]]) -> None:
    """Merge ``{nfe: sampler settings}`` into the run's ``sampling.budgets`` (atomically;
    the other budgets keep their entries). A table that would not load is refused first."""
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
