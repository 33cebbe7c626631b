"""walrus's rotations equal The Well's (the_well.data.augmentation) wherever both apply.

The Well parameterises an element as (permutation p, reflection mask m): ``rotate90`` permutes the
axes (new axis i = old axis p[i], components likewise) and then flips the masked axes (components
negated once per flipped index). That is the signed permutation R[i, p[i]] = 1 - 2 m[i] of walrus's
``x' = R x``. On the overlap (scalars, polar vectors and rank-2 tensors, time-varying or constant,
and the boundary rows) the two give bit-identical arrays for all 8 elements in 2-D and all 48 in
3-D, from the field level up to a training batch. Where they differ (a pseudo-vector under an
improper element; The Well's hardcoded index on non-cartesian grids) the tests pin the
difference down; docs/reuse.md gives the reasons walrus keeps its own code.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from walrus.data import augment as A
from walrus.data.well_dataset import WellWindowDataset
from walrus.hooks import SymmetryRule
from walrus.io import write_well_file
from walrus.io.schema import GRID_TYPES
from walrus.model.vocabulary import RELEASE_FIELD_NAMES
from walrus.train.augmentation import ROTATABLE_GRIDS, layout_rules, rotate_batch
from walrus.train.batching import collate, dataset_layout

import the_well.data as well_data  # noqa: E402  (a dev dependency: a missing install must fail, not skip)
from the_well.data.augmentation import (PROPER_2D_ROTATIONS, PROPER_3D_ROTATIONS, Augmentation,  # noqa: E402
                                        RandomRotation90)


def to_matrix(permutation, reflection_mask) -> np.ndarray:
    """walrus's matrix of The Well's (permutation, reflection mask): R[i, p[i]] = 1 - 2 m[i]."""
    n = len(permutation)
    r = np.zeros((n, n), dtype=np.int64)
    for i, (p, m) in enumerate(zip(permutation, reflection_mask)):
        r[i, p] = 1 - 2 * int(m)
    return r


def well_elements(ndim: int):
    """Every (permutation, mask) The Well's rotate90 accepts: 8 in 2-D, 48 in 3-D."""
    return [(p, m) for p in itertools.permutations(range(ndim)) for m in itertools.product((0, 1), repeat=ndim)]


def _key(m) -> tuple:
    return tuple(np.asarray(m).ravel().tolist())


# --------------------------------------------------------------------------------------------
# The group elements
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ndim, table", [(2, PROPER_2D_ROTATIONS), (3, PROPER_3D_ROTATIONS)], ids=["2d", "3d"])
def test_the_wells_proper_rotations_are_walrus_proper_rotations(ndim, table):
    theirs = [_key(to_matrix(p, m)) for p, m in table]
    assert len(set(theirs)) == len(theirs)  # no element listed twice
    assert set(theirs) == {_key(r) for r in A.proper_rotations(ndim)}


@pytest.mark.parametrize("ndim", [2, 3])
def test_permute_then_flip_reaches_the_whole_walrus_group(ndim):
    theirs = {_key(to_matrix(p, m)) for p, m in well_elements(ndim)}
    assert theirs == {_key(r) for r in A.symmetry_group(ndim, reflections=True)}


# --------------------------------------------------------------------------------------------
# One sample: every field order, variable and constant, and the boundary rows
# --------------------------------------------------------------------------------------------

SHAPES = {2: (5, 7), 3: (4, 5, 6)}  # unequal axes, so a wrong axis cannot pass by symmetry
T = 3


def trajectory(ndim: int, seed: int = 0) -> dict:
    """A Well TrajectoryData with rank-0/1/2 time-varying fields, rank-0/1 constants and BC rows."""
    g = torch.Generator().manual_seed(seed)
    s, d = SHAPES[ndim], ndim
    rand = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    return {
        "variable_fields": {0: {"density": rand(T, *s)}, 1: {"velocity": rand(T, *s, d)},
                            2: {"stress": rand(T, *s, d, d)}},
        "constant_fields": {0: {"mask": (rand(*s) > 0).float()}, 1: {"wind": rand(*s, d)}},
        "variable_scalars": {"t": rand(T)}, "constant_scalars": {"Re": torch.tensor(100.0)},
        # each row distinct (low, high) so a swapped or moved row shows
        "boundary_conditions": torch.tensor([[0, 1], [1, 2], [2, 0]][:ndim]),
    }


