"""Tests of idff.models."""
