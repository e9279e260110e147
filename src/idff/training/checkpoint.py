"""Run directories and checkpoints.

A run directory holds ``config.json`` (everything needed to rebuild the model and data),
``snapshot.safetensors`` (EMA weights for inference, no pickle at all; runs started before
this format was the default keep writing ``snapshot.pt``) and ``state.pt`` (the full resume
state: model, EMA, optimizer, scheduler, step, RNG). Files are written to a temporary name
and renamed, so a killed run never leaves a half-written checkpoint. Torch files are loaded
with ``weights_only=True``: no pickled code. :func:`export_run` writes a copy for sharing,
``config.json`` + ``snapshot.safetensors``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch

from idff.errors import ConfigError, UserError, load_error_reason
from idff.io import atomic_save, atomic_write, atomic_write_json, atomic_write_text
from idff.run_config import LAYOUT, upgrade_config
from idff.sampling import SamplingConfig
from idff.training.weights_check import check_finite_weights, check_state_step

__all__ = [
    "atomic_save",
    "atomic_write_text",
    "save_snapshot",
    "snapshot_file",
    "load_run",
    "export_run",
    "load_state",
    "load_state_dict_checked",
    "remove_stale_tmp",
    "check_resume_config",
    "claim_run_dir",
    "foreign_files",
    "init_from_run",
    "RUN_FILES",
    "RESUMABLE_KEYS",
    "RunError",
]

CONFIG, SNAPSHOT, STATE = "config.json", "snapshot.pt", "state.pt"
SAFE_SNAPSHOT = "snapshot.safetensors"
LOG = "log.jsonl"
#: files that make a folder a run: training never writes into a folder holding one of them
#: unless it continues that very run (its ``state.pt``).
RUN_FILES = (CONFIG, SNAPSHOT, SAFE_SNAPSHOT, STATE)


class RunError(UserError):
    """A path that is not a usable run directory or checkpoint."""


def remove_stale_tmp(run_dir: str | os.PathLike) -> list[Path]:
    """Delete temporary files that a save killed mid-write left in ``run_dir``; return them.

    Only names :func:`idff.io.atomic_write` creates for the run's own files
    (``.state.pt.*.tmp``, ``.snapshot.pt.*.tmp``, ``.config.json.*.tmp``,
    ``.log.jsonl.*.tmp``) are touched.
    """
    run_dir = Path(run_dir)
    stale = [p for name in (STATE, SNAPSHOT, SAFE_SNAPSHOT, CONFIG, LOG)
             for p in run_dir.glob(f".{name}.*.tmp")]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


#: run-config keys that may change when a run is resumed: how long and how often to
#: save, log and draw, and the arithmetic precision of the step (a run started on the CPU in
#: fp32 may go on under the bf16 autocast of a GPU); nothing that changes what the weights mean.
RESUMABLE_KEYS = frozenset({
    "train.steps", "train.max_minutes", "train.ckpt_every", "train.log_every",
    "train.tensorboard", "train.sample_every", "train.precision", "data.download",
})
#: key prefixes that describe where a run came from, not what it trains; a resume keeps them
RECORD_PREFIXES = ("init_from.",)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


#: model keys a velocity (CFM) network never reads: they may differ on resume of such a run.
CFM_UNUSED_KEYS = frozenset({"model.parametrization", "model.sigma", "objective.flow_weight",
                             "objective.flow_weighting", "objective.score_target"})


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
    from idff.config_schema import read_config

    try:
        old = _flatten(upgrade_config(read_config(path)))
    except ConfigError as e:
        raise RunError(f"{e} The run cannot be resumed safely; choose another --out.") from e
    new = _flatten(json.loads(json.dumps({**config, "layout": LAYOUT})))
    free = RESUMABLE_KEYS | (CFM_UNUSED_KEYS if new.get("model.method") == "cfm" else frozenset())
    # a sampling setting added after the run was started is recorded as absent: its default
    # is what the run was implicitly using, so only another value is a change
    added = {f"sampling.{f.name}": f.default for f in dataclasses.fields(SamplingConfig)}
    added["train.ema_warmup"] = False  # runs from before the EMA warm-up averaged without it
    diffs = [f"{k}: {json.dumps(old.get(k, '(absent)'))} -> {json.dumps(new.get(k, '(absent)'))}"
             for k in sorted(set(old) | set(new))
             if k not in free and not k.startswith(RECORD_PREFIXES)
             and old.get(k, "(absent)") != new.get(k, "(absent)")
             and not (k not in old and k in added and json.loads(json.dumps(added[k])) == new[k])]
    if diffs:
        more = f" (+{len(diffs) - 6} more)" if len(diffs) > 6 else ""
        listed = f"{run_dir} holds a run trained with other settings ({'; '.join(diffs[:6])}{more})"
        raise RunError(
            f"{listed}; resuming would continue its weights under the new settings. Choose "
            "another run_dir, or resume with the recorded settings.",
            cli=f"{listed}; resuming would continue its weights under the new settings. Choose "
                "another --out, or rerun with the recorded settings.",
        )


def foreign_files(run_dir: str | os.PathLike) -> list[str]:
    """The visible names in ``run_dir``: what a new run must not share a folder with (a
    user's own ``log.jsonl`` or notes, another run)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    # hidden names (the lock, ``.NAME.XXXX.tmp``, ``.DS_Store``) are never a run's files
    return sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))


