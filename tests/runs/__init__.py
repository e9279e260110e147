"""Tests of idff.runs and what surrounds a run: idff.load, the Python API, file writes, locks."""
