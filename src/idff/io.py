"""Atomic file writes: write a temporary file in the target's folder, then rename it.

A process killed mid-write leaves the previous file (or none) and a hidden temporary
``.NAME.XXXXXXXX.tmp`` beside it, never a half-written ``NAME``; the rename is atomic on
POSIX file systems. :func:`idff.training.checkpoint.remove_stale_tmp` removes such leftovers
of a run directory.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_save", "atomic_write_text", "atomic_write_json", "tmp_name",
           "atomic_save_npy", "atomic_savefig"]


def tmp_name(path: str | os.PathLike) -> Path:
    """A fresh temporary name for ``path``: ``.NAME.XXXXXXXX.tmp`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, then rename it to ``path``.

    The folder is created if needed. On any error (or interrupt) the temporary file is
    removed and ``path`` is left as it was.

    Raises:
        PermissionError: the folder is not writable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"cannot write to {path.parent}; choose a writable --out folder.")
    while True:
        tmp = tmp_name(path)
        try:  # O_EXCL: never reuse a name; mode 0o666 & ~umask, as for open(path, "wb")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically."""
    import torch

    def write(f: IO[bytes]) -> None:
        try:
            torch.save(obj, f)
        except RuntimeError as e:
            # torch's zip writer swallows the OSError of a short write and then fails on
            # its own bookkeeping ("unexpected pos"); report the disk, not torch
            if "unexpected pos" not in str(e) and "write failed" not in str(e):
                raise
            stat = os.statvfs(Path(path).parent)
            full = stat.f_bavail * stat.f_frsize < 2**20
            raise OSError(errno.ENOSPC if full else errno.EIO,
                          "No space left on device" if full else "Input/output error",
                          str(path)) from e

    return atomic_write(path, write)


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(obj: Any, path: str | os.PathLike, **dumps_kw: Any) -> Path:
    """Write ``json.dumps(obj, **dumps_kw)`` to ``path`` atomically."""
    return atomic_write_text(json.dumps(obj, **dumps_kw), path)


def atomic_save_npy(array: Any, path: str | os.PathLike) -> Path:
    """``numpy.save(path, array)`` atomically (to the exact name: no ``.npy`` is appended)."""
    import numpy as np

    return atomic_write(path, lambda f: np.save(f, np.asarray(array)))


def atomic_savefig(fig: Any, path: str | os.PathLike, **savefig_kw: Any) -> Path:
    """``fig.savefig(path)`` (matplotlib) atomically, in the format of the name's suffix."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, **savefig_kw))
