"""Moved to idff.toy.demo_cache; this path stays for one release."""

from idff.toy.demo_cache import MARKER, claim_demo_folder, demo_settings, finish_run, prepare_run

__all__ = ["MARKER", "claim_demo_folder", "demo_settings", "prepare_run", "finish_run"]
