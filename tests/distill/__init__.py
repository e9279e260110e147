"""Tests of idff.distill."""
