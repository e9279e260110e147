"""Errors a user can fix, and the checks that raise them at entry points.

:class:`UserError` marks an input that is wrong (an option, a file, a config key); the
command line prints its message as one line and exits with code 2, without a traceback.
Every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "UserError",
    "ConfigError",
    "DataError",
    "DataNotFound",
    "TrainingInterrupted",
    "check_device",
    "closest",
    "unknown_key_message",
    "check_output_path",
    "load_error_reason",
]


class UserError(ValueError):
    """An input the user can fix; its message names the input and the fix.

    ``cli`` is the same message in command-line words (``--resume`` where Python says
    ``resume=True``); the command line prints it instead of the message when given.
    """

    def __init__(self, message: str = "", cli: str | None = None):
        super().__init__(message)
        self.cli = cli


class ConfigError(UserError):
    """An unknown key or a value of the wrong type in a run config or a ``--set`` override."""


class DataError(UserError):
    """A dataset that is missing, corrupt or in the wrong layout."""


class DataNotFound(DataError):
    """A dataset that is not on this machine (as opposed to one that is there but corrupt)."""


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint.

    Attributes:
        step: the step saved; training again with ``resume=True`` continues from it.
        run_dir: where the checkpoint is.
        signum: the signal received.
        self_resuming: the run belongs to a pipeline that continues its runs by itself
            (``resume="auto"``: the demos and benchmarks, which have no ``--resume``).
    """

    def __init__(self, step: int, run_dir: str | os.PathLike, signum: int,
                 self_resuming: bool = False):
        self.step, self.run_dir, self.signum = step, Path(run_dir), signum
        how = ("Call it again with the same settings" if self_resuming else
               "Train again into the same folder with resume=True")
        super().__init__(
            f"interrupted at step {step}; checkpoint saved in {run_dir}. {how} to continue."
        )
        how = "" if self_resuming else " with --resume"
        self.cli = (f"interrupted at step {step}; checkpoint saved in {run_dir}. Rerun the same "
                    f"command{how} to continue.")


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to ``name`` (difflib), or ``None`` when nothing is close."""
    hits = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return hits[0] if hits else None


def unknown_key_message(key: str, where: str, choices: Iterable[str], what: str = "key") -> str:
    """``"unknown key 'objective.sigmaa'; did you mean 'objective.sigma'? Valid: ..."``."""
    choices = sorted(choices)
    prefix = where + "." if where else ""
    near = closest(key, choices)
    hint = f"; did you mean '{prefix}{near}'?" if near else "."
    return (f"unknown {what} '{prefix}{key}'{hint} Valid {what}s"
            f"{' in ' + where if where else ''}: {', '.join(choices)}.")


def check_output_path(path: str | os.PathLike, option: str = "--out",
                      folder: bool = False) -> Path:
    """Refuse an output path that cannot be created because a file sits where a folder must.

    Args:
        path: the output file (or folder, with ``folder=True``).
        option: the option's name, used in the message.

    Raises:
        UserError: naming ``option`` and the file in the way.
    """
    p = Path(path)
    for parent in [p, *p.parents] if folder else list(p.parents):
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{option} {path}: {parent} is a file, not a folder; choose "
                                f"another {option}.")
            break
    if not folder and p.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name.")
    return p


def load_error_reason(e: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in a few words."""
    text = str(e)
    if "Weights only load failed" in text or "weights_only" in text:
        return ("not a plain tensor file: truncated, not written by torch.save, or holding "
                "pickled objects other than tensors, which are never loaded")
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(e).__name__}: {first[:160]}"


def check_device(device: str, option: str = "--device") -> str:
    """Refuse a device name torch does not know, or a device this machine does not have.

    Raises:
        UserError: naming the device, what this machine has, and the fix.
    """
    import torch

    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"{option} {device!r} is not a device; use cpu, cuda, cuda:N or mps."
                        ) from None
    if d.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise UserError(f"{option} {device}: no CUDA GPU is available on this machine (or "
                            "this torch is built without CUDA); use --device cpu.")
        if d.index is not None and d.index >= n:
            raise UserError(f"{option} {device}: this machine has {n} CUDA GPU(s), "
                            f"cuda:0 to cuda:{n - 1}.")
    elif d.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UserError(f"{option} {device}: MPS (Apple GPU) is not available on this "
                            "machine; use --device cpu.")
    elif d.type != "cpu":
        raise UserError(f"{option} {device!r}: idff runs on cpu, cuda, cuda:N or mps.")
    return device
