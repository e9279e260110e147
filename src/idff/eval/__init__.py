"""Evaluation: FID and classifier Fréchet distances, likelihood in bits/dim, NFE benchmarks.

Submodules are imported on demand; :mod:`idff.eval.likelihood` is math only (fields and
sampler), the others read data and checkpoints.
"""
