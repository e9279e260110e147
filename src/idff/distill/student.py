"""``idff.distill``: make a teacher's pairs, train the student on them, store its samplers.

The student is the teacher's own network, started from the teacher's EMA weights and
trained by the one :class:`~idff.training.Trainer` (atomic checkpoints, ``resume``,
Ctrl-C saves). Its folder is an ordinary run of the teacher's kind, with three additions
to ``config.json``: ``distill`` (method, teacher, the teacher's sampler for the pairs),
``init_from`` (the teacher's weights) and a ``sampling`` section whose budgets are the
student's samplers at 1 and 2 calls. Costs (teacher calls, wall time, steps as a share of
the teacher's) go to ``costs.json``, apart from the settings a resume compares.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from idff.distill.objective import DISTILL_METHODS, DistillObjective, grid_times
from idff.distill.pairs import PairStream, make_pairs
from idff.errors import ConfigError, UserError, check_device
from idff.io import atomic_write_json

__all__ = ["distill", "student_sampling", "COSTS"]

COSTS = "costs.json"


def _teacher(teacher: Any):
    """The teacher as a :class:`~idff.runs.Run` (a path, a shipped name or a Run).

    Raises:
        UserError: not a run, or a run that does not sample from noise.
    """
    from idff.runs import Run, load, resolve, run_kind_of

    if not isinstance(teacher, Run):
        p = resolve(teacher)
        if not p.exists():
            raise UserError(f"teacher {teacher}: no such run folder or shipped run name; pass "
                            "the --out folder of an 'idff train' command or a shipped name "
                            "(idff.shipped_runs()).")
        if p.is_dir() and not (p / "config.json").is_file():
            raise UserError(f"teacher {p} is not a run: it has no config.json; pass the --out "
                            "folder of an 'idff train' command or a shipped name.")
        _refuse_kind(p, run_kind_of(p))
        teacher = load(p)
    _refuse_kind(teacher.path, teacher.kind)
    if teacher.config.get("model", {}).get("num_classes"):
        raise UserError(f"teacher {teacher.path} is class-conditional; distillation here makes "
                        "unconditional students only.")
    return teacher


def _refuse_kind(path: Any, kind: str) -> None:
    from idff.runs import get_kind

    if get_kind(kind).sample is None:
        raise UserError(f"teacher {path} is a {kind!r} run, which forecasts from observed "
                        "states; a student is distilled from a flow that samples from noise "
                        "(toy, image).")


def student_sampling(method: str, teacher_method: str,
                     budgets: tuple[int, ...]) -> dict[str, Any]:
    """The student's stored sampling section: Euler at each budget (IDFF: the score-free
    ``x1`` field, whose one Euler step from t = 0 is ``x̂1(0, x0)``)."""
    entry = {"solver": "euler", **({"field": "x1"} if teacher_method == "idff" else {})}
    base = {**entry, "nfe": min(budgets)}
    if method == "reflow":  # any budget: midpoint beyond the stored ones
        base["solver"] = "midpoint"
    return {**base, "budgets": {str(n): dict(entry) for n in budgets}}


def _check(method: str, budgets: tuple[int, ...], n_pairs: int, pair_nfe: int) -> None:
    if method not in DISTILL_METHODS:
        raise ConfigError(f"unknown distillation method {method!r}; choose one of "
                          f"{', '.join(DISTILL_METHODS)}.",
                          cli=f"--method {method!r} is unknown; choose one of "
                              f"{', '.join(DISTILL_METHODS)}.")
    if not budgets or any(isinstance(n, bool) or not isinstance(n, int) or n < 1
                          for n in budgets):
        raise ConfigError(f"nfe must be budgets >= 1 (e.g. (1, 2)), got {budgets!r}.")
    if method == "x1head" and max(budgets) > 8:
        raise ConfigError(f"an x1head student learns one endpoint per call and cannot honour "
                          f"nfe={max(budgets)}; store budgets of at most 8 calls, or distil "
                          "with method='reflow', which takes any budget.",
                          cli=f"an x1head student learns one endpoint per call and cannot "
                              f"honour --nfe {max(budgets)}; give budgets of at most 8, or use "
                              "--method reflow, which takes any budget.")
    for name, v in (("pairs", n_pairs), ("pair_nfe", pair_nfe)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {v!r}.")


def distill(teacher: Any, out: str | Path, method: str = "reflow", *,
            nfe: tuple[int, ...] = (1, 2), steps: int | None = None, pairs: int = 8192,
            pair_nfe: int = 100, pair_solver: str | None = None, batch_size: int | None = None,
            lr: float | None = None, seed: int = 0, resume: bool = False,
            pairs_from: str | Path | None = None,
            device: str = "cpu", progress: bool = True,
            echo: Callable[[str], None] | None = None):
    """Distil ``teacher`` into a one- or two-call student in the new run folder ``out``.

    Args:
        teacher: a run folder, a shipped name or a :class:`~idff.runs.Run` (IDFF, OT-CFM or
            I-CFM; toy or image).
        method: ``"reflow"`` (rectified flow on the teacher's pairs) or ``"x1head"`` (the
            teacher's map regressed into the endpoint of each call; docs/METHOD.md).
        nfe: the budgets whose samplers the student stores (Euler, ``sampling.budgets``).
        steps: student training steps (default: half the teacher's).
        pairs, pair_nfe, pair_solver: how many pairs, made by the teacher's sampler at
            ``pair_nfe`` calls (``pair_solver=None``: its stored sampler at that NFE).
        batch_size, lr: default to the teacher's.
        resume: continue the student in ``out`` (its pairs and its training).
        pairs_from: another student's folder whose cached pairs (same teacher and pair
            settings) are copied rather than made again: methods compared on the same pairs.

    Returns:
        the student :class:`~idff.runs.Run`.

    Raises:
        UserError: the teacher is not a run or cannot be distilled, ``out`` holds another
            run, or a setting is out of range (one line naming the fix).
    """
    from idff.network import unwrap
    from idff.run_config import LAYOUT
    from idff.runs import load
    from idff.training import TrainConfig, Trainer
    from idff.training.checkpoint import check_resume_config, claim_run_dir

    budgets = tuple(sorted(set(nfe))) if isinstance(nfe, (tuple, list)) else (nfe,)
    _check(method, budgets, pairs, pair_nfe)
    check_device(str(device), "device")
    teacher = _teacher(teacher)
    out = Path(out)
    if out.resolve() == Path(teacher.path).resolve():
        raise UserError(f"the student folder {out} is the teacher's own folder; choose a new "
                        "folder for the student.", cli=f"--out {out} is the teacher's own "
                        "folder; choose a new --out for the student.")
    tcfg = teacher.config
    ttrain = tcfg.get("train") or {}
    teacher_steps = ttrain.get("steps")
    steps = steps or max(int(teacher_steps or 2000) // 2, 1)
    batch = int(batch_size or ttrain.get("batch_size")
                or (tcfg.get("data") or {}).get("batch_size") or 128)
    tc = TrainConfig(steps=steps, lr=float(lr or ttrain.get("lr") or 1e-4),
                     warmup=min(int(ttrain.get("warmup", 200)), 200),  # not from steps,
                     # which a resume may raise
                     ema_decay=float(ttrain.get("ema_decay", 0.999)), seed=seed,
                     grad_clip=float(ttrain.get("grad_clip", 1.0)),
                     ckpt_every=max(min(1000, steps // 4), 1), log_every=max(min(100, steps), 1))
    net = "two_head" if teacher.sampling.method == "idff" else "velocity"
    times = grid_times(budgets) if method == "x1head" else ()
    record = {"method": method, "nfe": list(budgets), "times": list(times),
              "teacher": {"run": str(Path(teacher.path).resolve()), "name": str(teacher.path),
                          "step": int(tcfg.get("step", 0)), "method": teacher.sampling.method,
                          "steps": teacher_steps},
              "pairs": {"n": pairs, "nfe": pair_nfe, "solver": pair_solver,
                        "sampler": teacher.sampling.replace(nfe=pair_nfe,
                                                            solver=pair_solver).describe(),
                        "seed": seed}}
    config = {k: copy.deepcopy(v) for k, v in tcfg.items()
              if k not in ("step", "sampling", "train", "init_from", "distill", "layout")}
    config.update(distill=record, layout=LAYOUT,
                  sampling=student_sampling(method, teacher.sampling.method, budgets),
                  train={**asdict(tc), "batch_size": batch},
                  init_from={"run": record["teacher"]["run"], "step": record["teacher"]["step"]})
    if "batch_size" in (config.get("data") or {}):  # where toy configs keep it
        config["data"] = {**config["data"], "batch_size": batch}
    say = echo or (lambda line: None)
    continuing = claim_run_dir(out, resume)
    if resume:
        check_resume_config(out, config)
    if not continuing:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(config, out / "config.json", indent=2, sort_keys=True)
    x0, x1, info = make_pairs(teacher, out, pairs, pair_nfe, pair_solver, seed,
                              device=device, echo=say, reuse=pairs_from)
    model = copy.deepcopy(unwrap(teacher.model) if net == "two_head" else teacher.model)
    objective = DistillObjective(method, net, times or (0.0,))
    trainer = Trainer(model.float().train(), objective, PairStream(x0, x1, batch), tc, out,
                      config, progress=progress, device=device, resume=True)
    t0 = time.perf_counter()
    trainer.fit()
    costs = _costs(out, info, steps, teacher_steps, time.perf_counter() - t0)
    say(f"teacher calls for the pairs: {info['teacher_evals']:,} ({info['teacher_nfe']} per pair "
        f"x {pairs:,} pairs); student steps: {steps:,}"
        + (f" ({costs['step_share']:.0%} of the teacher's {teacher_steps:,})"
           if teacher_steps else "") + f"; wall time {costs['seconds_total']:.1f} s")
    return load(out)


def _costs(out: Path, info: dict[str, Any], steps: int, teacher_steps: int | None,
           train_seconds: float) -> dict[str, Any]:
    """Add this call's costs to ``costs.json`` (times add up over resumed calls)."""
    import json

    path = out / COSTS
    try:
        old = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        old = {}
    costs = {"teacher_nfe_per_pair": info["teacher_nfe"], "teacher_evals": info["teacher_evals"],
             "student_steps": steps, "teacher_steps": teacher_steps,
             "step_share": steps / teacher_steps if teacher_steps else None,
             "seconds_pairs": float(old.get("seconds_pairs", 0)) + info["seconds"],
             "seconds_train": float(old.get("seconds_train", 0)) + train_seconds}
    costs["seconds_total"] = costs["seconds_pairs"] + costs["seconds_train"]
    atomic_write_json(costs, path, indent=2, sort_keys=True)
    return costs
