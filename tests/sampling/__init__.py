"""Tests of idff.sampling."""
