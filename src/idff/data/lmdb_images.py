"""Moved to idff.images.lmdb_images; this path stays for one release."""

from idff.images.lmdb_images import LAYOUTS, LMDBImages, decode_image, write_lmdb

__all__ = ["LMDBImages", "LAYOUTS", "decode_image", "write_lmdb"]
