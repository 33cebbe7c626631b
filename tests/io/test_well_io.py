"""The Well's HDF5: our files follow the schema, load in the_well.data.WellDataset with the same
numbers our reader gives, round-trip exactly with units, and bad input fails clearly."""

import itertools
import os

import h5py
import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from walrus.errors import BoundaryError, FieldError, ShapeError, UnitError, WalrusError, WellFormatError
from walrus.io import check_well_file, read_well_file, write_dataset, write_dataset_stats, write_well_file
from walrus.io.examples import write_example_dataset, write_example_well_file
from walrus.boundaries import OPEN, PERIODIC, WALL
from walrus.units import ureg

import the_well.data as well_data  # noqa: E402  (a dev dependency: a missing install must fail, not skip)


# ------------------------------------------------------------------ schema (WELL_FORMAT.md §1-2)
def _assert_well_schema(path):
    """The checker's rules, written from WELL_FORMAT.md, plus the traps its docs get wrong."""
    with h5py.File(path, "r") as f:
        for key in ("dataset_name", "grid_type", "n_spatial_dims", "n_trajectories", "simulation_parameters"):
            assert key in f.attrs, key
        assert isinstance(f.attrs["dataset_name"], str) and isinstance(f.attrs["grid_type"], str)
        assert isinstance(f.attrs["n_trajectories"], (int, np.integer))
        D, B = int(f.attrs["n_spatial_dims"]), int(f.attrs["n_trajectories"])
        for p in f.attrs["simulation_parameters"]:
            assert p in f.attrs and p in f["scalars"] and f["scalars"][p].shape == ()  # constant scalars are 0-d
        dims = f["dimensions"]
        axes = list(dims.attrs["spatial_dims"])
        assert isinstance(dims.attrs["spatial_dims"], np.ndarray) and len(axes) == D
        assert dims["time"].attrs["time_varying"] is not None and bool(dims["time"].attrs["time_varying"])
        assert isinstance(dims["time"].attrs["sample_varying"], np.bool_)
        T = dims["time"].shape[-1]
        for a in axes:
            assert dims[a].ndim == 1
            assert not dims[a].attrs["sample_varying"] and not dims[a].attrs["time_varying"]
        for order in range(3):
            g = f[f"t{order}_fields"]  # all three groups exist
            assert isinstance(g.attrs["field_names"], np.ndarray)
            for name in g.attrs["field_names"]:
                ds = g[name]
                dv = ds.attrs["dim_varying"]
                assert isinstance(dv, np.ndarray) and len(dv) == D and isinstance(dv[0], np.bool_)
                shape = ((B,) if ds.attrs["sample_varying"] else ()) + ((T,) if ds.attrs["time_varying"] else ()) \
                    + tuple(dims[a].shape[-1] for a, v in zip(axes, dv) if v) + (D,) * order
                assert ds.shape == shape, (name, ds.shape, shape)
                if order == 2:
                    assert "symmetric" in ds.attrs and "antisymmetric" in ds.attrs
        for name in f["scalars"].attrs["field_names"]:
            ds = f["scalars"][name]
            assert ds.ndim == int(ds.attrs["sample_varying"]) + int(ds.attrs["time_varying"])
        for key, g in f["boundary_conditions"].items():
            assert g.attrs["bc_type"] in ("WALL", "OPEN", "PERIODIC")  # upper case
            assert isinstance(g.attrs["associated_dims"], np.ndarray)  # a list, not a plain string
            assert key == f"{g.attrs['associated_dims'][0]}_{g.attrs['bc_type'].lower()}"
            assert list(g.keys()) == ["mask"]  # no `values` dataset
            assert g["mask"].dtype == bool and g["mask"][()].any()
            for flag in ("sample_varying", "time_varying"):
                assert isinstance(g.attrs[flag], np.bool_)
            assert "associated_fields" in g.attrs


def test_files_follow_the_well_schema(well_file):
    _assert_well_schema(well_file)
    check_well_file(well_file)


