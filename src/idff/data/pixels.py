"""Moved to idff.images.pixels; this path stays for one release."""

from idff.images.pixels import UINT16_MODES, to_8bit

__all__ = ["to_8bit", "UINT16_MODES"]
