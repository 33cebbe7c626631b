"""Unit-aware I/O: xarray + pint (``ds.walrus``), netCDF, and The Well's HDF5 format."""

from walrus.io.xr import (WalrusAccessor, convert_units, dequantify, open_dataset, quantify, to_netcdf,
                          units_of)
from walrus.io.well import (check_well_file, compute_stats, read_well_file, write_dataset, write_dataset_stats,
                            write_well_file)

__all__ = ["WalrusAccessor", "convert_units", "dequantify", "open_dataset", "quantify", "to_netcdf", "units_of",
           "check_well_file", "compute_stats", "read_well_file", "write_dataset", "write_dataset_stats",
           "write_well_file"]