def _expected_sample(ds: xr.Dataset, traj: int, t0: int, n_in: int, n_out: int, dt: int = 1):
    """What The Well's loader should return, built from our reader's Dataset."""
    axes = ds.attrs["spatial_dims"].split()
    window = slice(t0, t0 + (n_in + n_out) * dt, dt)
    var, const = [], []
    for order in range(3):
        for name, v in ds.data_vars.items():
            rank = sum(d.startswith("component") for d in v.dims)
            if rank != order or not any(a in v.dims for a in axes):
                continue
            x = v.isel(sample=traj) if "sample" in v.dims else v
            x = x.transpose(*[d for d in ("time", *axes, "component_i", "component_j") if d in x.dims])
            if "time" in x.dims:
                var.append(x.isel(time=window).values.reshape(x.isel(time=window).shape[: 1 + len(axes)] + (-1,)))
            else:
                const.append(x.values.reshape(x.shape[: len(axes)] + (-1,)))
    var = np.concatenate(var, -1)
    codes = [[{"WALL": WALL, "OPEN": OPEN, "PERIODIC": PERIODIC}[s] for s in ds.attrs[f"bc_{a}"].split()] for a in axes]
    time = ds["time"].values[window]
    time = time - time.min()
    return {"input_fields": var[:n_in], "output_fields": var[n_in:], "constant_fields": np.concatenate(const, -1),
            "input_scalars": ds["forcing"].values[window][:n_in, None],
            "output_scalars": ds["forcing"].values[window][n_in:, None],
            "constant_scalars": np.array([ds["alpha"].item()]),
            "boundary_conditions": np.array(codes, dtype=np.float32),
            "space_grid": np.stack(np.meshgrid(*[ds[a].values for a in axes], indexing="ij"), -1),
            "input_time_grid": time[:n_in], "output_time_grid": time[n_in:]}


@pytest.mark.parametrize("n_in, n_out, stride", [(4, 1, 1), (2, 3, 2)])
def test_the_well_loads_our_files_and_agrees_with_our_reader(well_file, n_in, n_out, stride):
    ours = read_well_file(well_file)
    theirs = well_data.WellDataset(path=str(well_file.parent), n_steps_input=n_in, n_steps_output=n_out,
                                   min_dt_stride=stride, max_dt_stride=stride)
    D = int(theirs.metadata.n_spatial_dims)
    axes = ["x", "y", "z"][:D]
    windows = 12 - stride * (n_in + n_out - 1)
    assert len(theirs) == 2 * windows
    md = theirs.metadata
    assert md.dataset_name == "tiny_well" and md.spatial_resolution == ours["density"].shape[2:]
    assert md.field_names[0] == ["density", "pressure"]
    assert md.field_names[1] == [f"velocity_{a}" for a in axes]
    assert md.field_names[2] == [f"C_{a}{b}" for a, b in itertools.product(axes, repeat=2)]
    assert md.constant_field_names[0] == ["mask", "speed_of_sound"]
    assert md.scalar_names == ["forcing"] and md.constant_scalar_names == ["alpha"]
    for index in (0, windows - 1, windows, 2 * windows - 1):
        got = theirs[index]
        want = _expected_sample(ours, index // windows, index % windows, n_in, n_out, stride)
        assert set(got) == set(want)
        for key, value in want.items():
            np.testing.assert_array_equal(got[key].numpy(), value, err_msg=key)


def test_boundary_codes_as_the_well_reads_them(tmp_path):
    p = write_example_well_file(tmp_path / "b.hdf5", n_dims=3, size=8)
    got = well_data.WellDataset(path=str(p.parent), n_steps_input=1, n_steps_output=1)[0]["boundary_conditions"]
    assert got.tolist() == [[PERIODIC, PERIODIC], [WALL, OPEN], [OPEN, OPEN]]
    assert read_well_file(p).attrs["bc_y"] == "WALL OPEN"


def test_well_round_trip_is_exact_with_units(well_file, tmp_path):
    ds = read_well_file(well_file)
    assert ds["velocity"].attrs["units"] == "m s-1" and ds["density"].attrs["units"] == "kg m-3"
    assert ds["time"].attrs["units"] == "s" and ds["x"].attrs["units"] == "m"
    assert ds["velocity"].dtype == np.float32
    again = read_well_file(write_dataset(ds, tmp_path / "again.hdf5"))
    xr.testing.assert_identical(ds, again)
    for name in ds.variables:
        assert ds[name].attrs == again[name].attrs
    q = read_well_file(well_file, quantify=True)
    assert str(q["velocity"].data.units) == "meter / second"


def test_hand_built_quantified_dataset_to_well_and_back(tmp_path):
    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {"velocity": (("time", "x", "y", "component_i"), rng.standard_normal((5, 4, 6, 2))),
         "density": (("time", "x", "y"), rng.random((5, 4, 6))),
         "speed_of_sound": (("x", "y"), rng.random((4, 6))),
         "gamma": ((), 1.4)},
        coords={"time": np.linspace(0, 1, 5), "x": np.arange(4.0), "y": np.arange(6.0) / 6,
                "component_i": ["x", "y"]},
        attrs={"dataset_name": "hand", "bc_x": "PERIODIC PERIODIC", "bc_y": "WALL OPEN"})
    ds = ds.pint.quantify({"velocity": "km/s", "density": "g/cm^3", "speed_of_sound": "m/s", "time": "s",
                           "x": "m", "y": "m"}, unit_registry=ureg)
    path = ds.walrus.to_well(tmp_path / "hand.hdf5")
    back = read_well_file(path)
    assert back["velocity"].attrs["units"] == "km s-1" and back["density"].attrs["units"] == "g cm-3"
    assert back.sizes["sample"] == 1  # a single trajectory gets a sample axis of 1
    plain = ds.pint.dequantify()
    np.testing.assert_array_equal(back["velocity"].isel(sample=0).values, plain["velocity"].values)
    np.testing.assert_array_equal(back["speed_of_sound"].values, plain["speed_of_sound"].values)
    assert back["gamma"].item() == 1.4 and back.attrs["bc_y"] == "WALL OPEN"
    _assert_well_schema(path)
    with h5py.File(path) as f:
        assert not f["t0_fields"]["speed_of_sound"].attrs["sample_varying"]
        assert list(f.attrs["simulation_parameters"]) == ["gamma"] and f.attrs["gamma"] == 1.4


