"""Tensor-law augmentation: group structure, inverses, and physics computed before or after a rotation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from walrus.data import augment as A
from walrus.hooks import SymmetryRule
from walrus.plugins import get_registry

WALL, OPEN, PERIODIC = 0, 1, 2


def _key(m):
    return tuple(np.asarray(m).ravel())


@pytest.mark.parametrize("ndim,n_proper,n_all", [(2, 4, 8), (3, 24, 48)])
def test_group_sizes_and_closure(ndim, n_proper, n_all):
    proper, full = A.proper_rotations(ndim), A.symmetry_group(ndim)
    assert len(proper) == n_proper and len(full) == n_all
    assert np.array_equal(proper[0], np.eye(ndim))
    assert all(round(np.linalg.det(m)) == 1 for m in proper)
    assert len(A.improper_elements(ndim)) == n_all - n_proper
    keys, proper_keys = {_key(m) for m in full}, {_key(m) for m in proper}
    assert len(keys) == n_all
    for a in full:
        assert _key(a.T) in keys  # inverses
        for b in full:
            assert _key(a @ b) in keys  # closure
    for a in proper:
        for b in proper:
            assert _key(a @ b) in proper_keys


def test_refuses_a_matrix_that_does_not_map_the_grid_to_itself():
    c, s = np.cos(0.3), np.sin(0.3)
    with pytest.raises(ValueError, match="signed permutation"):
        A.move_grid(np.zeros((4, 4)), np.array([[c, -s], [s, c]]))


def _rules():
    """Every field kind the plugins declare, plus a custom law, by (name, rule)."""
    reg = get_registry()
    kinds = {}
    for name in reg.fields:
        rule = reg.rule(name)
        kinds.setdefault((rule.rank, rule.pseudo), (name, rule))
    kinds["custom"] = ("custom_axial_rank2", SymmetryRule(
        rank=2, apply=lambda v, r: np.linalg.det(r) * np.einsum("ia,jb,...ab->...ij", r, r, v)))
    return list(kinds.values())


RULES = _rules()


def test_the_plugins_declare_scalars_vectors_tensors_and_a_pseudo_vector():
    kinds = {(rule.rank, rule.pseudo) for _, rule in RULES}
    assert {(0, False), (1, False), (2, False), (1, True)} <= kinds


def _random_field(rng, ndim, rank, n=6, lead=(2,)):
    return rng.normal(size=lead + (n,) * ndim + (ndim,) * rank)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name,rule", RULES, ids=[n for n, _ in RULES])
def test_inverse_undoes_and_composition_is_the_product(ndim, name, rule):
    rng = np.random.default_rng(0)
    x = _random_field(rng, ndim, rule.rank)
    group = A.symmetry_group(ndim)
    for r in group:
        y = A.transform_field(x, r, rule)
        assert y.shape == x.shape
        np.testing.assert_allclose(A.transform_field(y, r.T, rule), x, atol=1e-12)
    for r1 in group[:: max(1, len(group) // 8)]:
        for r2 in group[:: max(1, len(group) // 8)]:
            np.testing.assert_allclose(A.transform_field(A.transform_field(x, r1, rule), r2, rule),
                                       A.transform_field(x, r2 @ r1, rule), atol=1e-12)


def test_torch_and_numpy_agree():
    rng = np.random.default_rng(1)
    for name, rule in RULES[:4]:
        x = _random_field(rng, 3, rule.rank)
        for r in A.symmetry_group(3)[::7]:
            got = A.transform_field(torch.from_numpy(x), r, rule)
            np.testing.assert_allclose(got.numpy(), A.transform_field(x, r, rule), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# rotate-then-compute == compute-then-rotate
# ---------------------------------------------------------------------------------------------

def _central_diff(f, axis):
    """Periodic central difference on a unit grid (changes sign under a flip of ``axis``, as d/dx does)."""
    return (np.roll(f, -1, axis) - np.roll(f, 1, axis)) / 2.0


def _vorticity_2d(v):
    """dv_y/dx - dv_x/dy for v (..., X, Y, 2)."""
    return _central_diff(v[..., 1], -2) - _central_diff(v[..., 0], -1)


SCALAR, VECTOR, TENSOR = SymmetryRule(0), SymmetryRule(1), SymmetryRule(2)


@pytest.mark.parametrize("ndim", [2, 3])
def test_speed_and_kinetic_energy_commute_with_every_group_element(ndim):
    rng = np.random.default_rng(2)
    reg = get_registry()
    v, rho = _random_field(rng, ndim, 1), rng.uniform(0.5, 2, size=(2,) + (6,) * ndim)
    ke = lambda rho, v: 0.5 * rho * (v**2).sum(-1)  # noqa: E731
    for r in A.symmetry_group(ndim):
        fields, _ = A.augment({"velocity": v, "density": rho}, r, A.registry_rules(["velocity", "density"], reg))
        np.testing.assert_allclose(np.linalg.norm(fields["velocity"], axis=-1),
                                   A.transform_field(np.linalg.norm(v, axis=-1), r, SCALAR), atol=1e-12)
        np.testing.assert_allclose(ke(fields["density"], fields["velocity"]),
                                   A.transform_field(ke(rho, v), r, SCALAR), atol=1e-12)


def test_vorticity_is_a_pseudo_scalar_and_its_magnitude_commutes():
    rng = np.random.default_rng(3)
    v = _random_field(rng, 2, 1, n=8)
    omega = _vorticity_2d(v)
    for r in A.symmetry_group(2):
        rotated = A.transform_field(v, r, VECTOR)
        np.testing.assert_allclose(np.abs(_vorticity_2d(rotated)), A.transform_field(np.abs(omega), r, SCALAR),
                                   atol=1e-12)
        np.testing.assert_allclose(_vorticity_2d(rotated), A.transform_field(omega, r, SymmetryRule(0, pseudo=True)),
                                   atol=1e-12)


def test_rank2_invariants_commute():
    rng = np.random.default_rng(4)
    c = _random_field(rng, 3, 2)
    for r in A.symmetry_group(3):
        rc = A.transform_field(c, r, TENSOR)
        np.testing.assert_allclose(np.trace(rc, axis1=-2, axis2=-1),
                                   A.transform_field(np.trace(c, axis1=-2, axis2=-1), r, SCALAR), atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(rc, axis=(-2, -1)),
                                   A.transform_field(np.linalg.norm(c, axis=(-2, -1)), r, SCALAR), atol=1e-12)


def test_pseudo_vector_rule_makes_the_lorentz_field_a_true_vector():
    """E = -v x B is a polar vector only if B transforms with det R, the plasma plugin's rule."""
    rng = np.random.default_rng(5)
    reg = get_registry()
    v, b = _random_field(rng, 3, 1), _random_field(rng, 3, 1)
    e = -np.cross(v, b)
    plain_ok = []
    for r in A.symmetry_group(3):
        rv = A.transform_field(v, r, reg.rule("velocity"))
        rb = A.transform_field(b, r, reg.rule("magnetic_field"))
        np.testing.assert_allclose(-np.cross(rv, rb), A.transform_field(e, r, VECTOR), atol=1e-12)
        plain_ok.append(np.allclose(-np.cross(rv, A.transform_field(b, r, VECTOR)), A.transform_field(e, r, VECTOR)))
    assert sum(plain_ok) == 24  # treating B as a plain vector is wrong for every reflection
    assert A.registry_rules(["magnetic_field"])["magnetic_field"].pseudo


