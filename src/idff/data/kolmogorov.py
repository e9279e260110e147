"""Moved to idff.kolmogorov.data; this path stays for one release."""

from idff.kolmogorov.data import (
    SIZES,
    SPLITS,
    KolmogorovDataSpec,
    KolmogorovWindows,
    default_root,
    generate,
    load_manifest,
    load_split,
)

__all__ = ["KolmogorovDataSpec", "SIZES", "default_root", "generate", "load_split",
           "load_manifest", "KolmogorovWindows", "SPLITS"]
