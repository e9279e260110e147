"""Tests of idff.cli."""
