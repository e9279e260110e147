"""One writer per folder: an exclusive ``flock`` on ``FOLDER/.lock`` while a command writes it.

Two commands writing one run folder would interleave their files (one run's config and
weights, the other's log). Every command that writes a run folder holds its lock for its
whole life, and a second one is refused at once, in one line. The lock belongs to the open
file, so the kernel drops it when the process ends, ``kill -9`` included: a ``.lock`` left
behind never blocks. Within one process the lock is re-entrant (a command and the trainer
it calls take it both). Under ``torchrun`` only rank 0 takes it: the ranks of one command
share their folders.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from idff.errors import UserError, check_output_path

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None

__all__ = ["LOCK", "FolderBusy", "folder_lock", "hold_for_command"]

LOCK = ".lock"


@dataclass
class _Held:
    fd: int
    depth: int
    path: Path
    created: bool  # the folder was made for the lock: removed again if nothing was written

    def release(self) -> None:
        try:
            self.path.unlink(missing_ok=True)  # still holding it: a waiter re-checks the inode
        finally:
            os.close(self.fd)
        if self.created:
            try:
                self.path.parent.rmdir()  # only when empty: a command refused before writing
            except OSError:
                pass


#: locks this process holds, by lock file
_HELD: dict[str, _Held] = {}


class FolderBusy(UserError):
    """Another process is writing the folder."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        text = ""
    return f" ({text[:200]})" if text else ""


def _acquire(path: Path, option: str) -> int:
    """Open and lock ``path``; refuse at once when another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            folder = path.parent
            raise FolderBusy(
                f"{folder} is being written by another process{_holder(path)}; wait until it "
                "finishes, or write somewhere else.",
                cli=f"{folder} is being written by another idff command{_holder(path)}; wait "
                    "until it finishes" + (f", or choose another {option}." if
                                           option.startswith("--") else ".")) from None
        except OSError:  # a file system without locks (some network mounts): go on unlocked
            return fd
        try:  # the holder before us may have removed the file: lock the one at the path
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def folder_lock(folder: str | os.PathLike, name: str = LOCK,
                option: str = "--out") -> Iterator[None]:
    """Hold the exclusive lock ``folder/name`` (creating the folder) until the block ends.

    A folder this call created and nothing else wrote into is removed again on the way out.

    Raises:
        FolderBusy: another process holds the lock; its pid and command are named.
    """
    folder = Path(folder)
    if fcntl is None or int(os.environ.get("RANK", "0") or 0) != 0:
        yield
        return
    check_output_path(folder, option, folder=True)
    path = folder / name
    key = os.path.realpath(path)
    if key not in _HELD:
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path, option)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}\n".encode())
        _HELD[key] = _Held(fd, 0, path, created)
    _HELD[key].depth += 1
    try:
        yield
    finally:
        # holders need not leave in the order they came (a command's hold outlives the
        # trainer's): the last one out releases
        held = _HELD[key]
        held.depth -= 1
        if held.depth == 0:
            del _HELD[key]
            held.release()


def hold_for_command(folder: str | os.PathLike, name: str = LOCK,
                     option: str = "--out") -> bool:
    """Hold ``folder``'s lock until the running command line command ends; return whether
    there was one (outside a command nothing is taken: the trainer locks for itself)."""
    try:
        import click
    except ImportError:
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    ctx.with_resource(folder_lock(folder, name, option))
    return True
