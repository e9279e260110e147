"""Moved to idff.images.generate_record; this path stays for one release."""

from idff.images.generate_record import source_record, upgrade_record

__all__ = ["source_record", "upgrade_record"]
