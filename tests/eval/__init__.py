"""Tests of idff.eval."""
