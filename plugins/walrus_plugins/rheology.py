"""Rheology: flows of viscoelastic fluids (polymer solutions).

The polymer conformation tensor C is a symmetric rank-2 tensor; the release has slots for its
nine 3-D components (C_xx ... C_zz) and for the out-of-plane c_zz of 2-D sets.
"""

from __future__ import annotations

from walrus.hooks import DatasetSpec, FieldSpec, hookimpl
from walrus_plugins._well import well_datasets

DOMAIN = "rheology"


def _generate(**kw):
    from walrus.data.generators import oldroyd_b

    return oldroyd_b.generate(**kw)


@hookimpl
def walrus_fields():
    return [
        FieldSpec("C", 2, "1", "C", "polymer conformation tensor (symmetric, positive definite)"),
        FieldSpec("c_zz", 0, "1", "c_zz", "out-of-plane conformation component of a 2-D flow"),
        FieldSpec("velocity", 1, "m s-1", "velocity", "flow velocity"),
        FieldSpec("pressure", 0, "Pa", "pressure", "pressure (incompressible flows: kinematic pressure x a density)"),
    ]


@hookimpl
def walrus_datasets():
    return [
        DatasetSpec(
            name="oldroyd_b_kolmogorov_dedalus", domain=DOMAIN, fields=("pressure", "velocity", "C"),
            boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}, generator=_generate,
            solver="Dedalus 3 (Fourier spectral, RK443)",
            description="Oldroyd-B Kolmogorov flow: polymer stress builds up in a forced shear flow",
            defaults={"n_traj": 5, "res": 64, "steps": 30}),
        *well_datasets(DOMAIN, {
            "viscoelastic_instability": dict(fields=("pressure", "c_zz", "velocity", "C"),
                                             boundary_conditions={"x": "PERIODIC", "y": "WALL"}),
        }),
    ]
