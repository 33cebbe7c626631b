"""Physics sanity of each solver's output: what the numerical method guarantees, it must show."""

from __future__ import annotations

import numpy as np

from walrus.data.generators.acoustics import acoustic_energy
from walrus.data.generators.mhd import ALFVEN_UNIT_TESLA


def _spectral_divergence(v, length=1.0):
    """div v of a periodic (n_traj, T, X, Y, 2) field by FFT, exact for Fourier-spectral data."""
    n = v.shape[2]
    k = 2 * np.pi * np.fft.fftfreq(n, d=length / n)
    vx, vy = (np.fft.fft2(v[..., i], axes=(2, 3)) for i in range(2))
    return np.fft.ifft2(1j * k[:, None] * vx + 1j * k[None, :] * vy, axes=(2, 3)).real


def _totals(a):
    return a.sum(axis=(2, 3))


def _assert_constant_in_time(series, rtol=0.0, atol=0.0):
    """Each trajectory's (n_traj, T) series equals its first value."""
    np.testing.assert_allclose(series, np.broadcast_to(series[:, :1], series.shape), rtol=rtol, atol=atol)


def test_acoustic_energy_is_bounded_by_its_initial_value(runs):
    d = runs.arrays("acoustics_inclusions_pyclaw")
    cell = (d.dimensions["x"][1] - d.dimensions["x"][0]) ** 2
    energy = acoustic_energy(d.fields["pressure"], d.fields["velocity"], d.constant_fields["density"][:, None],
                             d.constant_fields["speed_of_sound"][:, None], cell)
    assert (energy > 0).all()
    assert (energy <= energy[:, :1] * (1 + 1e-9)).all()  # walls reflect, open sides let energy out
    assert np.abs(d.fields["velocity"][:, 0]).max() == 0.0  # released from rest
    assert np.abs(d.fields["velocity"][:, -1]).max() > 0.01  # and the pulses moved


def test_euler_conserves_mass_momentum_and_energy_on_the_periodic_box(runs):
    d = runs.arrays("euler_blast_pyclaw")
    for field in ("density", "energy"):
        total = _totals(d.fields[field])
        _assert_constant_in_time(total, rtol=1e-12)
    momentum = _totals(d.fields["momentum"].sum(-1))
    _assert_constant_in_time(momentum, atol=1e-10 * _totals(d.fields["density"]).max())
    assert (d.fields["density"] > 0).all() and (d.fields["pressure"] > 0).all()
    gamma = d.scalars["gamma"]
    kinetic = 0.5 * (d.fields["momentum"] ** 2).sum(-1) / d.fields["density"]
    np.testing.assert_allclose(d.fields["pressure"], (gamma - 1) * (d.fields["energy"] - kinetic), rtol=1e-12)


def test_shallow_water_keeps_its_volume_between_walls(runs):
    d = runs.arrays("shallow_water_pyclaw")
    volume = _totals(d.fields["height"])
    _assert_constant_in_time(volume, rtol=1e-12)
    assert (d.fields["height"] > 0).all()
    assert np.abs(d.fields["velocity"][:, -1]).max() > 0.01


def test_shear_flow_is_divergence_free_and_conserves_tracer(runs):
    d = runs.arrays("shear_flow_dedalus")
    v = d.fields["velocity"]
    assert np.abs(_spectral_divergence(v)).max() < 1e-10 * np.abs(v).max() * v.shape[2]
    tracer = d.fields["tracer"].mean(axis=(2, 3))
    _assert_constant_in_time(tracer, atol=1e-12)
    t0 = d.fields["tracer"][:, :1]
    spread = t0.max() - t0.min()  # advection-diffusion: no new extrema (up to spectral ringing)
    assert d.fields["tracer"].max() <= t0.max() + 0.05 * spread and d.fields["tracer"].min() >= t0.min() - 0.05 * spread
    kinetic = 0.5 * (v**2).sum(-1).mean(axis=(2, 3))
    assert (np.diff(kinetic, axis=1) <= 1e-12).all()  # no forcing: viscosity only removes energy