def claim_run_dir(run_dir: str | os.PathLike, resume: bool | str = False) -> bool:
    """Check that training may write into ``run_dir``; return whether it continues a run.

    A run folder is owned by the run that made it: ``resume=False`` needs a new or empty
    folder (hidden files aside); ``resume=True`` needs the folder's ``state.pt`` (a folder of
    weights only, such as an exported or shipped run, cannot be continued: fine-tune from
    it into a new folder instead); ``resume="auto"`` continues a ``state.pt`` when there
    is one and starts in an empty folder otherwise (the benchmark pipelines' cached runs).
    A folder holding only ``config.json`` is a run stopped before its first checkpoint:
    ``resume`` starts it again. Under a command line command the folder's lock
    (:mod:`idff.runlock`) is taken first and held until the command ends.

    Raises:
        RunError: in Python words (``resume=True``), with the command-line words
            (``--resume``, ``--out``, ``--init-from``) as its ``cli`` message.
    """
    from idff.runlock import hold_for_command

    run_dir = Path(run_dir)
    if resume not in (True, False, "auto"):
        raise ValueError(f"resume must be True, False or 'auto', got {resume!r}.")
    hold_for_command(run_dir)  # a command holds the folder to its end; fit() locks it too
    present = [n for n in RUN_FILES if (run_dir / n).is_file()]
    has_state = (run_dir / STATE).is_file()
    if has_state and resume:
        return True
    if present == [CONFIG]:  # started (config.json comes first) but stopped before a checkpoint
        if resume:
            return False
        raise RunError(f"{run_dir} holds a run that was started but saved no checkpoint (only "
                       f"{CONFIG}); pass resume=True to start it again, or choose another "
                       "run_dir.",
                       cli=f"{run_dir} holds a run that was started but saved no checkpoint "
                           f"(only {CONFIG}); rerun with --resume to start it again, or choose "
                           "another --out.")
    if not present:
        foreign = foreign_files(run_dir)
        if foreign:
            raise RunError(
                f"{run_dir} holds files that no idff run wrote ({', '.join(foreign[:5])}"
                f"{', ...' if len(foreign) > 5 else ''}); a new run there would write "
                f"{CONFIG}, {LOG} and its weights among them. Choose a new or empty run_dir.",
                cli=f"{run_dir} holds files that no idff run wrote ({', '.join(foreign[:5])}"
                    f"{', ...' if len(foreign) > 5 else ''}); a new run there would write "
                    f"{CONFIG}, {LOG} and its weights among them. Choose a new or empty --out.")
        if resume is True:
            raise RunError(f"nothing to resume in {run_dir} (no {STATE}); pass resume=False "
                           "to start a new run there.",
                           cli=f"nothing to resume in {run_dir} (no {STATE}); drop --resume to "
                               "start a new run there.")
        return False
    files = ", ".join(present)
    if has_state:  # resume=False
        raise RunError(f"{run_dir} already holds a run ({files}); pass resume=True to continue "
                       "it, or choose another run_dir.",
                       cli=f"{run_dir} already holds a run ({files}); pass --resume to continue "
                           "it, or choose another --out.")
    raise RunError(
        f"{run_dir} holds a trained model ({files}) but no {STATE}: it cannot be continued, "
        f"and a new run there would overwrite it. Fine-tune from its weights into a new folder "
        f"with init_from={str(run_dir)!r}, or choose another run_dir.",
        cli=f"{run_dir} holds a trained model ({files}) but no {STATE}: it cannot be continued "
            f"(weights only), and a new run there would overwrite it. Fine-tune from its "
            f"weights into a new folder with --init-from {run_dir} --out NEW, or choose "
            "another --out.")


def init_from_run(model: torch.nn.Module, run_config: dict[str, Any],
                  source: str | os.PathLike) -> None:
    """Start ``model`` from the EMA weights of the run at ``source`` (fine-tuning).

    The source must have been trained with the same network (the weights must fit);
    ``run_config`` records ``init_from: {"run", "step"}`` so the new run says where it began.

    Raises:
        RunError: ``source`` is not a run, or its weights do not fit ``model``.
    """
    _, state, step = load_run(source)
    src = Path(source)
    where = snapshot_file(src)
    load_state_dict_checked(model, state, f"the starting weights {where}")
    run_config["init_from"] = {"run": str(src.resolve()), "step": step}


