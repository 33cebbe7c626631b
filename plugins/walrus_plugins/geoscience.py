"""Geoscience: shallow-water flows of oceans, lakes and atmospheres."""

from __future__ import annotations

from walrus.hooks import BoundarySpec, DatasetSpec, FieldSpec, hookimpl
from walrus_plugins._well import well_datasets

DOMAIN = "geoscience"


def _generate(**kw):
    from walrus.data.generators import shallow_water

    return shallow_water.generate(**kw)


@hookimpl
def walrus_fields():
    return [
        FieldSpec("height", 0, "m", "height", "water column height (depth)"),
        FieldSpec("velocity", 1, "m s-1", "velocity", "depth-averaged horizontal velocity"),
    ]


@hookimpl
def walrus_boundaries():
    return [BoundarySpec("coast", "WALL", "a vertical shore: no flow through it", solver_names={"clawpack": "wall"})]


@hookimpl
def walrus_datasets():
    return [
        DatasetSpec(
            name="shallow_water_pyclaw", domain=DOMAIN, fields=("height", "velocity"),
            boundary_conditions={"x": "coast", "y": "coast"}, generator=_generate,
            solver="PyClaw shallow_roe_with_efix_2D (clawpack)",
            description="mounds and dips of water spreading in a closed 10 m basin"),
        *well_datasets(DOMAIN, {
            "planetswe": dict(axes=("theta", "phi"), grid_type="equiangular", fields=("height", "velocity"),
                              boundary_conditions={"theta": "OPEN", "phi": "PERIODIC"}),
        }),
    ]
