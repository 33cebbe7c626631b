"""Fuzz the file readers with damaged files: Well HDF5 and netCDF written by walrus, then truncated,
byte-flipped, or edited with h5py (attributes and datasets deleted or retyped, absurd metadata,
masks of the wrong shape or type, NaN/inf written into the data).

Contract (fuzz_helpers.assert_contract): every reader returns correct data or raises a WalrusError
naming the file; never a raw h5py/netCDF4/OSError/KeyError/IndexError/TypeError, never NaN handed
back. Where the damage is known to make the file invalid (truncation, NaN, non-float fields),
refusal is required.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings, strategies as st

from fuzz_helpers import assert_contract, examples, flip_bytes, truncate_file

import walrus.io
from walrus.data.well_dataset import WellWindowDataset
from walrus.io.examples import write_example_well_file
from walrus.io.well_check import check_well_file
from walrus.io.well_reader import read_well_file

pytestmark = pytest.mark.filterwarnings("ignore")


# --------------------------------------------------------------------------- base files
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_readers")
    well = write_example_well_file(root / "base.hdf5", n_dims=2, size=8, n_traj=2, n_steps=5)
    original = read_well_file(well)
    nc = walrus.io.to_netcdf(original, root / "base.nc")
    h5_objects, h5_attrs = [], []

    def visit(name, obj):  # (visititems stops at the first callback that returns something)
        h5_objects.append(name)
        h5_attrs.extend((name, k) for k in obj.attrs)

    with h5py.File(well, "r") as f:
        h5_attrs += [("/", k) for k in f.attrs]
        f.visititems(visit)
    nc_vars = []
    with h5py.File(nc, "r") as f:
        f.visititems(lambda name, obj: nc_vars.append(name) if isinstance(obj, h5py.Dataset) else None)
    nc_original = walrus.io.open_dataset(nc)
    return dict(root=root, well=well, nc=nc, original=original, objects=sorted(h5_objects), attrs=sorted(h5_attrs),
                float_ds=sorted(n for n in h5_objects if _is_float_ds(well, n)), nc_original=nc_original,
                nc_vars=sorted(n for n in nc_vars if n in nc_original.variables))


def _is_float_ds(path, name) -> bool:
    with h5py.File(path, "r") as f:
        obj = f[name]
        return isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and obj.size > 0


class Scratch:
    """A private copy of a base file, removed afterwards (hypothesis examples share no tmp_path)."""

    def __init__(self, src: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="walrus_fuzz_"))
        self.path = self.dir / src.name
        shutil.copyfile(src, self.path)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- readers
def _window_samples(path):
    ds = WellWindowDataset(path, n_steps_input=1, n_steps_output=1)
    try:
        return [ds[i] for i in range(len(ds))]
    finally:
        ds.close()


def _engine_well(path):
    with xr.open_dataset(path, engine="well") as ds:
        return ds.load()


WELL_READERS = {
    "read_well_file": read_well_file,
    "engine_well": _engine_well,
    "open_dataset": walrus.io.open_dataset,
    "window_dataset": _window_samples,
    "check_well_file": check_well_file,
}


def _dataset_finite(ds: xr.Dataset) -> None:
    for name, v in ds.variables.items():
        if v.dtype.kind in "fc":
            assert np.isfinite(np.asarray(v.values)).all(), f"{name}: non-finite values returned"


def _same_as(original: xr.Dataset, untouched: set[str] | None):
    """Check of a successful read: finite, and the variables the damage did not touch are unchanged."""

    def check(result):
        if isinstance(result, xr.Dataset):
            _dataset_finite(result)
            for name in untouched or ():
                if name in result.variables and name in original.variables:
                    a, b = result[name], original[name]
                    if a.dims == b.dims:
                        np.testing.assert_array_equal(a.values, b.values, err_msg=f"{name} silently changed")
    return check


def _run_well_readers(path, *, expect=None, untouched=None, original=None):
    outcomes = {}
    for label, reader in WELL_READERS.items():
        out = assert_contract(lambda: reader(path), check=_same_as(original, untouched) if original is not None
                              else None, expect=expect)
        if out.refused:
            assert str(path) in str(out.error) or path.name in str(out.error), \
                f"{label}: the error does not name the file: {out.error}"
        outcomes[label] = out
    return outcomes


# --------------------------------------------------------------------------- Well HDF5
@settings(max_examples=examples(ci=25))
@given(fraction=st.floats(0.0, 0.999))
def test_truncated_well_file_is_refused(base, fraction):
    with Scratch(base["well"]) as path:
        truncate_file(path, fraction)
        _run_well_readers(path, expect="error")


@settings(max_examples=examples(ci=40))
@given(data=st.data())
def test_byte_flipped_well_file_is_refused_or_read_finite(base, data):
    with Scratch(base["well"]) as path:
        flip_bytes(path, data)
        _run_well_readers(path, original=base["original"], untouched=None)


ATTR_VALUES = [
    "junk", b"bytes", -1, 0, 7, 2**40, -(2**40), 1.5, float("nan"), float("inf"), True,
    np.array([1, 2, 3]), np.array(["a", "b"], dtype=h5py.string_dtype()), np.array([], dtype=np.float64),
    np.array([True, False, True]), np.array([[1.0]]),
]
DTYPES = [np.int32, np.int64, np.complex64, np.bool_, np.float16, np.float64, "S4"]


def _mutate(path: Path, base: dict, data) -> tuple[str, set[str], bool]:
    """Apply one h5py edit; returns (what, variables possibly changed, whether the file must be refused)."""
    kind = data.draw(st.sampled_from(["del_attr", "retype_attr", "del_obj", "retype_ds", "reshape_ds", "nan",
                                      "mask", "absurd"]), label="kind")
    everything = set(base["original"].variables)
    with h5py.File(path, "a") as f:
        if kind == "del_attr":
            obj, key = data.draw(st.sampled_from(base["attrs"]), label="attr")
            del f[obj].attrs[key]
            return kind, everything, False
        if kind == "retype_attr":
            obj, key = data.draw(st.sampled_from(base["attrs"]), label="attr")
            f[obj].attrs[key] = data.draw(st.sampled_from(ATTR_VALUES), label="value")
            return kind, everything, False
        if kind == "del_obj":
            name = data.draw(st.sampled_from(base["objects"]), label="object")
            del f[name]
            return kind, everything, False
        if kind in ("retype_ds", "reshape_ds"):
            name = data.draw(st.sampled_from([n for n in base["objects"] if isinstance(f[n], h5py.Dataset)]),
                             label="dataset")
            old = f[name]
            values, attrs = old[()], dict(old.attrs)
            if kind == "retype_ds":
                dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
                values = np.asarray(values).astype(dtype) if np.asarray(values).dtype.kind != "O" else values
            else:
                values = np.asarray(values)
                change = data.draw(st.sampled_from(["drop", "add", "shorter", "scalar"]), label="shape")
                values = (values[..., 0] if change == "drop" and values.ndim else values[..., None] if change == "add"
                          else values[..., :-1] if change == "shorter" and values.ndim and values.shape[-1] > 1
                          else np.asarray(values.reshape(-1)[0]) if values.size else values)
            del f[name]
            new = f.create_dataset(name, data=values)
            for k, v in attrs.items():
                new.attrs[k] = v
            must = (kind == "retype_ds" and np.dtype(dtype).kind != "f"
                    and any(name.startswith(g) for g in ("t0_fields/", "t1_fields/", "t2_fields/")))
            return kind, everything, must
        if kind == "nan":
            name = data.draw(st.sampled_from(base["float_ds"]), label="dataset")
            ds = f[name]
            flat = np.asarray(ds[()]).reshape(-1).copy()
            flat[data.draw(st.integers(0, flat.size - 1), label="index")] = data.draw(
                st.sampled_from([np.nan, np.inf, -np.inf]), label="value")
            ds[...] = flat.reshape(ds.shape)
            return kind, everything, True
        if kind == "mask":
            masks = [n for n in base["objects"] if n.endswith("/mask")]
            name = data.draw(st.sampled_from(masks), label="mask")
            old = np.asarray(f[name][()])
            new = data.draw(st.sampled_from([
                old[:-1], np.concatenate([old, old]), old.astype(np.float32), old.astype("S1"),
                np.stack([old, old]), np.asarray(True), old.astype(np.int8)]), label="new mask")
            del f[name]
            f.create_dataset(name, data=new)
            must = new.shape != old.shape or new.dtype.kind not in "biu"
            return kind, everything, must
        key = data.draw(st.sampled_from(["n_trajectories", "n_spatial_dims"]), label="key")
        value = data.draw(st.one_of(st.integers(-(2**62), 2**62), st.sampled_from([0, 1, 3, 4, 2**31, -1])),
                          label="value")
        f.attrs[key] = np.int64(value)
        must = value != {"n_trajectories": 2, "n_spatial_dims": 2}[key]
        return kind, everything, must


@settings(max_examples=examples(ci=60))
@given(data=st.data())
def test_edited_well_file_is_refused_or_read_correctly(base, data):
    with Scratch(base["well"]) as path:
        kind, touched, must_refuse = _mutate(path, base, data)
        untouched = set(base["original"].variables) - touched
        outcomes = _run_well_readers(path, expect="error" if must_refuse else None, untouched=untouched,
                                     original=base["original"])
        # the eager readers and the validator agree on whether the file is valid
        assert outcomes["read_well_file"].ok == outcomes["open_dataset"].ok == outcomes["engine_well"].ok, kind


def test_nan_in_a_field_names_the_file_and_the_dataset(base):
    with Scratch(base["well"]) as path:
        with h5py.File(path, "a") as f:
            f["t0_fields/density"][0, 0, 0, 0] = np.nan
        for label, reader in WELL_READERS.items():
            if label == "check_well_file":  # the schema check reads no field data
                continue
            out = assert_contract(lambda: reader(path), expect="error")
            assert "density" in str(out.error) and "non-finite" in str(out.error), (label, out.error)
        with xr.open_dataset(path, engine="well") as lazy:  # the backend stays lazy: opening reads no field data
            assert lazy["density"].shape == (2, 5, 8, 8)


def test_mask_of_the_wrong_shape_or_type_is_refused(base):
    for new in (np.zeros(3, bool), np.zeros((8, 8), bool), np.zeros(8, np.float32), np.array([b"ab"] * 8)):
        with Scratch(base["well"]) as path:
            with h5py.File(path, "a") as f:
                name = next(n for n in f["boundary_conditions"])
                del f[f"boundary_conditions/{name}/mask"]
                f[f"boundary_conditions/{name}/mask"] = new
            for reader in WELL_READERS.values():
                out = assert_contract(lambda: reader(path), expect="error")
                assert "mask" in str(out.error)


def test_absurd_trajectory_counts_are_refused(base):
    for value in (-1, 2**40, 3):
        with Scratch(base["well"]) as path:
            with h5py.File(path, "a") as f:
                f.attrs["n_trajectories"] = np.int64(value)
            for reader in WELL_READERS.values():
                out = assert_contract(lambda: reader(path), expect="error")
                assert "n_trajectories" in str(out.error) or "shape rule" in str(out.error)


# --------------------------------------------------------------------------- netCDF
def _nc_check(original):
    def check(result):
        _dataset_finite(result)
        assert set(result.variables) == set(original.variables)
    return check


@settings(max_examples=examples(ci=15))
@given(fraction=st.floats(0.0, 0.999))
def test_truncated_netcdf_is_refused(base, fraction):
    with Scratch(base["nc"]) as path:
        truncate_file(path, fraction)
        out = assert_contract(lambda: walrus.io.open_dataset(path), expect="error")
        assert path.name in str(out.error)


@settings(max_examples=examples(ci=20))
@given(data=st.data())
def test_byte_flipped_netcdf_is_refused_or_read_finite(base, data):
    with Scratch(base["nc"]) as path:
        flip_bytes(path, data)
        assert_contract(lambda: walrus.io.open_dataset(path), check=lambda r: _dataset_finite(r))


@settings(max_examples=examples(ci=15))
@given(data=st.data())
def test_edited_netcdf_is_refused_or_read(base, data):
    with Scratch(base["nc"]) as path:
        name = data.draw(st.sampled_from(base["nc_vars"]), label="variable")
        kind = data.draw(st.sampled_from(["nan", "del_attrs", "units", "fill"]), label="kind")
        must = False
        with h5py.File(path, "a") as f:
            ds = f[name]
            if kind == "nan" and ds.dtype.kind == "f" and ds.size:
                flat = np.asarray(ds[()]).reshape(-1).copy()
                flat[data.draw(st.integers(0, flat.size - 1), label="index")] = np.nan
                ds[...] = flat.reshape(ds.shape)
                must = True
            elif kind == "del_attrs":
                for k in [k for k in ds.attrs if not k.startswith("_") and k not in ("DIMENSION_LIST", "CLASS",
                                                                                     "NAME", "REFERENCE_LIST")]:
                    del ds.attrs[k]
            elif kind == "units":
                ds.attrs["units"] = data.draw(st.sampled_from(["no such unit", "m s-1 kg ^", "", "1e400 m"]),
                                              label="units")
            elif kind == "fill" and ds.dtype.kind == "f" and ds.size:  # a fill value equal to a datum decodes to NaN
                value = np.asarray(ds[()]).reshape(-1)[0]
                if "_FillValue" in ds.attrs:
                    del ds.attrs["_FillValue"]
                ds.attrs.create("_FillValue", value, dtype=ds.dtype)
                must = True
        assert_contract(lambda: walrus.io.open_dataset(path), check=_nc_check(base["nc_original"]),
                        expect="error" if must else None)


def test_foreign_files_are_refused(base, tmp_path):
    (tmp_path / "text.nc").write_text("just some text\n" * 10)
    (tmp_path / "empty.hdf5").write_bytes(b"")
    with h5py.File(tmp_path / "foreign.hdf5", "w") as f:
        f["data"] = np.arange(3.0)
    for p in tmp_path.iterdir():
        out = assert_contract(lambda: walrus.io.open_dataset(p), expect=None if p.name == "foreign.hdf5" else "error")
        assert out.ok or p.name in str(out.error)
        if p.suffix == ".hdf5":
            for label, reader in WELL_READERS.items():
                if label != "open_dataset":  # a plain HDF5 file is readable as netCDF-4
                    assert_contract(lambda: reader(p), expect="error")
