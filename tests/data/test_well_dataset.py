"""WellWindowDataset gives the_well.data.WellDataset's samples, and reads only slices."""

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from walrus.data.well_dataset import WellWindowDataset, max_stride, windows_per_trajectory
from walrus.errors import ShapeError, WellFormatError
from walrus.io.examples import write_example_dataset, write_example_well_file

import the_well.data as well_data  # noqa: E402  (a dev dependency: a missing install must fail, not skip)


@pytest.fixture(scope="module", params=[2, 3], ids=["2d", "3d"])
def files(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"well{request.param}d")
    size = 16 if request.param == 2 else 8
    # two files with different trajectory counts and lengths
    write_example_well_file(d / "a.hdf5", n_dims=request.param, size=size, n_traj=2, n_steps=12, seed=1)
    write_example_well_file(d / "b.hdf5", n_dims=request.param, size=size, n_traj=3, n_steps=9, seed=2)
    return d


def _assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, (k, a[k].dtype, b[k].dtype)
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("kw", [
    dict(n_steps_input=4, n_steps_output=1),
    dict(n_steps_input=1, n_steps_output=3),
    dict(n_steps_input=2, n_steps_output=2, min_dt_stride=2, max_dt_stride=2),
    dict(n_steps_input=3, full_trajectory_mode=True),
    dict(n_steps_input=2, full_trajectory_mode=True, max_rollout_steps=3),
    dict(n_steps_input=2, n_steps_output=1, return_grid=False),
], ids=["4in1out", "1in3out", "stride2", "full", "full-capped", "nogrid"])
def test_samples_equal_the_wells(files, kw):
    ours, theirs = WellWindowDataset(files, **kw), well_data.WellDataset(path=str(files), **kw)
    assert len(ours) == len(theirs)
    md = theirs.metadata
    assert ours.field_names == md.field_names[0] + md.field_names[1] + md.field_names[2]
    assert ours.constant_field_names == md.constant_field_names[0]
    for i in range(len(ours)):
        _assert_same(ours[i], theirs[i])


def test_random_stride_matches_the_wells_draws(files):
    kw = dict(n_steps_input=2, n_steps_output=1, min_dt_stride=1, max_dt_stride=3)
    ours, theirs = WellWindowDataset(files, **kw), well_data.WellDataset(path=str(files), **kw)
    assert len(ours) == len(theirs)
    strides = set()
    for i in range(len(ours)):
        np.random.seed(i)
        a = ours[i]
        np.random.seed(i)
        b = theirs[i]
        _assert_same(a, b)
        strides.add(round(float(a["input_time_grid"][1]) / 0.09))
    assert strides == {1, 2, 3}


def test_own_generator_for_strides(files):
    ds = WellWindowDataset(files, n_steps_input=2, n_steps_output=1, max_dt_stride=3,
                           rng=np.random.default_rng(0))
    a = [ds[i]["output_time_grid"].item() for i in range(len(ds))]
    ds.rng = np.random.default_rng(0)
    assert a == [ds[i]["output_time_grid"].item() for i in range(len(ds))]


def test_window_arithmetic():
    assert windows_per_trajectory(12, 4, 1, 1) == 8
    assert windows_per_trajectory(5, 2, 1, 2) == 1 and windows_per_trajectory(5, 2, 1, 3) == 0
    assert max_stride(0, 12, 2, 1) == 5 and max_stride(10, 12, 2, 1) == 0


def test_reads_slices_never_whole_files(files, monkeypatch):
    ds = WellWindowDataset(files, n_steps_input=2, n_steps_output=1)
    ds[0]  # warm the per-file cache of shared constants and the grid
    sizes = []
    real = h5py.Dataset.__getitem__

    def spy(self, key):
        out = real(self, key)
        sizes.append((self.name, np.size(out), self.size))
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    ds[5]
    assert sizes, "nothing was read"
    for name, read, total in sizes:
        if "fields" in name or "scalars" in name:
            assert read < total, name  # only the window of one trajectory
    velocity = [read for name, read, _ in sizes if name.endswith("velocity")]
    n = ds.files[0].spatial
    assert velocity == [3 * int(np.prod(n)) * len(n)]


def test_dataloader_batches(files):
    ds = WellWindowDataset(files, n_steps_input=2, n_steps_output=1)
    batch = next(iter(DataLoader(ds, batch_size=3, shuffle=False)))
    assert batch["input_fields"].shape[:2] == (3, 2)
    assert batch["boundary_conditions"].shape[0] == 3


def test_dataset_root_and_split(tmp_path):
    root = write_example_dataset(tmp_path / "tiny_well", files_per_split=1, n_steps=8)
    ours = WellWindowDataset(root, split="valid", n_steps_input=2)
    theirs = well_data.WellDataset(path=str(root), well_split_name="valid", n_steps_input=2)
    assert len(ours) == len(theirs) == 2 * 6
    _assert_same(ours[3], theirs[3])


def test_pickles_without_open_handles(files):
    import pickle
    ds = WellWindowDataset(files, n_steps_input=2)
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    _assert_same(clone[1], ds[1])
    ds.close()


def test_errors(files, tmp_path):
    with pytest.raises(WellFormatError, match="no Well files"):
        WellWindowDataset(tmp_path)
    with pytest.raises(ShapeError, match="too short"):
        WellWindowDataset(files, n_steps_input=8, n_steps_output=4)
    with pytest.raises(ShapeError, match="stride"):
        WellWindowDataset(files, min_dt_stride=3, max_dt_stride=2)
    with pytest.raises(ShapeError, match="one stride"):
        WellWindowDataset(files, full_trajectory_mode=True, max_dt_stride=2)
    (tmp_path / "cut.hdf5").write_bytes((files / "a.hdf5").read_bytes()[:5000])
    with pytest.raises(WellFormatError, match="truncated"):
        WellWindowDataset(tmp_path)
    mixed = tmp_path / "mixed"
    write_example_well_file(mixed / "a.hdf5", size=8)
    write_example_well_file(mixed / "b.hdf5", size=16)
    with pytest.raises(WellFormatError, match="spatial"):
        WellWindowDataset(mixed)
    with pytest.raises(IndexError):
        WellWindowDataset(files)[10_000]


def test_fields_constant_along_an_axis_are_tiled(tmp_path):
    # The shape rule omits axes that are not dim_varying and loaders tile them back. (The Well's own
    # loader mis-tiles such a field: torch.tile prepends the missing axis, so it cannot be the oracle.)
    path = write_example_well_file(tmp_path / "d" / "a.hdf5", size=8, n_steps=6)
    profile = np.random.default_rng(0).random((2, 6, 8)).astype(np.float32)
    with h5py.File(path, "a") as f:
        g = f["t0_fields"]
        g.attrs["field_names"] = np.array(list(g.attrs["field_names"]) + ["profile"], dtype=h5py.string_dtype())
        ds = g.create_dataset("profile", data=profile)
        ds.attrs["dim_varying"] = np.array([True, False])
        ds.attrs["sample_varying"] = np.bool_(True)
        ds.attrs["time_varying"] = np.bool_(True)
    ours = WellWindowDataset(path.parent, n_steps_input=2)
    k = ours.field_names.index("profile")
    assert k == 2  # after density and pressure: still a rank-0 field
    windows = 6 - 2
    for i in (0, len(ours) - 1):
        traj, t0 = divmod(i, windows)
        got = ours[i]["input_fields"][..., k].numpy()
        want = np.broadcast_to(profile[traj, t0:t0 + 2, :, None], (2, 8, 8))
        np.testing.assert_array_equal(got, want)
