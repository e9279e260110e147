"""Moved to idff.images.sets; this path stays for one release."""

from idff.images.sets import dump_real_images, generate_images

__all__ = ["dump_real_images", "generate_images"]
