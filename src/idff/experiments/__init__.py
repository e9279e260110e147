"""End-to-end pipelines: none left here. Toys and images are the packages idff.toy and
idff.images, the forecasting tasks idff.sst, idff.kolmogorov and idff.md; their old modules
here re-export them for one release."""
