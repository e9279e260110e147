"""What ``idff generate`` records about the checkpoint it sampled (``OUT/generate.json``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["source_record", "upgrade_record"]


def source_record(ckpt: str | os.PathLike) -> dict[str, Any]:
    """``{"ckpt": the file or folder loaded}``, plus ``"name"`` for a run loaded by name.

    The path is the one :func:`idff.runs.resolve` found, so a shipped run such as
    ``fashion_mnist/idff`` records the installed folder, not ``<cwd>/fashion_mnist/idff``.
    """
    from idff.run_kind import resolve

    given = Path(ckpt).expanduser()
    loaded = resolve(ckpt).resolve()
    record: dict[str, Any] = {"ckpt": str(loaded)}
    if not given.exists() and not given.is_absolute():
        record["name"] = given.as_posix().strip("/")
    return record


def upgrade_record(old: dict[str, Any], ckpt: str | os.PathLike,
                   new: dict[str, Any]) -> dict[str, Any]:
    """``old`` as the current version would have written it, for comparison with ``new``.

    Older versions recorded ``<cwd>/NAME`` for a run loaded by name; the same name loaded
    from another install is the same run (its step is compared as well).
    """
    old = dict(old)
    legacy = str(Path(ckpt).resolve())
    if "name" in new and old.get("ckpt") in (legacy, new["ckpt"]) or \
            "name" in new and old.get("name") == new["name"]:
        old.update(ckpt=new["ckpt"], name=new["name"])
    return old
