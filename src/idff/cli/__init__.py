"""Command-line interface (``idff --help``)."""

from idff.cli.main import main

__all__ = ["main"]
