"""``--threads`` on every command that computes, with one type, default and meaning.

Commands that declare ``--threads`` themselves (they record or use the count) keep their own
declaration; every other computing command gets this one, added when the commands are
registered, so that no command can be without it.
"""

from __future__ import annotations

import functools

import click

from idff.threads import choose_threads

__all__ = ["add_threads_option", "NO_COMPUTE"]

#: commands that only copy or list files (no network runs in them)
NO_COMPUTE = frozenset({"export", "dump-real", "merge", "runs"})

HELP = ("CPU threads for torch. Default: one thread for networks under 5 M parameters on "
        "the CPU (much faster for small networks), torch's own count otherwise.")


def _with_threads(callback):
    @functools.wraps(callback)
    def run(*args, threads=None, **kwargs):
        choose_threads(threads)
        return callback(*args, **kwargs)

    return run


def add_threads_option(group: click.Group) -> None:
    """Give every computing command under ``group`` a ``--threads`` option."""
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            add_threads_option(cmd)
        elif name not in NO_COMPUTE and not any(p.name == "threads" for p in cmd.params):
            cmd.params.append(click.Option(["--threads"], type=click.IntRange(min=1),
                                           default=None, help=HELP))
            cmd.callback = _with_threads(cmd.callback)
