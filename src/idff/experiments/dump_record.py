"""Moved to idff.images.dump_record; this path stays for one release."""

from idff.images.dump_record import RECORD, claim_dump_folder, dump_settings

__all__ = ["RECORD", "dump_settings", "claim_dump_folder"]
