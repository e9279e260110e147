"""Tests of idff.kolmogorov."""
