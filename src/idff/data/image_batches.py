"""Moved to idff.images.batches; this path stays for one release."""

from idff.images.batches import ImageBatches, build_image_data

__all__ = ["ImageBatches", "build_image_data"]
