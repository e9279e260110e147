"""Tests of idff.md."""
