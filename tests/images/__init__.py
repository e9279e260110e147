"""Tests of idff.images."""
