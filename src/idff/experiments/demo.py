"""Moved to idff.toy.demo; this path stays for one release."""

from idff.toy.demo import LABELS, METHODS, NFES, format_table, run_demo

__all__ = ["run_demo", "format_table", "METHODS", "NFES", "LABELS"]
