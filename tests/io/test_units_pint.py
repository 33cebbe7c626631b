"""Units through pint-xarray: one CF registry, set up once and quietly; conversion via ``ds.pint.to``."""

import os
import subprocess
import sys
import textwrap

import cf_xarray.units
import numpy as np
import pint
import pytest
import xarray as xr

from walrus.errors import UnitError
from walrus.io import convert_units, dequantify, quantify, read_well_file, to_netcdf
from walrus.io.examples import write_example_well_file
from walrus.units import ureg

# Every warning shown, and every log record of WARNING or above from any logger printed, so that
# pint's "Redefining ..." records (logging, not warnings) and UserWarnings both reach stderr.
_LOUD = """
import logging, sys, warnings
warnings.simplefilter("always")
_h = logging.StreamHandler(sys.stderr)
_h.setLevel(logging.WARNING)
logging.getLogger().addHandler(_h)
"""

_SCENARIOS = {
    "import walrus, then its own reader": """
        import walrus, walrus.io
        assert "torch" not in sys.modules
        ds = walrus.io.open_dataset(NC, quantify_units=True)
        ds.walrus.convert({"velocity": "km h-1", "x": "cm"}).walrus.dequantify()
        walrus.io.open_dataset(WELL, quantify_units=True)
        """,
    "xarray engine=well first": """
        import xarray as xr
        xr.open_dataset(WELL, engine="well").load()
        xr.open_dataset(NC).load()
        """,
    "plain xarray on a walrus netCDF first": """
        import xarray as xr
        xr.open_dataset(NC).load()
        """,
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    d = tmp_path_factory.mktemp("written")
    well = write_example_well_file(d / "tiny.hdf5", n_dims=2, size=8, n_traj=1, n_steps=3)
    nc = to_netcdf(read_well_file(well), d / "tiny.nc")
    return str(well), str(nc)


@pytest.mark.parametrize("scenario", list(_SCENARIOS))
def test_importing_and_opening_prints_no_pint_warnings(scenario, written):
    """A fresh interpreter (the unit registry is built at first import) stays silent."""
    well, nc = written
    code = _LOUD + f"WELL, NC = {well!r}, {nc!r}\n" + textwrap.dedent(_SCENARIOS[scenario])
    # Dedalus (an optional adapter) registers an xarray backend that warns about threading
    # unless OMP_NUM_THREADS=1; that advice is Dedalus's, not a unit warning.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout + res.stderr
    assert "Redefining" not in out
    assert res.stderr == "", res.stderr[-2000:]


def test_one_cf_registry_ready_for_pint_xarray():
    assert ureg is cf_xarray.units.units
    assert ureg.force_ndarray_like
    assert pint.get_application_registry().get() is ureg
    assert f"{ureg.Unit('m/s'):cf}" == "m s-1"


def _ds():
    return xr.Dataset(
        {"velocity": (("time", "x"), np.ones((2, 3), np.float32), {"units": "km s-1", "long_name": "v"}),
         "temperature": (("time", "x"), np.full((2, 3), 20.0, np.float32), {"units": "degC"}),
         "count": (("time",), np.array([1, 2]), {"units": "m"}),
         "label": (("x",), np.arange(3), {"units": "frobnitz"})},
        coords={"time": ("time", [0.0, 1.0], {"units": "days since 2000-01-01"}),
                "x": ("x", np.arange(3.0), {"units": "km"})})


def test_conversion_goes_through_pint_xarray_and_keeps_the_rest():
    out = convert_units(_ds(), {"velocity": "m s-1", "temperature": "K", "x": "m", "count": "km"})
    np.testing.assert_array_equal(out["velocity"].values, np.full((2, 3), 1000.0, np.float32))
    assert out["velocity"].dtype == np.float32 and out["velocity"].attrs == {"long_name": "v", "units": "m s-1"}
    np.testing.assert_allclose(out["temperature"].values, 293.15, rtol=1e-6)  # offset units
    assert out["temperature"].dtype == np.float32 and out["temperature"].attrs["units"] == "K"
    # an index coordinate (pint-xarray's PintIndex) converts too and stays the index
    np.testing.assert_array_equal(out.indexes["x"].values, [0.0, 1000.0, 2000.0])
    assert out["x"].attrs["units"] == "m"
    # integers are not truncated to their old dtype
    np.testing.assert_allclose(out["count"].values, [0.001, 0.002])
    # variables not asked for keep their attributes verbatim, even units pint cannot parse
    assert out["label"].attrs["units"] == "frobnitz"
    assert out["time"].attrs["units"] == "days since 2000-01-01"


def test_quantify_and_dequantify_use_pint_xarray():
    ds = _ds().drop_vars(["label", "time"])
    q = quantify(ds)
    assert isinstance(q["velocity"].data, pint.Quantity) and q["velocity"].data.units == ureg.Unit("km/s")
    assert type(q.xindexes["x"]).__name__ == "PintIndex"
    back = dequantify(q.pint.to({"velocity": "m/s"}))
    assert back["velocity"].attrs["units"] == "m s-1" and back["x"].attrs["units"] == "km"
    assert back["temperature"].attrs["units"] == f"{ureg.Unit('degC'):cf}"


@pytest.mark.parametrize("units, words", [
    ({"velocity": "kg"}, ["velocity", "incompatible units", "'kg'", "km s-1"]),
    ({"x": "s"}, ["x", "incompatible units", "'s'"]),
    ({"label": "m"}, ["label", "cannot parse units", "frobnitz"]),
])
def test_pint_errors_become_walrus_errors_naming_the_field(units, words):
    with pytest.raises(UnitError) as e:
        convert_units(_ds(), units)
    for w in words:
        assert w in str(e.value)


def test_non_numeric_data_with_units_is_a_unit_error():
    ds = xr.Dataset({"name": (("x",), np.array(["a", "b"]), {"units": "m"})})
    with pytest.raises(UnitError, match="name: cannot convert"):
        convert_units(ds, {"name": "mm"})


def test_quantify_error_names_the_variable():
    with pytest.raises(UnitError, match="label: cannot parse units"):
        quantify(_ds())
