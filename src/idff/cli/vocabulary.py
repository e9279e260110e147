"""Words every command spells the same: the run argument (``RUN``: a folder, a file or a
shipped name) and renamed options, whose old spelling still works for one release."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from idff.errors import UserError

__all__ = ["RunPath", "run_argument", "shipped_name", "refuse_shipped", "renamed"]


class RunPath(click.Path):
    """A run: an existing folder or file, or a shipped name (``fashion_mnist/idff``) looked
    up by :func:`idff.runs.resolve`, as ``idff.load`` does."""

    name = "run"

    def __init__(self, resolve: bool = True):
        super().__init__()
        self.resolve = resolve

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if not self.resolve or value is None:
            return value
        from idff.runs import resolve

        found = str(resolve(value))
        if ctx is not None and not Path(value).expanduser().exists() and found != value:
            # looked up by name: commands that write into a run refuse it (refuse_shipped)
            ctx.meta.setdefault("idff.shipped", {})[found] = str(value)
        return found


def run_argument(name: str = "run", many: bool = False, resolve: bool = True):
    """The positional run argument, ``RUN`` (``RUN...`` with ``many``) in every command.

    ``resolve=False`` for a command that resolves the name itself (and records it)."""
    return click.argument(name, type=RunPath(resolve), metavar="RUN..." if many else "RUN",
                          nargs=-1 if many else 1, required=True)


def shipped_name(path: str) -> str | None:
    """The shipped name ``path`` was found by, or ``None`` when it was given as a path."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get("idff.shipped", {}).get(str(path))


def refuse_shipped(paths, what: str) -> None:
    """Refuse to write into a run found by name: a shipped run is the reference every user
    samples from, and the name does not say which folder would change."""
    for p in paths:
        name = shipped_name(p)
        if name is not None:
            raise UserError(f"{name} is a shipped run (found in {p}), which {what} does not "
                            f"rewrite; copy it first ('idff export {name} --out my_run') and "
                            "pass my_run.")


def renamed(old: str, new: str):
    """Accept ``old``, the former spelling of the option ``new``, for one release: hidden
    from ``--help``, it prints a one-line deprecation warning and sets ``new``.

    Apply it above the decorator of ``new``."""
    def decorate(fn):
        params = getattr(fn, "__click_params__", [])
        target = next((p for p in params if new in p.opts), None)
        if target is None:
            raise TypeError(f"renamed({old!r}, {new!r}): declare {new} below this decorator")
        dest = "renamed_" + old.lstrip("-").replace("-", "_")
        alias = click.Option([old, dest], type=target.type, multiple=target.multiple,
                             is_flag=target.is_flag, default=None, hidden=True,
                             help=f"Old spelling of {new}.")
        alias.renamed_to = new

        @functools.wraps(fn)
        def command(*args, **kwargs):
            value = kwargs.pop(dest, None)
            if value is not None and value != ():
                from idff.cli.common import typed, warn

                warn(f"{old} is renamed {new}; the old spelling is accepted until the next "
                     "release.")
                if typed(target.name):
                    raise UserError(f"{old} is the old spelling of {new}; give {new} only.")
                kwargs[target.name] = value
            return fn(*args, **kwargs)

        command.__click_params__ = [*params, alias]
        return command

    return decorate