# ---------------------------------------------------------------------------------------------
# boundary conditions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ndim", [2, 3])
def test_boundary_rows_follow_the_data(ndim):
    """Mark the low-x face in the data; after any group element the WALL side is where the mark went."""
    bcs = np.full((ndim, 2), PERIODIC)
    bcs[0] = [WALL, OPEN]
    marker = np.zeros((5,) * ndim)
    marker[(0,) + (slice(None),) * (ndim - 1)] = 1.0
    for r in A.symmetry_group(ndim):
        moved = A.transform_field(marker, r, SCALAR)
        new_bcs = A.transform_boundaries(bcs, r)
        (axis, side), = np.argwhere(new_bcs == WALL)
        face = [slice(None)] * ndim
        face[axis] = 0 if side == 0 else -1
        assert moved[tuple(face)].all() and moved.sum() == marker.sum()
        assert new_bcs[axis, 1 - side] == OPEN
        np.testing.assert_array_equal(A.transform_boundaries(new_bcs, r.T), bcs)


# ---------------------------------------------------------------------------------------------
# 2-D data as a thin plane in 3-D
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("normal", [0, 1, 2])
def test_plane_embedding_in_every_orientation(normal):
    rng = np.random.default_rng(6)
    v = _random_field(rng, 2, 1, n=5)
    v3 = A.embed_plane(v, rank=1, normal=normal)
    assert v3.shape[1:4].count(1) == 1 and v3.shape[1 + normal] == 1 and v3.shape[-1] == 3
    assert np.all(v3[..., normal] == 0)
    mask = A.plane_component_mask(1, normal)
    np.testing.assert_array_equal(np.delete(v3.squeeze(1 + normal), normal, axis=-1), v)
    assert mask.tolist() == [i != normal for i in range(3)]
    bcs3 = A.embed_plane_boundaries([[WALL, WALL], [OPEN, OPEN]], normal)
    assert bcs3[normal].tolist() == [PERIODIC, PERIODIC]
    orientations = set()
    for r in A.proper_rotations(3):
        w = A.transform_field(v3, r, VECTOR)
        orientations.add(w.shape[1:4].index(1))
        thin = w.shape[1:4].index(1)
        assert np.all(w[..., thin] == 0)  # the velocity stays in the plane, whichever way it lies
        np.testing.assert_allclose(np.linalg.norm(w, axis=-1),
                                   A.transform_field(np.linalg.norm(v3, axis=-1), r, SCALAR), atol=1e-12)
        assert A.transform_boundaries(bcs3, r)[thin].tolist() == [PERIODIC, PERIODIC]
    assert orientations == {0, 1, 2}


def test_plane_embedding_of_a_tensor_and_torch():
    rng = np.random.default_rng(7)
    c = _random_field(rng, 2, 2, n=4)
    c3 = A.embed_plane(c, rank=2, normal=1)
    assert c3.shape == (2, 4, 1, 4, 3, 3)
    assert np.all(c3[..., 1, :] == 0) and np.all(c3[..., :, 1] == 0)
    np.testing.assert_array_equal(A.embed_plane(torch.from_numpy(c), rank=2, normal=1).numpy(), c3)
    assert A.plane_component_mask(2, 1).sum() == 4
