"""Astrophysics: compressible (magneto)hydrodynamics of gas in stars and the interstellar medium.

Densities and temperatures there span decades, so the release feeds its 3-D astrophysical sets
to the model as log10 of density and temperature; those derived fields are declared here and
the Well's 3-D sets opt into them.
"""

from __future__ import annotations

from walrus.hooks import DatasetSpec, FieldSpec, hookimpl
from walrus_plugins._well import well_datasets

DOMAIN = "astrophysics"


def _generate(**kw):
    from walrus.data.generators import euler

    return euler.generate(**kw)


def _generate_3d(**kw):
    from walrus.data.generators import euler_3d

    return euler_3d.generate(**kw)


@hookimpl
def walrus_fields():
    return [
        FieldSpec("density", 0, "kg m-3", "density", "mass density"),
        FieldSpec("pressure", 0, "Pa", "pressure", "thermal pressure"),
        FieldSpec("energy", 0, "J m-3", "energy", "total energy per volume"),
        FieldSpec("momentum", 1, "kg m-2 s-1", "momentum", "momentum density"),
        FieldSpec("velocity", 1, "m s-1", "velocity", "flow velocity"),
        FieldSpec("temperature", 0, "K", "temperature", "gas temperature"),
        FieldSpec("internal_energy", 0, "J kg-1", "internal_energy", "specific internal energy"),
        FieldSpec("electron_fraction", 0, "1", "electron_fraction", "electrons per baryon"),
        FieldSpec("entropy", 0, "1", "entropy", "entropy per baryon"),
        FieldSpec("log10_density", 0, "1", "log10_density", "log10 of density in its stored units",
                  source="density", transform="log10"),
        FieldSpec("log10_temperature", 0, "1", "log10_temperature", "log10 of temperature in its stored units",
                  source="temperature", transform="log10"),
    ]


_LOG = {"density": "log10_density", "temperature": "log10_temperature"}
_OPEN3 = {"x": "OPEN", "y": "OPEN", "z": "OPEN"}


@hookimpl
def walrus_datasets():
    return [
        DatasetSpec(
            name="euler_blast_pyclaw", domain=DOMAIN, fields=("density", "energy", "pressure", "momentum"),
            boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}, generator=_generate,
            solver="PyClaw euler_hlle_2D (clawpack)",
            description="supernova-like blast waves in a clumpy periodic gas, gamma = 5/3"),
        DatasetSpec(
            name="euler_blast_3d_pyclaw", domain=DOMAIN, ndim=3, fields=("density", "energy", "pressure", "momentum"),
            boundary_conditions={"x": "PERIODIC", "y": "PERIODIC", "z": "PERIODIC"}, generator=_generate_3d,
            solver="PyClaw euler_3D (clawpack, unsplit with transverse corrections)",
            description="3-D blast waves in a clumpy, stirred periodic gas, gamma 5/3 or 7/5 per trajectory",
            defaults={"n_traj": 8, "res": 32, "steps": 40}),
        *well_datasets(DOMAIN, {
            "euler_multi_quadrants_openBC": dict(fields=("energy", "density", "pressure", "momentum"),
                                                 boundary_conditions={"x": "OPEN", "y": "OPEN"}),
            "euler_multi_quadrants_periodicBC": dict(fields=("energy", "density", "pressure", "momentum"),
                                                     boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}),
            "supernova_explosion_64": dict(ndim=3, fields=("density", "pressure", "temperature", "velocity"),
                                           boundary_conditions=_OPEN3, transforms=_LOG),
            "supernova_explosion_128": dict(ndim=3, fields=("density", "pressure", "temperature", "velocity"),
                                            boundary_conditions=_OPEN3, transforms=_LOG),
            "turbulence_gravity_cooling": dict(ndim=3, fields=("density", "pressure", "temperature", "velocity"),
                                               boundary_conditions=_OPEN3, transforms=_LOG),
            "turbulent_radiative_layer_2D": dict(fields=("density", "pressure", "velocity"),
                                                 boundary_conditions={"x": "PERIODIC", "y": "OPEN"}),
            "turbulent_radiative_layer_3D": dict(ndim=3, fields=("density", "pressure", "velocity"),
                                                 boundary_conditions={"x": "PERIODIC", "y": "PERIODIC",
                                                                      "z": "OPEN"}),
            "convective_envelope_rsg": dict(ndim=3, axes=("r", "theta", "phi"), grid_type="spherical",
                                            fields=("density", "energy", "pressure", "velocity"),
                                            boundary_conditions={"r": "OPEN", "theta": "PERIODIC",
                                                                 "phi": "PERIODIC"}),
            "post_neutron_star_merger": dict(ndim=3, axes=("log_r", "theta", "phi"), grid_type="spherical",
                                             fields=("density", "internal_energy", "pressure", "temperature",
                                                     "electron_fraction", "entropy", "magnetic_field",
                                                     "velocity"),
                                             boundary_conditions={"log_r": "OPEN", "theta": "PERIODIC",
                                                                  "phi": "PERIODIC"}),
        }),
    ]
