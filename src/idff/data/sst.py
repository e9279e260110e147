"""Moved to idff.sst.data; this path stays for one release.

make_cond_channels, which the Kolmogorov task shares, is in idff.timeseries.gridded.
"""

from idff.sst.data import (
    OISST_URL,
    Box,
    SSTCube,
    SSTWindows,
    cut_patches,
    download_oisst,
    eofs_example_path,
    normalise,
    open_sst,
    year_split,
)
from idff.timeseries.gridded import make_cond_channels

__all__ = ["OISST_URL", "Box", "SSTCube", "open_sst", "download_oisst", "cut_patches",
           "year_split", "normalise", "SSTWindows", "eofs_example_path", "make_cond_channels"]
