"""Run directories and checkpoints.

A run directory holds ``config.json`` (everything needed to rebuild the model and data),
``snapshot.pt`` (EMA weights for inference, a plain ``state_dict``) and ``state.pt`` (the
full resume state: model, EMA, optimizer, scheduler, step, RNG). Files are written to a
temporary name and renamed, so a killed run never leaves a half-written checkpoint.
Everything is loaded with ``weights_only=True``: no pickled code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from idff.errors import UserError

__all__ = [
    "atomic_save",
    "atomic_write_text",
    "save_snapshot",
    "load_run",
    "load_state",
    "load_state_dict_checked",
    "remove_stale_tmp",
    "check_resume_config",
    "RESUMABLE_KEYS",
    "RunError",
]

CONFIG, SNAPSHOT, STATE = "config.json", "snapshot.pt", "state.pt"


class RunError(UserError):
    """A path that is not a usable run directory or checkpoint."""


def _tmp_in(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"cannot write to {path.parent}; choose a writable --out folder.")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return tmp


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    tmp = _tmp_in(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    path = Path(path)
    tmp = _tmp_in(path)
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def remove_stale_tmp(run_dir: str | os.PathLike) -> list[Path]:
    """Delete temporary files that a save killed mid-write left in ``run_dir``; return them.

    Only names :func:`atomic_save` / :func:`atomic_write_text` create for the run's own
    files (``.state.pt.*.tmp``, ``.snapshot.pt.*.tmp``, ``.config.json.*.tmp``) are touched.
    """
    run_dir = Path(run_dir)
    stale = [p for name in (STATE, SNAPSHOT, CONFIG) for p in run_dir.glob(f".{name}.*.tmp")]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


#: run-config keys that may change when a run is resumed: how long and how often to
#: save, log and draw; nothing that changes what the weights mean.
RESUMABLE_KEYS = frozenset({
    "train.steps", "train.max_minutes", "train.ckpt_every", "train.log_every",
    "train.tensorboard", "train.sample_every", "data.download",
})


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def check_resume_config(run_dir: str | os.PathLike, config: dict[str, Any]) -> None:
    """Refuse to resume ``run_dir`` with settings other than those it was trained with.

    ``config`` is compared with the run's ``config.json`` key by key (JSON values, so
    ``(1, 2)`` equals ``[1, 2]``); only :data:`RESUMABLE_KEYS` may differ.

    Raises:
        RunError: listing each differing key with its recorded and requested value.
    """
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        return
    try:
        old = _flatten(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON ({e}); the run cannot be resumed safely. "
                       "Choose another --out.") from e
    new = _flatten(json.loads(json.dumps(config)))
    diffs = [f"{k}: {json.dumps(old.get(k, '(absent)'))} -> {json.dumps(new.get(k, '(absent)'))}"
             for k in sorted(set(old) | set(new))
             if k not in RESUMABLE_KEYS and old.get(k, "(absent)") != new.get(k, "(absent)")]
    if diffs:
        more = f" (+{len(diffs) - 6} more)" if len(diffs) > 6 else ""
        raise RunError(
            f"{run_dir} holds a run trained with other settings ({'; '.join(diffs[:6])}{more}); "
            "resuming would continue its weights under the new settings. Choose another --out, "
            "or rerun with the recorded settings."
        )


def save_snapshot(run_dir: str | os.PathLike, ema_state: dict, config: dict, step: int) -> None:
    """Write the inference snapshot (EMA weights) and the config of a run."""
    run_dir = Path(run_dir)
    atomic_write_text(json.dumps(config, indent=2, sort_keys=True), run_dir / CONFIG)
    atomic_save({"model": ema_state, "step": step}, run_dir / SNAPSHOT)


def _load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or foreign files
        raise RunError(
            f"cannot read checkpoint {path} ({type(e).__name__}: {e}); the file is truncated "
            "or not an idff checkpoint. Resume from an earlier copy or retrain."
        ) from e


def load_run(run_dir: str | os.PathLike) -> tuple[dict, dict, int]:
    """Return ``(config, ema_state_dict, step)`` of a run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file() or not (run_dir / SNAPSHOT).is_file():
        raise RunError(
            f"{run_dir} is not an idff run directory (it needs {CONFIG} and {SNAPSHOT}); "
            "pass the --out folder of an 'idff train' run."
        )
    try:
        config = json.loads((run_dir / CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise RunError(f"{run_dir / CONFIG} is not valid JSON ({e}).") from e
    snap = _load(run_dir / SNAPSHOT)
    if "model" not in snap:
        raise RunError(f"{run_dir / SNAPSHOT} has no 'model' entry; it is not an idff snapshot.")
    return config, snap["model"], int(snap.get("step", 0))


#: entries every resume state has (``scaler``, ``cuda_rng`` and ``data`` are optional).
STATE_KEYS = ("model", "ema", "ema_n_averaged", "optim", "sched", "step", "rng")


def load_state(run_dir: str | os.PathLike) -> dict | None:
    """The full resume state of a run, or ``None`` when the run has none yet.

    Raises:
        RunError: the file is unreadable, or lacks one of :data:`STATE_KEYS`.
    """
    path = Path(run_dir) / STATE
    if not path.is_file():
        return None
    state = _load(path)
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise RunError(
            f"{path} lacks {', '.join(missing)}: it is not a complete idff resume state. "
            "Resume from an earlier copy, or remove state.pt to keep only the snapshot "
            "(training then starts again from step 0)."
        )
    return state


def load_state_dict_checked(
    module: torch.nn.Module, state: dict, source: str = "checkpoint"
) -> None:
    """``module.load_state_dict(state)`` that names what does not fit.

    Raises:
        RunError: listing missing keys, unexpected keys and shape mismatches (a few of each),
            i.e. a checkpoint written for another architecture or configuration.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and torch.is_tensor(state[k]) and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        def few(items: list[str]) -> str:
            return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")

        parts = []
        if missing:
            parts.append(f"missing keys: {few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {few(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches (checkpoint vs model): {few(shapes)}")
        raise RunError(
            f"{source} does not fit this model ({'; '.join(parts)}). It was saved for another "
            "architecture or configuration; build the model with the config it was trained with."
        )
    module.load_state_dict(state)
