"""End-to-end experiments built from the library: the toy and image pipelines (the forecasting
tasks are the packages idff.sst, idff.kolmogorov and idff.md; their old modules here
re-export them for one release)."""
