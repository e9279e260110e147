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


def load_state(run_dir: str | os.PathLike) -> dict | None:
    """The full resume state of a run, or ``None`` when the run has none yet."""
    path = Path(run_dir) / STATE
    return _load(path) if path.is_file() else None


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
