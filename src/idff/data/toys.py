"""Moved to idff.toy.data; this path stays for one release."""

from idff.toy.data import TOYS, load_vectors, sample_toy, support_fraction

__all__ = ["TOYS", "sample_toy", "load_vectors", "support_fraction"]
