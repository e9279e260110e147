"""Helpers shared by the CLI modules."""

import click


def fail(e: Exception) -> None:
    """Turn a user-facing error into a clean CLI message (exit code 1, no traceback)."""
    raise click.ClickException(str(e)) from e
