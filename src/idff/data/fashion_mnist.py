"""Moved to idff.images.fashion_mnist; this path stays for one release."""

from idff.images.fashion_mnist import (
    ENV_VAR,
    FILES,
    SYSTEM_DIR,
    find_fashion_mnist,
    load_fashion_mnist,
    read_idx,
    search_roots,
)

__all__ = ["ENV_VAR", "SYSTEM_DIR", "FILES", "read_idx", "search_roots", "find_fashion_mnist",
           "load_fashion_mnist"]