def snapshot_file(run_dir: str | os.PathLike) -> Path:
    """The weights file of a run: ``snapshot.pt`` where one exists (runs started before
    safetensors was the default, and the shipped checkpoints), else ``snapshot.safetensors``
    (which need not exist yet)."""
    run_dir = Path(run_dir)
    return run_dir / SNAPSHOT if (run_dir / SNAPSHOT).is_file() else run_dir / SAFE_SNAPSHOT


def _safetensors_blob(state: dict, step: int) -> bytes:
    from safetensors.torch import save

    # safetensors refuses tensors that share memory; clones are independent and equal
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    return save(tensors, metadata={"step": str(step), "format": "idff-snapshot"})


def save_snapshot(run_dir: str | os.PathLike, ema_state: dict, config: dict, step: int) -> None:
    """Write the inference snapshot (EMA weights) and the config of a run.

    New runs write ``snapshot.safetensors``; a run that already has a ``snapshot.pt`` goes
    on writing that file, so a folder never holds two weight formats."""
    run_dir = Path(run_dir)
    path = snapshot_file(run_dir)
    atomic_write_json(config, run_dir / CONFIG, indent=2, sort_keys=True)
    if path.name == SNAPSHOT:
        atomic_save({"model": ema_state, "step": step}, path)
    else:
        blob = _safetensors_blob(ema_state, step)
        atomic_write(path, lambda f: f.write(blob))


def _load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or foreign files
        raise RunError(
            f"cannot read checkpoint {path} ({load_error_reason(e)}); the file is truncated "
            "or not an idff checkpoint. Resume from an earlier copy or retrain."
        ) from e


def load_run(run_dir: str | os.PathLike) -> tuple[dict, dict, int]:
    """Return ``(config, ema_state_dict, step)`` of a run directory.

    The weights are ``snapshot.safetensors`` (no pickle at all) or, in runs started before
    that was the default, ``snapshot.pt`` (read with ``weights_only=True``).
    """
    run_dir = Path(run_dir)
    snapshot = snapshot_file(run_dir)
    if not (run_dir / CONFIG).is_file() or not snapshot.is_file():
        raise RunError(
            f"{run_dir} is not an idff run directory (it needs {CONFIG} and {SNAPSHOT} or "
            f"{SAFE_SNAPSHOT}); pass the --out folder of an 'idff train' run."
        )
    from idff.config_schema import read_config

    config = upgrade_config(read_config(run_dir / CONFIG))
    if snapshot.suffix == ".safetensors":
        return (config, *_load_safetensors(snapshot))
    snap = _load(snapshot)
    if "model" not in snap:
        raise RunError(f"{snapshot} has no 'model' entry; it is not an idff snapshot.")
    return config, snap["model"], int(snap.get("step", 0))


def _load_safetensors(path: Path) -> tuple[dict, int]:
    try:
        from safetensors import safe_open
    except ImportError as e:
        raise ImportError(f"reading {path} needs safetensors: pip install safetensors.") from e
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
            meta = f.metadata() or {}
    except Exception as e:  # truncated or foreign files
        raise RunError(f"cannot read {path} ({type(e).__name__}: {str(e)[:160]}); the file is "
                       "truncated or not a safetensors file. Export the run again.") from e
    return state, int(meta.get("step", 0))


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Copy a run's config and EMA weights to ``out`` as ``config.json`` +
    ``snapshot.safetensors``: a run folder that loads without unpickling anything.

    Every command that takes a run directory (``idff sample``, ``nll``, ``fid``, ...) takes
    the exported folder; the tensors are the snapshot's, bit for bit.

    Raises:
        RunError: ``run_dir`` is not a run, or ``out`` already holds one.
    """
    out = Path(out)
    if (out / CONFIG).exists() or (out / SNAPSHOT).exists() or (out / SAFE_SNAPSHOT).exists():
        raise RunError(f"{out} already holds a run; choose an empty --out.")
    config, state, step = load_run(run_dir)
    blob = _safetensors_blob(state, step)
    atomic_write(out / SAFE_SNAPSHOT, lambda f: f.write(blob))
    atomic_write_json(config, out / CONFIG, indent=2, sort_keys=True)
    return out


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
    state["step"] = check_state_step(state["step"], str(path))
    try:  # on a spare generator: a doctored state is refused before anything is restored
        torch.Generator().set_state(state["rng"])
    except (RuntimeError, TypeError) as e:
        raise RunError(
            f"{path}: its 'rng' entry is not a torch RNG state ({str(e)[:80]}); the file was "
            "altered. Resume from an earlier copy, or remove state.pt to keep only the "
            "snapshot (training then starts again from step 0)."
        ) from None
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
    check_finite_weights(state, source)
    module.load_state_dict(state)
