"""Quality versus NFE of a toy run: MMD and W2 against fresh data for each NFE budget, and
the noise floor of two true samples."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from idff.metrics import mmd, wasserstein
from idff.sampling import SamplingConfig
from idff.toy.data import sample_toy
from idff.toy.sample import sample_model

__all__ = ["EvalRow", "evaluate_nfe", "true_floor"]


@dataclass
class EvalRow:
    method: str
    label: str
    solver: str
    nfe_budget: str
    nfe: int
    mmd: float
    w2: float
    seconds: float


def evaluate_nfe(
    model: nn.Module,
    config: dict[str, Any],
    nfes: Sequence[int | str],
    n_eval: int = 2000,
    seed: int = 0,
    solver: str | None = None,
    field: str = "pf",
    label: str | None = None,
    reference: Tensor | None = None,
    **sample_kw: Any,
) -> list[EvalRow]:
    """MMD and W2 against fresh data for each NFE budget (``"adaptive"`` = dopri5)."""
    dataset = config["data"]["dataset"]
    if reference is None:
        reference = sample_toy(dataset, n_eval, torch.Generator().manual_seed(10_000 + seed))
    rows = []
    stochastic = sample_kw.get("gamma", 0.0) > 0 or sample_kw.get("sde", False)
    for budget in nfes:
        adaptive = budget == "adaptive"
        if adaptive and stochastic:  # adaptive solvers integrate ODEs only
            continue
        sol = "dopri5" if adaptive else solver
        t0 = time.perf_counter()
        try:
            res = sample_model(model, config, n_eval, seed=seed,
                               nfe=None if adaptive else int(budget), solver=sol, field=field,
                               **sample_kw)
        except RuntimeError:  # an adaptive solve that stalls is reported, not fatal
            rows.append(
                EvalRow(
                    config["method"],
                    label or config["method"],
                    sol or "",
                    str(budget),
                    -1,
                    float("nan"),
                    float("nan"),
                    float("nan"),
                )
            )
            continue
        dt = time.perf_counter() - t0
        rows.append(
            EvalRow(
                method=config["method"],
                label=label or config["method"],
                solver=sol or SamplingConfig.from_run(config).solver,
                nfe_budget=str(budget),
                nfe=res.nfe,
                mmd=mmd(res.x, reference),
                w2=wasserstein(res.x, reference, 2),
                seconds=dt,
            )
        )
    return rows


def true_floor(dataset: str, n_eval: int = 2000, seed: int = 0) -> tuple[float, float]:
    """MMD and W2 between two independent true samples of the same size (the noise floor)."""
    a = sample_toy(dataset, n_eval, torch.Generator().manual_seed(20_000 + seed))
    b = sample_toy(dataset, n_eval, torch.Generator().manual_seed(10_000 + seed))
    return mmd(a, b), wasserstein(a, b, 2)
