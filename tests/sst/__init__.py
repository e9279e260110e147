"""Tests of idff.sst."""
