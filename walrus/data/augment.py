"""Tensor-law augmentation: the symmetries of the cube acting on fields and boundary conditions.

An element of the group is a signed permutation matrix R (x' = R x about the domain centre).
It moves grid points, transforms each field's components by the field's rule (rank-derived, or
a plugin's override such as a pseudo-vector's det(R) factor) and moves the boundary rows.
Arrays may be numpy arrays or torch tensors; a field's array is ``(..., *spatial, *components)``,
i.e. the D spatial axes come right before the ``rank`` component axes (The Well's layout).
The Well's ``rotate90(data, p, m)`` is the element ``R[i, p[i]] = 1 - 2 m[i]`` here, with equal
results for polar fields (tests/data/test_well_equivalence.py); pseudo-vectors and plugin laws
are what it lacks (docs/reuse.md).
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from walrus.hooks import SymmetryRule

PERIODIC_CODE = 2  # walrus.model.patching.PERIODIC; the thin axis of an embedded plane wraps onto itself


# --------------------------------------------------------------------------------------------
# The groups
# --------------------------------------------------------------------------------------------

def _signed_permutations(ndim: int) -> list[np.ndarray]:
    mats = []
    for perm in itertools.permutations(range(ndim)):
        for signs in itertools.product((1, -1), repeat=ndim):
            m = np.zeros((ndim, ndim), dtype=np.int64)
            for i, (j, s) in enumerate(zip(perm, signs)):
                m[i, j] = s
            mats.append(m)
    return mats


def proper_rotations(ndim: int) -> list[np.ndarray]:
    """The rotations that map the square/cube onto itself: 4 in 2-D, 24 in 3-D (identity first)."""
    return [m for m in _signed_permutations(ndim) if round(np.linalg.det(m)) == 1]


def improper_elements(ndim: int) -> list[np.ndarray]:
    """The reflections (and rotoreflections) of the square/cube: det = -1, 4 in 2-D, 24 in 3-D."""
    return [m for m in _signed_permutations(ndim) if round(np.linalg.det(m)) == -1]


def symmetry_group(ndim: int, reflections: bool = True) -> list[np.ndarray]:
    """All signed permutations (8 in 2-D, 48 in 3-D), or only the proper rotations."""
    return proper_rotations(ndim) + (improper_elements(ndim) if reflections else [])


def random_element(ndim: int, rng: np.random.Generator, reflections: bool = True) -> np.ndarray:
    """One group element drawn uniformly."""
    group = symmetry_group(ndim, reflections)
    return group[int(rng.integers(len(group)))]


def _decompose(rotation: Any) -> tuple[list[int], list[int]]:
    """perm[i], sign[i] with R[i, perm[i]] = sign[i]; refuses anything but a signed permutation."""
    r = np.asarray(rotation)
    if r.ndim != 2 or r.shape[0] != r.shape[1]:
        raise ValueError(f"rotation must be a square matrix, received shape {r.shape}")
    perm, signs = [], []
    for row in r:
        nz = np.flatnonzero(row)
        if len(nz) != 1 or abs(row[nz[0]]) != 1:
            raise ValueError(f"rotation must be a signed permutation matrix (grid-preserving), received {r.tolist()}")
        perm.append(int(nz[0]))
        signs.append(int(row[nz[0]]))
    if sorted(perm) != list(range(len(perm))):
        raise ValueError(f"rotation must be a signed permutation matrix, received {r.tolist()}")
    return perm, signs


# --------------------------------------------------------------------------------------------
# numpy / torch helpers
# --------------------------------------------------------------------------------------------

def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _permute(x: Any, order: Sequence[int]) -> Any:
    return x.permute(*order) if _is_torch(x) else np.transpose(x, order)


def _flip(x: Any, axes: Sequence[int]) -> Any:
    if not axes:
        return x
    return x.flip(list(axes)) if _is_torch(x) else np.flip(x, axis=tuple(axes))


def _tensordot_last(x: Any, rotation: np.ndarray, axis: int) -> Any:
    """Contract ``axis`` of x with R's second index and put the result back at ``axis``."""
    if _is_torch(x):
        import torch

        r = torch.as_tensor(rotation, dtype=x.dtype, device=x.device)
        return torch.movedim(torch.tensordot(x, r, dims=([axis], [1])), -1, axis)
    return np.moveaxis(np.tensordot(x, rotation.astype(x.dtype, copy=False), axes=([axis], [1])), -1, axis)


# --------------------------------------------------------------------------------------------
# Acting on one field
# --------------------------------------------------------------------------------------------

def transform_components(values: Any, rotation: Any, rule: SymmetryRule) -> Any:
    """Transform the trailing ``rule.rank`` component axes: one factor of R per index (x det R if pseudo)."""
    r = np.asarray(rotation)
    if rule.apply is not None:
        return rule.apply(values, r)
    out = values
    for k in range(rule.rank):
        axis = out.ndim - rule.rank + k
        if out.shape[axis] != r.shape[0]:
            raise ValueError(f"component axis {axis} has length {out.shape[axis]}, expected {r.shape[0]} "
                             f"(a rank-{rule.rank} field in {r.shape[0]}-D)")
        out = _tensordot_last(out, r, axis)
    if rule.pseudo:
        out = out * int(round(np.linalg.det(r)))
    return out


