"""The walrus layout of a Well dataset in xarray form: dimension and group names, and the helpers
that read axes and boundary conditions back from a Dataset's attributes.

Dependency-free on purpose (stdlib, :mod:`walrus.boundaries`, :mod:`walrus.errors`): the state,
the xarray accessor, the Well reader and writer and the data loaders all share these names, and
none of them needs to import another to get them.

A file in xarray form has dims ``sample`` (trajectories), ``time``, the spatial axes, and
``component_i``/``component_j`` for vector/tensor components (coordinates: the axis names);
time-varying fields are ``(sample, time, *axes[, component_i[, component_j]])``, constant fields
lack ``time``; scalars have only ``sample``/``time`` dims (0-d for simulation parameters);
boundary conditions are the dataset attributes ``bc_<axis> = "LOW HIGH"`` (e.g. ``"WALL OPEN"``)
and the axes, in order, the attribute ``spatial_dims = "x y"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from walrus.boundaries import parse_boundaries

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

__all__ = ["SAMPLE_DIM", "TIME_DIM", "COMPONENT_DIMS", "GROUPS", "GRID_TYPES", "ROOT_ATTRS", "dataset_axes",
           "dataset_boundaries"]

SAMPLE_DIM, TIME_DIM = "sample", "time"
COMPONENT_DIMS = ("component_i", "component_j")
#: The Well's field groups, by tensor rank (0, 1, 2).
GROUPS = ("t0_fields", "t1_fields", "t2_fields")
GRID_TYPES = ("cartesian", "spherical", "equiangular")
#: Root attributes every Well file has (a simulation parameter may not take one of these names).
ROOT_ATTRS = frozenset({"dataset_name", "grid_type", "n_spatial_dims", "n_trajectories", "simulation_parameters"})


def dataset_axes(ds: "xr.Dataset") -> list[str]:
    """Spatial axes of a walrus-layout Dataset: the ``spatial_dims`` attribute, else inferred from dims."""
    if "spatial_dims" in ds.attrs:
        return str(ds.attrs["spatial_dims"]).split()
    skip = {SAMPLE_DIM, TIME_DIM, *COMPONENT_DIMS}
    axes: list[str] = []
    for v in ds.data_vars.values():
        for d in v.dims:
            if d not in skip and d not in axes:
                axes.append(d)
    return axes


def dataset_boundaries(ds: "xr.Dataset", axes: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Boundary codes from the ``bc_<axis>`` attributes; BoundaryError if one is missing or bad."""
    return parse_boundaries({a: ds.attrs[f"bc_{a}"] for a in axes if f"bc_{a}" in ds.attrs}, axes)
