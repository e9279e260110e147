"""Helpers shared by the CLI modules: the one place user errors become CLI messages."""

from __future__ import annotations

import click

from idff.errors import TrainingInterrupted, UserError

__all__ = ["CLIError", "USER_ERRORS", "fail", "to_cli_error", "device_option", "warn"]

#: exceptions that describe a bad input (a path, an option, a file's content), not a bug.
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    FloatingPointError,
)


class CLIError(click.ClickException):
    """A one-line ``Error: ...`` on stderr and exit code 2 (130/143 after an interrupt)."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(" ".join(str(message).split()))
        self.exit_code = exit_code


def to_cli_error(e: BaseException) -> CLIError:
    """The CLI form of a user error (see :data:`USER_ERRORS`)."""
    if isinstance(e, TrainingInterrupted):
        return CLIError(str(e), exit_code=128 + int(e.signum))
    msg = str(e)
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        msg = f"{e.filename}: {e.strerror}."
    return CLIError(msg or type(e).__name__)


def fail(e: Exception) -> None:
    """Turn a user-facing error into a clean CLI message (exit code 2, no traceback)."""
    raise to_cli_error(e) from e


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr."""
    click.echo("warning: " + " ".join(message.split()), err=True)


def device_option(f):
    """``--device`` for every command that runs a network."""
    return click.option("--device", default="cpu",
                        help="Where the network runs: cpu, cuda, cuda:1, mps.")(f)
