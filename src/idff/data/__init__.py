"""Datasets. Every dataset yields ``(x1, cond)``; ``cond`` is ``None`` when there is none."""
