"""Acoustics: linear sound waves in heterogeneous media.

Fields follow the release vocabulary. The medium's density is a *material* property here, not a
flow state, so the model sees it in the release's ``zeros_like_density`` slot (the release's
transform for its acoustic sets) rather than the ``density`` slot of compressible flows.
"""

from __future__ import annotations

from walrus.hooks import BoundarySpec, DatasetSpec, FieldSpec, hookimpl
from walrus_plugins._well import well_datasets

DOMAIN = "acoustics"


def _generate(**kw):
    from walrus.data.generators import acoustics

    return acoustics.generate(**kw)


def _generate_3d(**kw):
    from walrus.data.generators import acoustics_3d

    return acoustics_3d.generate(**kw)


@hookimpl
def walrus_fields():
    return [
        FieldSpec("pressure", 0, "Pa", "pressure", "acoustic pressure perturbation"),
        FieldSpec("velocity", 1, "m s-1", "velocity", "particle velocity"),
        FieldSpec("density", 0, "kg m-3", "density", "mass density"),
        FieldSpec("zeros_like_density", 0, "kg m-3", "zeros_like_density",
                  "density of an acoustic medium, in the release's slot for it", source="density"),
        FieldSpec("speed_of_sound", 0, "m s-1", "speed_of_sound", "local speed of sound of the medium"),
        FieldSpec("pressure_re", 0, "Pa", "pressure_re", "real part of a time-harmonic pressure"),
        FieldSpec("pressure_im", 0, "Pa", "pressure_im", "imaginary part of a time-harmonic pressure"),
        FieldSpec("mask", 0, "1", "mask", "1 inside solid obstacles, 0 in the medium"),
    ]


@hookimpl
def walrus_boundaries():
    return [
        BoundarySpec("reflecting", "WALL", "sound-hard wall: normal velocity vanishes",
                     solver_names={"clawpack": "wall"}),
        BoundarySpec("absorbing", "OPEN", "waves leave the domain (zero-order extrapolation)",
                     solver_names={"clawpack": "extrap"}),
    ]


_ACOUSTIC_WELL = dict(fields=("pressure", "velocity"), constant_fields=("density", "speed_of_sound"),
                      boundary_conditions={"x": "reflecting", "y": "absorbing"},
                      transforms={"density": "zeros_like_density"})


@hookimpl
def walrus_datasets():
    return [
        DatasetSpec(
            name="acoustics_inclusions_pyclaw", domain=DOMAIN, fields=("pressure", "velocity"),
            constant_fields=("density", "speed_of_sound"),
            boundary_conditions={"x": "reflecting", "y": "absorbing"},
            transforms={"density": "zeros_like_density"}, generator=_generate,
            solver="PyClaw vc_acoustics_2D (clawpack)",
            description="pressure pulses crossing random circular inclusions"),
        DatasetSpec(
            name="acoustics_inclusions_3d_pyclaw", domain=DOMAIN, ndim=3, fields=("pressure", "velocity"),
            constant_fields=("density", "speed_of_sound"),
            boundary_conditions={"x": "reflecting", "y": "reflecting", "z": "absorbing"},
            transforms={"density": "zeros_like_density"}, generator=_generate_3d,
            solver="PyClaw vc_acoustics_3D (clawpack, unsplit with transverse corrections)",
            description="pressure pulses crossing random spherical inclusions in a duct open at both ends",
            defaults={"n_traj": 8, "res": 32, "steps": 40}),
        *well_datasets(DOMAIN, {
            "acoustic_scattering_maze": _ACOUSTIC_WELL,
            "acoustic_scattering_inclusions": _ACOUSTIC_WELL,
            "acoustic_scattering_discontinuous": _ACOUSTIC_WELL,
            "helmholtz_staircase": dict(fields=("pressure_re", "pressure_im"), constant_fields=("mask",),
                                        boundary_conditions={"x": "OPEN", "y": "WALL"}),
        }),
    ]
