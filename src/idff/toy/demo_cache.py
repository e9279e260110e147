"""The runs ``idff demo`` trains and reuses: its own, keyed by every setting, and finished.

The demo marks what it made with a hidden ``.idff-demo.json``: in its output folder, and
in each method's run folder with the settings of that run and whether it finished. A run
is reused only when all its settings match and it finished; one of other settings that the
demo made is replaced; an unfinished one is continued. A folder the demo did not make is
never written into.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from idff.errors import UserError
from idff.io import atomic_write_json
from idff.training import TrainConfig
from idff.training.checkpoint import LOG, RUN_FILES, foreign_files

__all__ = ["MARKER", "claim_demo_folder", "demo_settings", "prepare_run", "finish_run"]

MARKER = ".idff-demo.json"


def _not_ours(folder: Path, names: list[str]) -> UserError:
    few = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    return UserError(f"{folder} holds files that idff demo did not make ({few}); the demo "
                     "never writes over them. Choose another out folder (or delete this one "
                     "if it is an older demo's output).",
                     cli=f"{folder} holds files that idff demo did not make ({few}); the demo "
                         "never writes over them. Choose another --out (or delete this one if "
                         "it is an older demo's output).")


def claim_demo_folder(out: Path) -> None:
    """``out`` must be new, empty or made by the demo; mark it as the demo's."""
    if not (out / MARKER).is_file():
        foreign = foreign_files(out)
        if foreign:
            raise _not_ours(out, foreign)
        atomic_write_json({"made_by": "idff demo"}, out / MARKER)


def demo_settings(config: dict[str, Any], train: TrainConfig) -> dict[str, Any]:
    """Everything that decides a demo run's weights: its run config and training settings
    (the seed and steps included)."""
    return json.loads(json.dumps({"config": config, "train": asdict(train)}))


def _read(marker: Path) -> dict[str, Any]:
    try:
        rec = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def prepare_run(run_dir: Path, settings: dict[str, Any]) -> str:
    """``"reuse"`` (a finished run of these settings), ``"continue"`` (an unfinished one) or
    ``"train"`` (none: the folder is new, or held a demo run of other settings, removed).

    Raises:
        UserError: ``run_dir`` holds files the demo did not make.
    """
    marker = run_dir / MARKER
    foreign = foreign_files(run_dir)
    if foreign and not marker.is_file():
        raise _not_ours(run_dir, foreign)
    old = _read(marker)
    if foreign and old.get("settings") == settings:
        return "reuse" if old.get("finished") else "continue"
    for name in (*RUN_FILES, LOG):  # the demo's own run of other settings
        (run_dir / name).unlink(missing_ok=True)
    left = foreign_files(run_dir)
    if left:
        raise _not_ours(run_dir, left)
    atomic_write_json({"settings": settings, "finished": False}, marker)
    return "train"


def finish_run(run_dir: Path, settings: dict[str, Any]) -> None:
    """Mark a run of ``settings`` as trained to the end."""
    atomic_write_json({"settings": settings, "finished": True}, run_dir / MARKER)