def test_xarray_engine_well_is_lazy_and_equal(well_file):
    ref = read_well_file(well_file)
    with xr.open_dataset(well_file, engine="well") as ds:
        assert not isinstance(ds["velocity"].variable._data, np.ndarray)  # not read yet
        part = ds["velocity"].isel(sample=1, time=slice(2, 5)).values
        np.testing.assert_array_equal(part, ref["velocity"].isel(sample=1, time=slice(2, 5)).values)
        xr.testing.assert_identical(ds.load(), ref)


def test_stats_yaml_follows_the_well_definitions(tmp_path):
    root = tmp_path / "tiny_well"
    # two training files with different trajectory counts, so the count weighting matters
    write_example_well_file(root / "data" / "train" / "a.hdf5", n_traj=1, seed=1)
    write_example_well_file(root / "data" / "train" / "b.hdf5", n_traj=3, seed=2)
    path = write_dataset_stats(root)
    stats = yaml.safe_load(path.read_text())
    assert set(stats) == {"mean", "std", "rms", "mean_delta", "std_delta", "rms_delta"}
    parts = [read_well_file(root / "data" / "train" / n) for n in ("a.hdf5", "b.hdf5")]
    for name, rank in (("density", 0), ("velocity", 1), ("C", 2), ("mask", 0), ("speed_of_sound", 0)):
        arrays = [p[name].values.astype(np.float64) for p in parts]
        flat = np.concatenate([a.reshape((-1,) + a.shape[a.ndim - rank:]) for a in arrays])
        np.testing.assert_allclose(stats["mean"][name], flat.mean(0), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(stats["std"][name], flat.std(0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(stats["rms"][name], np.sqrt((flat ** 2).mean(0)), rtol=1e-10)
        if name in ("mask", "speed_of_sound"):
            assert name not in stats["mean_delta"]
            continue
        deltas = np.concatenate([np.diff(a, axis=1).reshape((-1,) + a.shape[a.ndim - rank:]) for a in arrays])
        np.testing.assert_allclose(stats["mean_delta"][name], deltas.mean(0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(stats["std_delta"][name], deltas.std(0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(stats["rms_delta"][name], np.sqrt((deltas ** 2).mean(0)), rtol=1e-10)
    assert isinstance(stats["mean"]["density"], float) and len(stats["mean"]["velocity"]) == 2
    assert np.shape(stats["std"]["C"]) == (2, 2)


def test_the_well_normalises_with_our_stats(tmp_path):
    from the_well.data.normalization import RMSNormalization, ZScoreNormalization
    root = write_example_dataset(tmp_path / "tiny_well", files_per_split=1)
    stats = yaml.safe_load((root / "stats.yaml").read_text())
    raw = well_data.WellDataset(path=str(root), well_split_name="train", n_steps_input=2)[0]["input_fields"]
    for kind in (ZScoreNormalization, RMSNormalization):
        ds = well_data.WellDataset(path=str(root), well_split_name="train", n_steps_input=2,
                                   use_normalization=True, normalization_type=kind)
        got = ds[0]["input_fields"]
        if kind is ZScoreNormalization:
            want = (raw[..., 0] - stats["mean"]["density"]) / stats["std"]["density"]
        else:
            want = raw[..., 0] / stats["rms"]["density"]
        torch.testing.assert_close(got[..., 0], want.float(), rtol=1e-5, atol=1e-5)


def test_writer_dtype_choice(tmp_path):
    kw = _good()
    with h5py.File(write_well_file(tmp_path / "f4.hdf5", **kw)) as f:  # The Well's float32 by default
        assert f["t1_fields"]["velocity"].dtype == np.float32 and f["dimensions"]["time"].dtype == np.float32
    ds = read_well_file(write_well_file(tmp_path / "f8.hdf5", dtype=None, **kw))  # or exact float64
    np.testing.assert_array_equal(ds["velocity"].values, kw["fields"]["velocity"])
    assert ds["velocity"].dtype == np.float64


def test_sample_varying_time_and_explicit_ranks(tmp_path):
    rng = np.random.default_rng(0)
    time = np.stack([np.arange(6) * 0.1, np.arange(6) * 0.2]).astype(np.float32)
    p = write_well_file(tmp_path / "svt.hdf5", dataset_name="svt", dimensions={"x": np.arange(8.0), "y": np.arange(4.0)},
                        time=time, fields={"u": rng.random((2, 6, 8, 4, 2)).astype(np.float32)}, ranks={"u": 1},
                        boundary_conditions={"x": "OPEN", "y": "OPEN"})
    _assert_well_schema(p)
    ds = read_well_file(p)
    np.testing.assert_array_equal(ds["sample_time"].values, time)
    got = well_data.WellDataset(path=str(p.parent), n_steps_input=2, n_steps_output=1)[5]  # trajectory 1, t0 = 1
    np.testing.assert_allclose(got["input_time_grid"].numpy(), [0.0, 0.2], rtol=1e-6)
    xr.testing.assert_identical(read_well_file(write_dataset(ds, tmp_path / "svt2.hdf5")), ds)


# ------------------------------------------------------------------ bad input
def _good(**over):
    rng = np.random.default_rng(0)
    kw = dict(dataset_name="bad", dimensions={"x": np.arange(8.0), "y": np.arange(6.0)}, time=np.arange(4.0),
              fields={"velocity": rng.random((2, 4, 8, 6, 2)), "density": rng.random((2, 4, 8, 6))},
              boundary_conditions={"x": "PERIODIC", "y": "WALL"}, units={"velocity": "m/s"})
    kw.update(over)
    return kw


@pytest.mark.parametrize("over, error, words", [
    (dict(fields={"density": np.zeros((2, 4, 8, 5))}), ShapeError, ["density", "(2, 4, 8, 6)", "(2, 4, 8, 5)"]),
    (dict(fields={"density": np.zeros((2, 3, 8, 6))}), ShapeError, ["density", "(2, 4, 8, 6)", "(2, 3, 8, 6)"]),
    (dict(fields={"velocity": np.zeros((2, 4, 8, 6, 3))}), ShapeError, ["velocity", "(2, 4, 8, 6, 2)"]),
    (dict(fields={"velocity": np.zeros((2, 4, 8, 6))}, ranks={"velocity": 1}), FieldError,
     ["velocity", "rank 1", "4 dims"]),
    (dict(fields={"u": np.zeros((2, 4, 8, 6, 2, 2, 2))}), ShapeError, ["u", "cannot infer a tensor rank"]),
    (dict(fields={"density": np.full((2, 4, 8, 6), np.nan)}), ShapeError, ["density", "NaN"]),
    (dict(fields={}), FieldError, ["no time-varying fields"]),
    (dict(boundary_conditions={"x": "PERIODIC", "y": "sticky"}), BoundaryError, ["axis 'y'", "'sticky'"]),
    (dict(boundary_conditions={"x": "PERIODIC"}), BoundaryError, ["axis 'y'", "no boundary condition"]),
    (dict(units={"velocity": "kg"}), UnitError, ["velocity", "[length] / [time]", "'kg'"]),
    (dict(units={"pressure": "Pa"}), FieldError, ["pressure", "unknown variable"]),
    (dict(units={"velocity": "no such unit"}), UnitError, ["velocity", "cannot parse"]),
    (dict(grid_type="hexagonal"), WellFormatError, ["grid_type", "'hexagonal'"]),
    (dict(scalars={"alpha": np.zeros(3)}), ShapeError, ["alpha", "(4,)", "(3,)"]),
    (dict(constant_fields={"density": np.zeros((8, 6))}), FieldError, ["density", "both", "one definition"]),
    (dict(time=np.zeros((4, 1))), ShapeError, ["time"]),
    (dict(scalars={"n_trajectories": 3.0}), FieldError, ["n_trajectories", "root attribute"]),
    (dict(fields={"a/b": np.zeros((2, 4, 8, 6))}, units={}), FieldError, ["'a/b'", "without '/'"]),
])
def test_writer_rejects_bad_input(tmp_path, over, error, words):
    path = tmp_path / "bad.hdf5"
    with pytest.raises(error) as info:
        write_well_file(path, **_good(**over))
    assert isinstance(info.value, WalrusError)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert not path.exists() and os.listdir(tmp_path) == []


def test_truncated_file_raises(well_file, tmp_path):
    data = well_file.read_bytes()
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(WellFormatError, match="truncated or not an HDF5 file"):
        read_well_file(cut)
    with pytest.raises(WellFormatError):
        xr.open_dataset(cut, engine="well")


def test_foreign_hdf5_and_other_files_raise(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(10)
        f.attrs["creator"] = "someone else"
    with pytest.raises(WellFormatError, match="missing root attribute 'dataset_name'") as info:
        read_well_file(foreign)
    assert str(foreign) in str(info.value)
    text = tmp_path / "notes.hdf5"
    text.write_text("not hdf5 at all")
    with pytest.raises(WellFormatError, match="not an HDF5 file"):
        read_well_file(text)
    with pytest.raises(WellFormatError, match="no such file"):
        read_well_file(tmp_path / "missing.hdf5")


def test_schema_violations_raise(well_file, tmp_path):
    broken = tmp_path / "broken.hdf5"
    broken.write_bytes(well_file.read_bytes())
    with h5py.File(broken, "a") as f:
        del f["t1_fields"]["velocity"]
    with pytest.raises(WellFormatError, match="velocity is listed but missing"):
        read_well_file(broken)
    broken.write_bytes(well_file.read_bytes())
    with h5py.File(broken, "a") as f:
        f.attrs["n_trajectories"] = 3
    with pytest.raises(WellFormatError, match="density breaks the shape rule"):
        check_well_file(broken)
    broken.write_bytes(well_file.read_bytes())
    with h5py.File(broken, "a") as f:
        f.attrs["n_spatial_dims"] = "two"
    with pytest.raises(WellFormatError, match="n_spatial_dims is not an integer"):
        read_well_file(broken)


class _Boom(RuntimeError):
    pass


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.hdf5"
    write_example_well_file(target, n_traj=1)
    before = target.read_bytes()
    real = h5py.Group.create_dataset
    calls = {"n": 0}

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:
            raise _Boom("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", flaky)
    with pytest.raises(_Boom):
        write_example_well_file(target, n_traj=2, seed=5)
    assert calls["n"] == 6
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(os.listdir(tmp_path)) == ["out.hdf5"]  # no temporary left behind
    fresh = tmp_path / "fresh.hdf5"
    calls["n"] = 0
    with pytest.raises(_Boom):
        write_example_well_file(fresh)
    assert not fresh.exists() and sorted(os.listdir(tmp_path)) == ["out.hdf5"]


def test_reader_accepts_fixed_length_byte_strings(well_file, tmp_path):
    copy = tmp_path / "bytes.hdf5"
    copy.write_bytes(well_file.read_bytes())
    with h5py.File(copy, "a") as f:
        f.attrs["dataset_name"] = np.bytes_(b"tiny_well")
        f["t1_fields"]["velocity"].attrs["units"] = np.bytes_(b"m s-1")
        for g in f["boundary_conditions"].values():
            g.attrs["bc_type"] = np.bytes_(g.attrs["bc_type"].encode())
    ds = read_well_file(copy)
    assert ds.attrs["dataset_name"] == "tiny_well" and ds["velocity"].attrs["units"] == "m s-1"
    assert ds.attrs["bc_x"] == read_well_file(well_file).attrs["bc_x"]
