"""Tests of idff.toy."""
