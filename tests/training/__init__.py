"""Tests of idff.training."""
