"""Moved to idff.images.generate_plan; this path stays for one release."""

from idff.images.generate_plan import check_disk_room, pending, present_indices

__all__ = ["present_indices", "pending", "check_disk_room"]
