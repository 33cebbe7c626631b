"""The Well writer builds each boundary group's mask through the boundary's BoundarySpec.

A plugin defined here registers boundaries with custom masks; the written files must carry those
masks and the spec's kind as ``bc_type``, and The Well's loader must read the intended codes.
"""

import os

import h5py
import numpy as np
import pytest
import the_well.data as well_data
import xarray as xr

from walrus import plugins
from walrus.boundaries import OPEN, PERIODIC, WALL
from walrus.errors import BoundaryError
from walrus.hooks import BoundarySpec, edge_mask, hookimpl
from walrus.io import check_well_file, read_well_file, write_dataset, write_well_file


def sponge_mask(n):
    """An absorbing layer three cells thick at both ends."""
    mask = np.zeros(n, dtype=bool)
    mask[:3] = mask[-3:] = True
    return mask


def thick_wall_mask(n):
    mask = np.zeros(n, dtype=bool)
    mask[:2] = mask[-2:] = True
    return mask


def interior_mask(n):  # never marks the edge points: The Well would read the side as OPEN
    mask = np.zeros(n, dtype=bool)
    mask[n // 2] = True
    return mask


def wrong_length_mask(n):
    return np.ones(n + 1, dtype=bool)


class MaskPlugin:
    @hookimpl
    def walrus_boundaries(self):
        return [BoundarySpec("sponge", "OPEN", "absorbing layer", mask=sponge_mask),
                BoundarySpec("thick_wall", "WALL", "two-cell wall", mask=thick_wall_mask),
                BoundarySpec("hollow", "WALL", "a mask that misses the edge", mask=interior_mask),
                BoundarySpec("too_long", "OPEN", "a mask of the wrong length", mask=wrong_length_mask)]


@pytest.fixture
def mask_plugin():
    name = plugins.register(MaskPlugin(), name="io-mask-test-plugin")
    yield name
    if plugins.get_plugin_manager().get_plugin(name) is not None:
        plugins.unregister(name=name)


NX, NY = 10, 7


def _write(path, bcs, **kw):
    rng = np.random.default_rng(0)
    return write_well_file(path, dataset_name="masks", dimensions={"x": np.arange(NX, dtype=float),
                                                                   "y": np.arange(NY, dtype=float)},
                           time=np.arange(4.0), fields={"density": rng.random((2, 4, NX, NY))},
                           boundary_conditions=bcs, **kw)


def _groups(path):
    with h5py.File(path, "r") as f:
        return {key: (g.attrs["bc_type"], list(g.attrs["associated_dims"]), g["mask"][()])
                for key, g in f["boundary_conditions"].items()}


def _well_codes(path):
    """The (D, 2) boundary codes The Well's own loader derives from the file."""
    sample = well_data.WellDataset(path=str(path.parent), n_steps_input=1, n_steps_output=1)[0]
    return sample["boundary_conditions"].tolist()


def test_registered_boundary_writes_its_own_mask_and_kind(mask_plugin, tmp_path):
    p = _write(tmp_path / "sponge.hdf5", {"x": "sponge", "y": "WALL"})
    groups = _groups(p)
    assert sorted(groups) == ["x_open", "y_wall"]
    bc_type, dims, mask = groups["x_open"]
    assert bc_type == "OPEN" and dims == ["x"]
    np.testing.assert_array_equal(mask, sponge_mask(NX))
    assert mask.dtype == bool and mask.sum() == 6
    bc_type, dims, mask = groups["y_wall"]  # a bare kind keeps The Well's edge mask
    assert bc_type == "WALL" and dims == ["y"]
    np.testing.assert_array_equal(mask, edge_mask(NY))
    check_well_file(p)
    assert read_well_file(p).attrs["bc_x"] == "OPEN OPEN"
    assert _well_codes(p) == [[OPEN, OPEN], [WALL, WALL]]


def test_builtin_plugin_boundary_name(tmp_path):
    """'reflecting' comes from the acoustics plugin (kind WALL, the default edge mask)."""
    assert plugins.get_registry().boundaries["reflecting"].kind == "WALL"
    p = _write(tmp_path / "reflecting.hdf5", {"x": "reflecting", "y": "absorbing"})
    groups = _groups(p)
    assert sorted(groups) == ["x_wall", "y_open"]
    assert groups["x_wall"][0] == "WALL" and groups["y_open"][0] == "OPEN"
    np.testing.assert_array_equal(groups["x_wall"][2], edge_mask(NX))
    assert _well_codes(p) == [[WALL, WALL], [OPEN, OPEN]]


def test_one_sided_pairs_split_each_mask_at_the_middle(mask_plugin, tmp_path):
    p = _write(tmp_path / "pair.hdf5", {"x": ("thick_wall", "sponge"), "y": ("WALL", "OPEN")})
    groups = _groups(p)
    assert sorted(groups) == ["x_open", "x_wall", "y_open", "y_wall"]
    want_wall = np.zeros(NX, bool)
    want_wall[:2] = True  # the low half of thick_wall's mask
    want_open = np.zeros(NX, bool)
    want_open[-3:] = True  # the high half of sponge's mask
    np.testing.assert_array_equal(groups["x_wall"][2], want_wall)
    np.testing.assert_array_equal(groups["x_open"][2], want_open)
    # bare kinds: exactly today's one-sided edge masks
    np.testing.assert_array_equal(groups["y_wall"][2], np.arange(NY) == 0)
    np.testing.assert_array_equal(groups["y_open"][2], np.arange(NY) == NY - 1)
    assert read_well_file(p).attrs["bc_x"] == "WALL OPEN"
    assert _well_codes(p) == [[WALL, OPEN], [WALL, OPEN]]


def test_two_names_of_one_kind_share_a_group(mask_plugin, tmp_path):
    p = _write(tmp_path / "walls.hdf5", {"x": ("thick_wall", "reflecting"), "y": "OPEN"})
    groups = _groups(p)
    assert sorted(groups) == ["x_wall", "y_open"]
    want = np.zeros(NX, bool)
    want[[0, 1, NX - 1]] = True  # thick_wall's low half, reflecting's (edge) high half
    np.testing.assert_array_equal(groups["x_wall"][2], want)
    assert _well_codes(p) == [[WALL, WALL], [OPEN, OPEN]]


def test_write_dataset_accepts_boundary_names(mask_plugin, well_file, tmp_path):
    ds = read_well_file(well_file)
    axes = ds.attrs["spatial_dims"].split()
    bcs = {a: "OPEN" for a in axes} | {axes[0]: "sponge"}
    out = write_dataset(ds, tmp_path / "named.hdf5", boundary_conditions=bcs)
    groups = _groups(out)
    np.testing.assert_array_equal(groups[f"{axes[0]}_open"][2], sponge_mask(ds.sizes[axes[0]]))
    xr.testing.assert_identical(read_well_file(out), ds.assign_attrs({f"bc_{a}": "OPEN OPEN" for a in axes}))


@pytest.mark.parametrize("bcs, words", [
    ({"x": "hollow", "y": "WALL"}, ["axis 'x'", "'hollow'", "index 0"]),
    ({"x": ("OPEN", "hollow"), "y": "WALL"}, ["axis 'x'", "'hollow'", f"index {NX - 1}"]),
    ({"x": "too_long", "y": "WALL"}, ["axis 'x'", "'too_long'", f"shape ({NX},)", f"({NX + 1},)"]),
    ({"x": "sponge", "y": "no_such_boundary"}, ["axis 'y'", "'no_such_boundary'", "sponge", "reflecting"]),
    ({"x": ("sponge", "PERIODIC"), "y": "WALL"}, ["axis 'x'", "periodic on one side only"]),
])
def test_bad_boundaries_raise_and_write_nothing(mask_plugin, tmp_path, bcs, words):
    with pytest.raises(BoundaryError) as info:
        _write(tmp_path / "bad.hdf5", bcs)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert os.listdir(tmp_path) == []


def test_unregistered_boundary_is_unknown_again(tmp_path):
    name = plugins.register(MaskPlugin(), name="io-mask-test-plugin")
    _write(tmp_path / "ok.hdf5", {"x": "sponge", "y": "OPEN"})
    plugins.unregister(name=name)
    with pytest.raises(BoundaryError, match="sponge"):
        _write(tmp_path / "gone.hdf5", {"x": "sponge", "y": "OPEN"})
    assert os.listdir(tmp_path) == ["ok.hdf5"]


def test_bare_kinds_do_not_need_the_plugins(tmp_path, monkeypatch):
    """Kinds and codes resolve without the registry (a data tool need not load every plugin)."""
    def refuse():
        raise AssertionError("the plugin registry was consulted for a bare kind")

    monkeypatch.setattr(plugins, "get_registry", refuse)
    p = _write(tmp_path / "kinds.hdf5", {"x": PERIODIC, "y": "wall open"})
    assert _groups(p)["x_periodic"][0] == "PERIODIC"
    assert read_well_file(p).attrs["bc_y"] == "WALL OPEN"
