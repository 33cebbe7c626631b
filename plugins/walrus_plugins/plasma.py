"""Plasma: magnetohydrodynamics.

The magnetic field is a pseudo-vector (an axial vector: B = curl A). Under a reflection it does
not simply mirror like a velocity; it also changes sign (a factor det R), which this plugin
declares as its rotation/reflection rule.
"""

from __future__ import annotations

from walrus.hooks import DatasetSpec, FieldSpec, SymmetryRule, hookimpl
from walrus_plugins._well import well_datasets

DOMAIN = "plasma"


def _generate(**kw):
    from walrus.data.generators import mhd

    return mhd.generate(**kw)


@hookimpl
def walrus_fields():
    return [
        FieldSpec("magnetic_field", 1, "T", "magnetic_field", "magnetic flux density (a pseudo-vector)"),
        FieldSpec("velocity", 1, "m s-1", "velocity", "plasma velocity"),
        FieldSpec("pressure", 0, "Pa", "pressure", "total (thermal + magnetic) pressure"),
        FieldSpec("density", 0, "kg m-3", "density", "mass density"),
    ]


@hookimpl
def walrus_symmetry_rules():
    return {"magnetic_field": SymmetryRule(rank=1, pseudo=True)}


_PERIODIC3 = {"x": "PERIODIC", "y": "PERIODIC", "z": "PERIODIC"}


@hookimpl
def walrus_datasets():
    return [
        DatasetSpec(
            name="mhd_orszag_tang_dedalus", domain=DOMAIN, fields=("velocity", "magnetic_field", "pressure"),
            boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}, generator=_generate,
            solver="Dedalus 3 (Fourier spectral, RK443, vector potential)",
            description="incompressible 2-D MHD from random Orszag-Tang-like states"),
        *well_datasets(DOMAIN, {
            "MHD_64": dict(ndim=3, fields=("density", "magnetic_field", "velocity"), boundary_conditions=_PERIODIC3),
            "MHD_256": dict(ndim=3, fields=("density", "magnetic_field", "velocity"), boundary_conditions=_PERIODIC3),
        }),
    ]
