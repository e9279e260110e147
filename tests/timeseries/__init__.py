"""Tests of idff.timeseries."""
