"""Unit-aware I/O: xarray + pint (``ds.walrus``), netCDF, and The Well's HDF5 format. No torch.

Modules, lowest first: ``schema`` (the layout's names), ``quantities`` (pint <-> CF units),
``well_check`` (open + validate a Well file), ``well_reader``, ``well_writer``, ``well_stats``,
``xr`` (netCDF, ``open_dataset`` and the ``ds.walrus`` accessor), ``well_backend`` (the
``engine="well"`` xarray backend) and ``examples`` (synthetic files).
"""

from walrus.io.quantities import convert_units, dequantify, quantify, units_of
from walrus.io.well_check import check_well_file
from walrus.io.well_reader import read_well_file
from walrus.io.well_stats import compute_stats, write_dataset_stats
from walrus.io.well_writer import write_dataset, write_well_file
from walrus.io.xr import WalrusAccessor, open_dataset, to_netcdf

__all__ = ["WalrusAccessor", "convert_units", "dequantify", "open_dataset", "quantify", "to_netcdf", "units_of",
           "check_well_file", "compute_stats", "read_well_file", "write_dataset", "write_dataset_stats",
           "write_well_file"]