def _clone(data: dict) -> dict:
    out = {k: {o: dict(f) for o, f in v.items()} for k, v in data.items() if k.endswith("_fields")}
    out |= {k: v for k, v in data.items() if not k.endswith("_fields")}
    return out


@pytest.mark.parametrize("ndim", [2, 3])
def test_every_field_order_and_the_boundaries_equal_the_wells(ndim):
    data = trajectory(ndim)
    for perm, mask in well_elements(ndim):
        theirs = RandomRotation90.rotate90(_clone(data), torch.tensor(perm), torch.tensor(mask))
        r = to_matrix(perm, mask)
        for key in ("variable_fields", "constant_fields"):
            for order, fields in data[key].items():
                for name, values in fields.items():
                    ours = A.transform_field(values, r, SymmetryRule(order))
                    assert torch.equal(ours, theirs[key][order][name]), (perm, mask, name)
                    ours_np = A.transform_field(values.numpy(), r, SymmetryRule(order))  # numpy path too
                    assert np.array_equal(ours_np, theirs[key][order][name].numpy()), (perm, mask, name)
        assert torch.equal(A.transform_boundaries(data["boundary_conditions"], r), theirs["boundary_conditions"])
        assert theirs["variable_scalars"] is data["variable_scalars"]  # scalars: untouched by both


def test_a_pseudo_vector_is_where_the_two_differ():
    """The Well has one law per order (polar). walrus's magnetic-field law adds det R: equal under
    rotations, opposite under reflections (a mirror does not flip an axial vector's sense)."""
    rule = SymmetryRule(1, pseudo=True)
    b = trajectory(3)["variable_fields"][1]["velocity"]
    for perm, mask in well_elements(3):
        data = {"variable_fields": {1: {"B": b}}, "constant_fields": {}}
        theirs = RandomRotation90.rotate90(data, torch.tensor(perm), torch.tensor(mask))["variable_fields"][1]["B"]
        r = to_matrix(perm, mask)
        det = round(np.linalg.det(r))
        assert torch.equal(A.transform_field(b, r, rule), det * theirs)


# --------------------------------------------------------------------------------------------
# Through the datasets and the training batch
# --------------------------------------------------------------------------------------------

class _Fixed(Augmentation):
    """The Well's own rotate90 with one given element (its classes draw at random)."""

    def __init__(self, perm, mask):
        self.perm, self.mask = torch.tensor(perm), torch.tensor(mask)

    def __call__(self, data, metadata):
        return RandomRotation90.rotate90(data, self.perm, self.mask)


def _write(root, ndim: int, grid_type: str = "cartesian"):
    rng = np.random.default_rng(7)
    axes = ("x", "y", "z")[:ndim]
    shape = SHAPES[ndim]
    mask = np.zeros(shape)
    mask[(slice(1, 3),) * ndim] = 1  # an obstacle, so the inside mask moves too
    bcs = {"x": ("WALL", "OPEN"), "y": "PERIODIC", "z": ("OPEN", "WALL")}
    write_well_file(root / "data" / "train" / "f.hdf5", dataset_name="equiv", grid_type=grid_type,
                    dimensions={a: np.linspace(0, 1, n) for a, n in zip(axes, shape)}, time=np.arange(4.0),
                    fields={"density": rng.uniform(1, 2, (1, 4, *shape)),
                            "velocity": rng.normal(size=(1, 4, *shape, ndim)),
                            "C": rng.normal(size=(1, 4, *shape, ndim, ndim))},
                    constant_fields={"mask": mask},
                    boundary_conditions={a: bcs[a] for a in axes})
    return root


@pytest.fixture(scope="module", params=[2, 3], ids=["2d", "3d"])
def dataset(request, tmp_path_factory):
    return request.param, _write(tmp_path_factory.mktemp(f"equiv{request.param}d"), request.param)


def _lift(r: np.ndarray) -> np.ndarray:
    """An in-plane 2-D element acting on the lifted 3-D slab (z, the thin axis, fixed)."""
    if len(r) == 3:
        return r
    out = np.eye(3, dtype=np.int64)
    out[:2, :2] = r
    return out


