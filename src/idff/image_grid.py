"""Moved to idff.images.grid; this path stays for one release."""

from idff.images.grid import save_grid

__all__ = ["save_grid"]
