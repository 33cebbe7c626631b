"""Unit-aware xarray I/O: the ds.walrus accessor, netCDF round trips, unit conversion, atomic writes."""

import os

import numpy as np
import pytest
import xarray as xr

from walrus.errors import BoundaryError, UnitError, WellFormatError
from walrus.io import convert_units, open_dataset, read_well_file, to_netcdf
from walrus.units import ureg


def _velocity_dataset():
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {"velocity": (("time", "x", "component_i"), rng.standard_normal((3, 5, 1)).astype(np.float32),
                      {"units": "km s-1"}),
         "density": (("time", "x"), rng.random((3, 5)), {"units": "g cm-3"})},
        coords={"time": ("time", [0.0, 0.5, 1.0], {"units": "s"}), "x": ("x", np.arange(5.0), {"units": "km"}),
                "component_i": ["x"]},
        attrs={"bc_x": "OPEN OPEN"})


def test_netcdf_round_trip_is_exact_with_units(well_file, tmp_path):
    ds = read_well_file(well_file)
    path = ds.walrus.to_netcdf(tmp_path / "tiny.nc")
    back = open_dataset(path)
    xr.testing.assert_identical(back, ds)
    assert back["velocity"].dtype == np.float32 and back["velocity"].attrs["units"] == "m s-1"
    # a netCDF written by walrus is readable by plain xarray with CF units
    with xr.open_dataset(path, decode_times=False) as raw:
        assert raw["density"].attrs["units"] == "kg m-3"


def test_quantified_dataset_writes_cf_units(tmp_path):
    q = _velocity_dataset().walrus.quantify()
    assert str(q["velocity"].data.units) == "kilometer / second"
    assert q["x"].attrs.get("units") is None  # units moved into the pint index
    path = to_netcdf(q, tmp_path / "q.nc")
    with xr.open_dataset(path, decode_times=False) as raw:
        assert raw["velocity"].attrs["units"] == "km s-1" and raw["density"].attrs["units"] == "g cm-3"
        assert raw["x"].attrs["units"] == "km"
    back = open_dataset(path, quantify_units=True)
    assert back["velocity"].data.units == ureg.Unit("km/s")
    np.testing.assert_array_equal(back["velocity"].data.magnitude, q["velocity"].data.magnitude)
    assert back.walrus.dequantify()["velocity"].attrs["units"] == "km s-1"


def test_units_and_conversion():
    ds = _velocity_dataset()
    assert ds.walrus.units == {"velocity": "km s-1", "density": "g cm-3", "time": "s", "x": "km"}
    conv = ds.walrus.convert({"velocity": "m/s", "x": "m"})
    assert conv["velocity"].attrs["units"] == "m s-1" and conv["velocity"].dtype == np.float32
    np.testing.assert_allclose(conv["velocity"].values, ds["velocity"].values * 1000, rtol=1e-6)
    np.testing.assert_array_equal(conv["x"].values, ds["x"].values * 1000)
    model = ds.walrus.to_model_units()
    assert model["velocity"].attrs["units"] == "m s-1" and model["density"].attrs["units"] == "kg m-3"
    np.testing.assert_allclose(model["density"].values, ds["density"].values * 1000, rtol=1e-12)
    q = ds.walrus.quantify().walrus.convert({"velocity": "m/s"})  # quantified in, quantified out
    assert q["velocity"].data.units == ureg.Unit("m/s")


@pytest.mark.parametrize("units, words", [
    ({"velocity": "kg"}, ["velocity", "incompatible units", "'kg'"]),
    ({"pressure": "Pa"}, ["pressure", "no such variable"]),
])
def test_conversion_errors_name_the_variable(units, words):
    with pytest.raises(UnitError) as info:
        convert_units(_velocity_dataset(), units)
    for w in words:
        assert w in str(info.value)


def test_conversion_without_units_refuses_to_guess():
    ds = _velocity_dataset()
    ds["velocity"].attrs.pop("units")
    with pytest.raises(UnitError, match="velocity: variable has no units"):
        ds.walrus.convert({"velocity": "m/s"})


def test_unparsable_units_attribute():
    ds = _velocity_dataset()
    ds["density"].attrs["units"] = "grams per frobnitz"
    with pytest.raises(UnitError, match="density: cannot parse units"):
        ds.walrus.quantify()


def test_boundary_accessors():
    ds = _velocity_dataset()
    assert ds.walrus.spatial_dims == ["x"] and ds.walrus.boundary_conditions == {"x": (1, 1)}
    ds2 = ds.walrus.with_boundary_conditions({"x": ("WALL", "OPEN")})
    assert ds2.attrs["bc_x"] == "WALL OPEN"
    with pytest.raises(BoundaryError, match="axis 'x'.*'slippery'"):
        ds.walrus.with_boundary_conditions({"x": "slippery"})


def test_interrupted_netcdf_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.nc"
    ds = _velocity_dataset()
    ds.walrus.to_netcdf(target)
    before = target.read_bytes()
    real = xr.Dataset.to_netcdf

    def half_then_fail(self, path, *args, **kwargs):
        real(self.isel(time=[0]), path, *args, **kwargs)  # something lands on disk ...
        raise KeyboardInterrupt  # ... then the writer dies

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        ds.walrus.to_netcdf(target)
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["out.nc"]
    with pytest.raises(KeyboardInterrupt):
        ds.walrus.to_netcdf(tmp_path / "new.nc")
    assert os.listdir(tmp_path) == ["out.nc"]


def test_open_dataset_errors(tmp_path):
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WellFormatError, match="junk.nc"):
        open_dataset(junk)
    with pytest.raises(WellFormatError, match="no such file"):
        open_dataset(tmp_path / "absent.nc")


def test_open_dataset_reads_well_files(well_file):
    xr.testing.assert_identical(open_dataset(well_file), read_well_file(well_file))