def test_mhd_keeps_both_fields_solenoidal_and_dissipates_energy(runs):
    d = runs.arrays("mhd_orszag_tang_dedalus")
    for field in ("velocity", "magnetic_field"):
        v = d.fields[field]
        assert np.abs(_spectral_divergence(v)).max() < 1e-10 * np.abs(v).max() * v.shape[2], field
    b = d.fields["magnetic_field"] / ALFVEN_UNIT_TESLA  # stored in tesla; the energy budget is in Alfven units
    energy = 0.5 * ((d.fields["velocity"] ** 2).sum(-1) + (b ** 2).sum(-1)).mean(axis=(2, 3))
    assert (np.diff(energy, axis=1) <= 1e-12).all()
    magnetic = 0.5 * (b ** 2).sum(-1).mean(axis=(2, 3))
    ratio = magnetic[:, 0] / (energy[:, 0] - magnetic[:, 0])  # Orszag-Tang: comparable energies, in the same units
    assert ((0.05 < ratio) & (ratio < 20)).all()


def test_oldroyd_b_conformation_stays_symmetric_positive_definite(runs):
    d = runs.arrays("oldroyd_b_kolmogorov_dedalus")
    v, c = d.fields["velocity"], d.fields["C"]
    assert np.abs(_spectral_divergence(v, length=2 * np.pi)).max() < 1e-10 * np.abs(v).max() * v.shape[2]
    np.testing.assert_allclose(c[..., 0, 1], c[..., 1, 0], atol=1e-9 * np.abs(c).max())
    np.testing.assert_array_equal(c[:, 0], np.broadcast_to(np.eye(2), c[:, 0].shape))  # starts relaxed
    assert (np.linalg.det(c) > 0).all() and (np.trace(c, axis1=-2, axis2=-1) > 0).all()
    assert c[..., 0, 0].max() > 1.5  # the flow stretched the polymers


def test_gray_scott_concentrations_stay_in_range_and_patterns_grow(runs):
    d = runs.arrays("gray_scott_pypde")
    a, b = d.fields["A"], d.fields["B"]
    assert a.min() >= 0 and a.max() <= 1 + 1e-12 and b.min() >= -1e-12
    seeded = (b[:, 0] > 0.1).mean(axis=(1, 2))
    grown = (b[:, -1] > 0.1).mean(axis=(1, 2))
    assert (grown != seeded).all()  # the reaction front moved
    assert set(d.trajectory_parameters) == {"F", "k"}


def test_augmented_solver_output_keeps_the_solver_invariants(runs):
    """Rotated and reflected MHD states are still solenoidal, with the same energy: valid training data."""
    from walrus.data.augment import augment, symmetry_group
    from walrus.plugins import get_registry

    reg = get_registry()
    d = runs.arrays("mhd_orszag_tang_dedalus")
    fields = {name: d.fields[name][:, -1:] for name in ("velocity", "magnetic_field", "pressure")}
    fields["magnetic_field"] = fields["magnetic_field"] / ALFVEN_UNIT_TESLA  # Alfven units: both terms count
    rules = {name: reg.rule(name) for name in fields}
    energy = sum((fields[n] ** 2).sum() for n in ("velocity", "magnetic_field"))
    for r in symmetry_group(2):
        out, bcs = augment(fields, r, rules, boundary_conditions=[[2, 2], [2, 2]])
        for name in ("velocity", "magnetic_field"):
            v = out[name]
            assert np.abs(_spectral_divergence(v)).max() < 1e-10 * np.abs(v).max() * v.shape[2], (name, r)
        np.testing.assert_allclose(sum((out[n] ** 2).sum() for n in ("velocity", "magnetic_field")), energy)
        assert bcs.tolist() == [[2, 2], [2, 2]]
