"""Tests of the core math: the modules at the top of idff (path, coupling, objective, ...)."""
