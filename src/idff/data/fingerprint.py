"""The fingerprint of a run's training array, so that a resume on changed data is refused.

A run trained on a user's file records only the file's path; the file could be rewritten
between a run and its ``--resume``, which then went on training the same weights on other
data without a word. The run now records ``data.sha256`` of the array it trains on.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["array_sha256", "stamp_data"]


def array_sha256(arr: np.ndarray) -> str:
    """sha256 of an array's float32 values and shape (what training reads)."""
    a = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
    h = hashlib.sha256(repr(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def stamp_data(run_config: dict[str, Any], out: str | os.PathLike, resume: bool | str,
               digest: str) -> None:
    """Record ``digest`` as ``run_config["data"]["sha256"]``; on resume, refuse a digest
    other than the one the run recorded. A run recorded before fingerprints existed keeps
    resuming as it did (nothing to compare with, and nothing is added to it).

    Raises:
        RunError: the run in ``out`` was trained on other data.
    """
    from idff.training.checkpoint import CONFIG, STATE, RunError

    out = Path(out)
    if resume and (out / STATE).is_file() and (out / CONFIG).is_file():
        try:
            old = json.loads((out / CONFIG).read_text()).get("data", {})
        except (OSError, ValueError, AttributeError):
            old = {}  # an unreadable config is reported by the resume check
        recorded = old.get("sha256") if isinstance(old, dict) else None
        if recorded is None:
            return
        if recorded != digest:
            where = run_config["data"].get("file") or "the training data"
            changed = (f"{where} is not the data {out} was trained on (sha256 {recorded[:12]}… "
                       f"recorded, {digest[:12]}… now)")
            raise RunError(f"{changed}; resuming would continue its weights on other data. "
                           "Restore the data, or train a new run in another folder.",
                           cli=f"{changed}; resuming would continue its weights on other "
                               "data. Restore the file, or train a new run with another --out.")
    run_config["data"]["sha256"] = digest
