"""The record ``idff dump-real`` keeps in its output folder.

``dump-real`` skips the PNGs already there, so that an interrupted dump resumes. Without a
record, a second dump of another split (``--test`` after ``--train``) or another data set
into the same folder kept the old images and reported them as the new ones. The folder's
``dump-real.json`` says what its images are; a dump with other settings is refused, and
so is a folder holding files that no dump wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from idff.errors import UserError

__all__ = ["RECORD", "dump_settings", "claim_dump_folder"]

RECORD = "dump-real.json"


def dump_settings(cfg: dict[str, Any], train: bool) -> dict[str, Any]:
    """What decides which images a dump writes (not how many: a larger ``n`` extends it)."""
    data = cfg["data"]
    return {"preset": cfg.get("preset"), "dataset": data.get("dataset"),
            "root": data.get("root"), "image_size": data.get("image_size"),
            "channels": data.get("channels"), "split": "train" if train else "test"}


def claim_dump_folder(out: Path, settings: dict[str, Any]) -> None:
    """Refuse ``out`` unless it is empty or holds a dump with the same ``settings``; write
    the record before any image.

    Raises:
        UserError: naming what the folder holds and the fix.
    """
    from idff.io import atomic_write_json

    record = out / RECORD
    if record.is_file():
        try:
            old = json.loads(record.read_text())
        except (OSError, ValueError):
            old = None
        if old == settings:
            return
        if not isinstance(old, dict):
            raise UserError(f"{record} is unreadable, so the images in {out} cannot be told "
                            "apart from a new dump's; choose an empty or new --out.")
        changed = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in settings.items()
                   if old.get(k) != v]
        raise UserError(f"{out} holds real images dumped with other settings "
                        f"({'; '.join(changed)}); they would be kept and counted as the new "
                        "ones. Choose an empty or new --out.")
    foreign = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    if foreign:
        few = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                        else "")
        raise UserError(f"--out {out} holds files that idff dump-real did not record ({few}; "
                        f"no {RECORD}), which would be kept and counted as the dumped images; "
                        "choose an empty or new --out.")
    atomic_write_json(settings, record, indent=2)
