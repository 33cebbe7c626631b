"""Fluids: incompressible and buoyancy-driven flows, plus The Well's soft-matter and reaction-diffusion sets."""

from __future__ import annotations

from walrus.hooks import BoundarySpec, DatasetSpec, FieldSpec, hookimpl
from walrus_plugins._well import well_datasets

DOMAIN = "fluids"


def _generate_shear_flow(**kw):
    from walrus.data.generators import shear_flow

    return shear_flow.generate(**kw)


def _generate_gray_scott(**kw):
    from walrus.data.generators import gray_scott

    return gray_scott.generate(**kw)


@hookimpl
def walrus_fields():
    return [
        FieldSpec("velocity", 1, "m s-1", "velocity", "flow velocity"),
        FieldSpec("pressure", 0, "Pa", "pressure", "pressure (incompressible flows: kinematic pressure x a density)"),
        FieldSpec("tracer", 0, "1", "tracer", "passive scalar concentration"),
        FieldSpec("buoyancy", 0, "m s-2", "buoyancy", "buoyancy acceleration"),
        FieldSpec("density", 0, "kg m-3", "density", "mass density"),
        FieldSpec("concentration", 0, "1", "concentration", "active-particle concentration"),
        FieldSpec("D", 2, "1", "D", "orientation tensor of active particles"),
        FieldSpec("E", 2, "1", "E", "strain-rate tensor"),
        FieldSpec("A", 0, "1", "A", "Gray-Scott species A"),
        FieldSpec("B", 0, "1", "B", "Gray-Scott species B"),
    ]


@hookimpl
def walrus_boundaries():
    """The generic treatment of each kind, named after it, with what the adapters' codes call it.

    Adapters translate a solver's own boundary names only through such declarations; a domain
    adds its own (the acoustics plugin's ``absorbing``, a third-party sponge layer, ...).
    """
    return [
        BoundarySpec("wall", "WALL", "a closed side: reflecting for waves, no flux for diffusion",
                     solver_names={"clawpack": "wall", "py-pde": "neumann"}),
        BoundarySpec("fixed_value", "WALL", "a side held at a given value (Dirichlet), as at heated plates",
                     solver_names={"py-pde": "dirichlet"}),
        BoundarySpec("open", "OPEN", "waves and flow leave the domain (zero-order extrapolation)",
                     solver_names={"clawpack": "extrap"}),
        BoundarySpec("periodic", "PERIODIC", "the domain wraps around",
                     solver_names={"clawpack": "periodic", "py-pde": "periodic", "dedalus": "Fourier"}),
    ]


@hookimpl
def walrus_datasets():
    return [
        DatasetSpec(
            name="shear_flow_dedalus", domain=DOMAIN, fields=("tracer", "pressure", "velocity"),
            boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}, generator=_generate_shear_flow,
            solver="Dedalus 3 (Fourier spectral, RK443)",
            description="two periodic shear layers rolling up (Kelvin-Helmholtz) with a tracer"),
        DatasetSpec(
            name="gray_scott_pypde", domain=DOMAIN, fields=("A", "B"),
            boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}, generator=_generate_gray_scott,
            solver="py-pde (finite differences, explicit Euler, numpy backend)",
            description="Gray-Scott reaction-diffusion patterns growing from random seeds"),
        *well_datasets(DOMAIN, {
            "shear_flow": dict(fields=("tracer", "pressure", "velocity"),
                               boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}),
            "rayleigh_benard": dict(fields=("buoyancy", "pressure", "velocity"),
                                    boundary_conditions={"x": "PERIODIC", "y": "WALL"}),
            "rayleigh_benard_uniform": dict(fields=("buoyancy", "pressure", "velocity"),
                                            boundary_conditions={"x": "PERIODIC", "y": "WALL"}),
            "rayleigh_taylor_instability": dict(ndim=3, fields=("density", "velocity"),
                                                boundary_conditions={"x": "PERIODIC", "y": "PERIODIC",
                                                                     "z": "WALL"}),
            "active_matter": dict(fields=("concentration", "velocity", "D", "E"),
                                  boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}),
            "gray_scott_reaction_diffusion": dict(fields=("A", "B"),
                                                  boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}),
        }),
    ]