def test_a_training_batch_rotated_by_walrus_equals_the_wells_rotated_samples(dataset):
    """rotate_batch(collate(samples)) == collate(The Well's rotated samples): channels of every order,
    the future frames, the (3, 2) boundary rows, the obstacle mask and the padded flags. In 2-D the
    overlap is the in-plane elements (walrus also turns the lifted slab out of its plane)."""
    ndim, root = dataset
    kw = dict(n_steps_input=2, n_steps_output=1)
    ours = WellWindowDataset(root, split="train", **kw)
    layout = dataset_layout(ours, RELEASE_FIELD_NAMES)
    rules = layout_rules(layout)
    assert {f.rank for f in layout.fields} == {0, 1, 2}
    plain = collate([ours[0], ours[1]], layout)
    assert plain.inside_mask is not None and plain.inside_mask.any()
    for perm, mask in well_elements(ndim):
        theirs_ds = well_data.WellDataset(path=str(root), well_split_name="train", transform=_Fixed(perm, mask), **kw)
        want = collate([theirs_ds[0], theirs_ds[1]], layout)
        got = rotate_batch(plain, layout, _lift(to_matrix(perm, mask)), rules)
        for name in ("x", "future", "bcs", "padded_mask", "inside_mask"):
            assert torch.equal(getattr(got, name), getattr(want, name)), (perm, mask, name)


def test_the_wells_hardcoded_rotation_index_is_its_table_entry(dataset):
    """The class The Well trains with, RandomRotation90, applies exactly its table's element."""
    ndim, root = dataset
    kw = dict(n_steps_input=1, n_steps_output=1)
    table = PROPER_2D_ROTATIONS if ndim == 2 else PROPER_3D_ROTATIONS
    ours = WellWindowDataset(root, split="train", **kw)
    layout = dataset_layout(ours, RELEASE_FIELD_NAMES)
    plain, rules = collate([ours[0]], layout), layout_rules(layout)
    for index, (perm, mask) in enumerate(table):
        theirs = well_data.WellDataset(path=str(root), well_split_name="train",
                                       transform=RandomRotation90(hardcoded_rotation_index=index), **kw)
        got = rotate_batch(plain, layout, _lift(to_matrix(perm, mask)), rules)
        assert torch.equal(got.x, collate([theirs[0]], layout).x), index


# --------------------------------------------------------------------------------------------
# The non-cartesian rule
# --------------------------------------------------------------------------------------------

def _well_rotates(grid_type: str, hardcoded=None) -> bool:
    """Whether The Well's RandomRotation90 (p = 1) changes a 3-D sample on this grid type."""
    meta = SimpleNamespace(dataset=SimpleNamespace(n_spatial_dims=3, metadata=SimpleNamespace(grid_type=grid_type)))
    np.random.seed(0)
    aug = RandomRotation90(p=1.0, hardcoded_rotation_index=hardcoded)
    for _ in range(8):  # 8 draws: the chance that all are the identity is 24^-8
        data = trajectory(3)
        before = data["variable_fields"][0]["density"]
        if not torch.equal(aug(_clone(data), meta)["variable_fields"][0]["density"], before):
            return True
    return False


@pytest.mark.parametrize("grid_type", GRID_TYPES)
def test_walrus_rotates_exactly_the_grid_types_the_well_rotates(grid_type):
    assert _well_rotates(grid_type) == (grid_type in ROTATABLE_GRIDS)


def test_the_trainer_reads_a_spherical_file_as_not_rotatable(tmp_path):
    """The rule's input is the file's grid_type as the trainer reads it; The Well leaves that file alone."""
    from walrus.train.trainer import grid_type

    root = _write(tmp_path / "sph", 3, grid_type="spherical")
    assert grid_type(WellWindowDataset(root, split="train")) == "spherical" not in ROTATABLE_GRIDS
    kw = dict(n_steps_input=1, n_steps_output=1)
    theirs = well_data.WellDataset(path=str(root), well_split_name="train", transform=RandomRotation90(p=1.0), **kw)
    plain = well_data.WellDataset(path=str(root), well_split_name="train", **kw)
    assert all(torch.equal(theirs[i]["input_fields"], plain[i]["input_fields"]) for i in range(len(plain)))


def test_the_wells_hardcoded_index_bypasses_its_own_grid_rule():
    """A quirk walrus does not copy: with hardcoded_rotation_index set, The Well rotates spherical data."""
    assert _well_rotates("spherical", hardcoded=1) and not _well_rotates("spherical")