def move_grid(values: Any, rotation: Any, rank: int = 0) -> Any:
    """Move grid points: the value at x goes to R x (the D axes before the ``rank`` component axes)."""
    perm, signs = _decompose(rotation)
    ndim = len(perm)
    first = values.ndim - rank - ndim
    if first < 0:
        raise ValueError(f"array of shape {tuple(values.shape)} has no {ndim} spatial axes before "
                         f"{rank} component axes")
    order = list(range(values.ndim))
    for i, j in enumerate(perm):
        order[first + i] = first + j
    moved = _permute(values, order)
    return _flip(moved, [first + i for i, s in enumerate(signs) if s < 0])


def transform_field(values: Any, rotation: Any, rule: SymmetryRule) -> Any:
    """Apply a group element to one field: move its grid points, then transform its components."""
    return transform_components(move_grid(values, rotation, rule.rank), rotation, rule)


def transform_boundaries(bcs: Any, rotation: Any) -> Any:
    """Move boundary rows ``(D, 2)`` (axis x low/high): new axis i takes old axis perm[i], swapped if flipped."""
    perm, signs = _decompose(rotation)
    arr = bcs if _is_torch(bcs) else np.asarray(bcs)
    if tuple(arr.shape) != (len(perm), 2):
        raise ValueError(f"boundary conditions must have shape ({len(perm)}, 2), received {tuple(arr.shape)}")
    rows = [arr[j] if s > 0 else _flip(arr[j], [0]) for j, s in zip(perm, signs)]
    if _is_torch(arr):
        import torch

        return torch.stack(rows)
    return np.stack(rows)


def registry_rules(names, registry=None) -> dict[str, SymmetryRule]:
    """The rules of the named fields from the plugin registry (plugin overrides included)."""
    if registry is None:
        from walrus.plugins import get_registry

        registry = get_registry()
    return {name: registry.rule(name) for name in names}


def augment(fields: Mapping[str, Any], rotation: Any, rules: Mapping[str, SymmetryRule],
            boundary_conditions: Optional[Any] = None) -> tuple[dict[str, Any], Optional[Any]]:
    """Apply one group element to every field (each by its own rule) and to the boundary rows.

    ``rules`` comes from the plugin registry (``get_registry().rule(name)``) so that a plugin's
    override, such as a pseudo-vector, is honoured; a field with no rule is an error.
    """
    out = {}
    for name, values in fields.items():
        if name not in rules:
            raise KeyError(f"no symmetry rule for field {name!r}; rules are known for {sorted(rules)}")
        out[name] = transform_field(values, rotation, rules[name])
    bcs = None if boundary_conditions is None else transform_boundaries(boundary_conditions, rotation)
    return out, bcs


# --------------------------------------------------------------------------------------------
# 2-D data as a thin plane in 3-D
# --------------------------------------------------------------------------------------------

def embed_plane(values: Any, rank: int, normal: int = 2) -> Any:
    """Embed a 2-D field in 3-D as one cell thick along axis ``normal`` (0, 1 or 2).

    A singleton spatial axis is inserted and each component axis grows a zero component along
    the normal, so any 3-D group element can then put the plane in any orientation.
    """
    if normal not in (0, 1, 2):
        raise ValueError(f"normal must be 0, 1 or 2, received {normal!r}")
    first = values.ndim - rank - 2
    if first < 0:
        raise ValueError(f"array of shape {tuple(values.shape)} has no 2 spatial axes before {rank} component axes")
    out = values.unsqueeze(first + normal) if _is_torch(values) else np.expand_dims(values, first + normal)
    for k in range(rank):
        axis = out.ndim - rank + k
        shape = list(out.shape)
        shape[axis] = 1
        if _is_torch(out):
            import torch

            zero = torch.zeros(shape, dtype=out.dtype, device=out.device)
            parts = [out.narrow(axis, 0, normal), zero, out.narrow(axis, normal, 2 - normal)]
            out = torch.cat(parts, dim=axis)
        else:
            zero = np.zeros(shape, dtype=out.dtype)
            parts = [np.take(out, range(normal), axis=axis), zero, np.take(out, range(normal, 2), axis=axis)]
            out = np.concatenate(parts, axis=axis)
    return out


def embed_plane_boundaries(bcs: Any, normal: int = 2) -> np.ndarray:
    """Insert a PERIODIC row for the thin axis, as the released model does for 2-D data."""
    arr = np.asarray(bcs)
    if arr.shape != (2, 2):
        raise ValueError(f"2-D boundary conditions must have shape (2, 2), received {arr.shape}")
    return np.insert(arr, normal, [PERIODIC_CODE, PERIODIC_CODE], axis=0)


def plane_component_mask(rank: int, normal: int = 2) -> np.ndarray:
    """True for components that exist in the 2-D data (False where an index points along the normal)."""
    mask = np.ones((3,) * rank, dtype=bool)
    for k in range(rank):
        index = [slice(None)] * rank
        index[k] = normal
        mask[tuple(index)] = False
    return mask
