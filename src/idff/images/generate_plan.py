"""Which images ``idff generate`` still has to write, found without touching every name.

The folder is listed once (the files that are there), and the indices still to write are
produced lazily, so ``--n`` in the billions starts at once instead of asking the file
system about each name first; a request whose images cannot fit on the disk is refused
before anything is written.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from idff.errors import UserError

__all__ = ["present_indices", "pending", "check_disk_room"]

_PNG = re.compile(r"(\d{6,})\.png")


def present_indices(out: Path) -> set[int]:
    """Indices ``i`` whose ``OUT/{i:06d}.png`` exists (one listing of the folder)."""
    found = set()
    with os.scandir(out) as it:
        for e in it:
            m = _PNG.fullmatch(e.name)
            if m and e.name == f"{int(m.group(1)):06d}.png":
                found.add(int(m.group(1)))
    return found


def pending(out: Path, n: int, rank: int = 0, world: int = 1) -> tuple[int, Iterator[int]]:
    """How many of this rank's indices ``i < n`` have no image yet, and those indices."""
    have = {i for i in present_indices(out) if i < n and i % world == rank}
    mine = len(range(rank, n, world))
    return mine - len(have), (i for i in range(rank, n, world) if i not in have)


def check_disk_room(out: Path, todo: int, cfg: dict[str, Any], option: str = "--n") -> None:
    """Refuse ``todo`` images that could not fit in the free space at ``out`` even if each
    compressed to half its raw size (a lower bound that never refuses a real run)."""
    model = cfg.get("model", {})
    size = model.get("image_size", 32)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    per_image = 0.5 * int(model.get("in_channels", 3)) * h * w + 100
    free = shutil.disk_usage(out).free
    if todo * per_image > free:
        need = f"{todo:,} images, at least {todo * per_image / 2**30:,.0f} GiB as PNGs"
        raise UserError(f"n asks for {need}, but {out} has {free / 2**30:,.1f} GiB free; "
                        "lower n or write elsewhere.",
                        cli=f"{option} asks for {need}, but {out} has {free / 2**30:,.1f} GiB "
                            f"free; lower {option} or choose another --out.")
