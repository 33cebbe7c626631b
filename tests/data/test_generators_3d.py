"""The 3-D generated datasets: real PyClaw runs, tiny, checked for physics, Well files and the training batch path."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from walrus.cli import app
from walrus.data.generators import acoustics_3d
from walrus.data.generators.pipeline import check_generated, generate_dataset, unit_scaling_of
from walrus.data.well_dataset import WellWindowDataset
from walrus.io import check_well_file, read_well_file
from walrus.io.well_reader import effective_boundaries
from walrus.model.vocabulary import RELEASE_FIELD_NAMES
from walrus.plugins import get_registry
from walrus.train.batching import collate, dataset_layout
from walrus.units import format_units

EULER, ACOUSTICS = "euler_blast_3d_pyclaw", "acoustics_inclusions_3d_pyclaw"
NAMES = (EULER, ACOUSTICS)
TINY = {"n_traj": 3, "res": 12, "steps": 5}  # three trajectories: one per split
CODES = {"WALL": 0, "OPEN": 1, "PERIODIC": 2}


@pytest.fixture(scope="module")
def arrays():
    """One tiny run of each 3-D generator, straight from the solver (float64)."""
    reg = get_registry()
    return {name: reg.dataset(name).generator(seed=0, **TINY) for name in NAMES}


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """The same runs written by the pipeline, as `walrus generate` writes them."""
    out = tmp_path_factory.mktemp("gen3d")
    return {name: generate_dataset(name, out, seed=0, progress=False, **TINY) for name in NAMES}


def _totals(a):
    """Sum over the three spatial axes of (n_traj, T, X, Y, Z[, C])."""
    return a.sum(axis=(2, 3, 4))


def test_3d_datasets_are_listed_and_registered_in_their_domains():
    listing = CliRunner().invoke(app, ["generate", "--list"])
    assert listing.exit_code == 0, listing.output
    reg = get_registry()
    for name, domain in ((EULER, "astrophysics"), (ACOUSTICS, "acoustics")):
        assert name in listing.output
        spec = reg.dataset(name)
        assert (spec.domain, spec.ndim, spec.axes, spec.source) == (domain, 3, ("x", "y", "z"), "generated")
        assert reg.owner("dataset", name) == f"walrus_plugins.{domain}"
        assert spec.defaults["n_traj"] >= 8 and spec.defaults["steps"] >= 40 and spec.defaults["res"] == 32
        for field in (*spec.fields, *spec.constant_fields):
            reg.field(field)  # every field is declared (raises when not)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_ranks_and_units_pass_the_pipeline_checks(arrays, name):
    reg, data = get_registry(), arrays[name]
    spec = reg.dataset(name)
    check_generated(spec, data, reg, TINY["n_traj"], TINY["steps"])
    r = TINY["res"]
    for field, values in data.fields.items():
        rank = reg.field(field).rank
        assert values.shape == (TINY["n_traj"], TINY["steps"], r, r, r) + (3,) * rank, field
        assert np.isfinite(values).all(), field
    for field, values in data.constant_fields.items():
        assert values.shape == (TINY["n_traj"], r, r, r), field
    assert set(data.units) == {*spec.fields, *spec.constant_fields, *spec.axes, "time", *data.scalars,
                               *data.trajectory_parameters}
    assert data.units["z"] == "m" and "L0 = 1 m" in data.unit_scaling
    np.testing.assert_allclose(data.dimensions["z"], (np.arange(r) + 0.5) / r)


def test_euler_conserves_mass_momentum_and_energy_on_the_periodic_box(arrays):
    d = arrays[EULER]
    for field in ("density", "energy"):
        total = _totals(d.fields[field])
        np.testing.assert_allclose(total, np.broadcast_to(total[:, :1], total.shape), rtol=1e-12)
    momentum = _totals(d.fields["momentum"])  # (n_traj, T, 3)
    scale = _totals(d.fields["density"]).max()
    np.testing.assert_allclose(momentum, np.broadcast_to(momentum[:, :1], momentum.shape), atol=1e-12 * scale)
    assert (d.fields["density"] > 0).all() and (d.fields["pressure"] > 0).all()
    gamma = d.trajectory_parameters["gamma"][:, None, None, None, None]
    kinetic = 0.5 * (d.fields["momentum"] ** 2).sum(-1) / d.fields["density"]
    np.testing.assert_allclose(d.fields["pressure"], (gamma - 1) * (d.fields["energy"] - kinetic), rtol=1e-12)
    assert set(np.round(d.trajectory_parameters["gamma"], 6)) <= {round(5 / 3, 6), 1.4}
    speed = np.abs(d.fields["momentum"] / d.fields["density"][..., None])
    assert speed[:, -1].max() > 2 * speed[:, 0].max()  # the blasts set the gas moving


def test_acoustic_energy_never_grows_and_the_pulses_move(arrays):
    d = arrays[ACOUSTICS]
    rho, c = d.constant_fields["density"], d.constant_fields["speed_of_sound"]
    energy = acoustics_3d.acoustic_energy(d.fields["pressure"], d.fields["velocity"], rho[:, None], c[:, None],
                                          TINY["res"] ** -3.0)
    assert (energy > 0).all()
    assert (energy <= energy[:, :1] * (1 + 1e-9)).all()  # walls reflect, open ends let energy out
    assert np.abs(d.fields["velocity"][:, 0]).max() == 0.0  # released from rest
    assert np.abs(d.fields["velocity"][:, -1]).max() > 0.01
    assert (rho >= 0.5).all() and (rho <= 4).all() and (c >= 0.5).all() and (c <= 2).all()
    assert ((rho != 1) | (c != 1)).any(axis=(1, 2, 3)).all()  # every medium has inclusions


def test_full_length_acoustic_runs_lose_their_energy():
    """40 frames at 16^3: with corner transport at Courant 0.8 the medium of trajectory 4 gained 1e8 x its energy."""
    d = get_registry().dataset(ACOUSTICS).generator(n_traj=5, res=16, steps=40, seed=0)
    energy = acoustics_3d.acoustic_energy(d.fields["pressure"], d.fields["velocity"],
                                          d.constant_fields["density"][:, None],
                                          d.constant_fields["speed_of_sound"][:, None], 16**-3.0)
    assert (energy <= energy[:, :1] * (1 + acoustics_3d.ENERGY_GROWTH_LIMIT)).all()
    assert (energy[:, -1] < 0.5 * energy[:, 0]).all()  # the open ends let most of it out


def test_an_unstable_acoustics_run_is_refused_not_written(monkeypatch):
    """Corner transport at Courant 0.8 (PyClaw's 3-D default method, pushed) blows up on trajectory 4."""
    monkeypatch.setattr(acoustics_3d, "TRANSVERSE_WAVES", 22)
    monkeypatch.setattr(acoustics_3d, "CFL_DESIRED", 0.8)
    monkeypatch.setattr(acoustics_3d, "CFL_MAX", 0.9)
    with pytest.raises(FloatingPointError, match="gained energy"):
        acoustics_3d.generate(n_traj=5, res=16, steps=40, seed=0)


def test_full_length_euler_runs_stay_positive_and_conservative():
    d = get_registry().dataset(EULER).generator(n_traj=3, res=16, steps=40, seed=0)
    assert (d.fields["density"] > 0).all() and (d.fields["pressure"] > 0).all()
    for field in ("density", "energy"):
        total = _totals(d.fields[field])
        np.testing.assert_allclose(total, np.broadcast_to(total[:, :1], total.shape), rtol=1e-12)
    assert d.fields["density"].max() < 4 * d.fields["density"][:, 0].max()  # compressed, not oscillating


def test_acoustic_walls_reflect_where_open_ends_transmit():
    """The same pulse at a wall (x) and at an open end (z), in a uniform medium: the wall keeps the energy."""
    from walrus.data.generators._grid import cell_centres

    x = cell_centres(0.0, 1.0, 16)
    xx, yy, zz = np.meshgrid(x, x, x, indexing="ij")
    kept = {}
    for axis, grid in (("x", xx), ("z", zz)):
        p0 = np.exp(-((grid - 0.3) ** 2) / 0.1**2)  # a plane pulse across `axis`
        kept[axis] = _run_uniform_acoustics(p0, times=np.array([0.0, 1.2]))
    assert kept["x"] > 0.5 and kept["z"] < 1e-3  # by t = 1.2 both halves of the pulse reached both ends


def _run_uniform_acoustics(p0, times):
    """Energy left at times[-1] over the start, with the generator's solver set-up on a uniform medium."""
    from walrus.data.generators._pyclaw import evolve_frames, import_pyclaw

    pyclaw, riemann = import_pyclaw()
    n = p0.shape[0]
    solver = pyclaw.ClawSolver3D(riemann.vc_acoustics_3D)
    solver.dimensional_split = False
    solver.transverse_waves = acoustics_3d.TRANSVERSE_WAVES
    solver.limiters = pyclaw.limiters.tvd.MC
    solver.cfl_desired, solver.cfl_max = acoustics_3d.CFL_DESIRED, acoustics_3d.CFL_MAX
    for axis, bc in enumerate((pyclaw.BC.wall, pyclaw.BC.wall, pyclaw.BC.extrap)):
        solver.bc_lower[axis] = solver.bc_upper[axis] = bc
        solver.aux_bc_lower[axis] = solver.aux_bc_upper[axis] = pyclaw.BC.extrap
    domain = pyclaw.Domain([pyclaw.Dimension(0.0, 1.0, n, name=a) for a in ("x", "y", "z")])
    state = pyclaw.State(domain, 4, 2)
    state.aux[0], state.aux[1] = 1.0, 1.0
    state.q[0], state.q[1:4] = p0, 0.0
    frames = evolve_frames(solver, pyclaw.Solution(state, domain), times,
                           lambda s: {"p": s.q[0].copy(), "u": np.moveaxis(s.q[1:4], 0, -1).copy()}, lambda k: None)
    ones = np.ones_like(p0)
    energy = acoustics_3d.acoustic_energy(frames["p"], frames["u"], ones, ones, 1.0)
    return energy[-1] / energy[0]


@pytest.mark.parametrize("name", NAMES)
def test_a_seed_gives_the_same_run_and_trajectories_do_not_depend_on_n_traj(name):
    gen = get_registry().dataset(name).generator
    kw = {"res": 8, "steps": 3}
    a, b, c = gen(n_traj=2, seed=7, **kw), gen(n_traj=1, seed=7, **kw), gen(n_traj=1, seed=8, **kw)
    for field in a.fields:
        np.testing.assert_array_equal(a.fields[field][:1], b.fields[field])
    field = next(iter(a.fields))
    assert not np.array_equal(a.fields[field][0, -1], c.fields[field][0, -1])
    assert not np.array_equal(a.fields[field][0, -1], a.fields[field][1, -1])  # trajectories differ


@pytest.mark.parametrize("name", NAMES)
def test_written_files_pass_the_checks_and_keep_the_splits_apart(arrays, roots, name):
    reg = get_registry()
    spec, data = reg.dataset(name), arrays[name]
    files = {s: sorted((roots[name] / "data" / s).glob("*.hdf5")) for s in ("train", "valid", "test")}
    assert all(files.values()) and (roots[name] / "stats.yaml").is_file()
    first_frames = []
    for split, paths in files.items():
        for path in paths:
            check_well_file(path)
            ds = read_well_file(path)
            assert unit_scaling_of(path) == data.unit_scaling.strip()
            for field in (*spec.fields, *spec.constant_fields):
                assert ds[field].attrs["units"] == format_units(data.units[field])
                assert ds[field].sizes["z"] == TINY["res"]
            with h5py.File(path, "r") as f:
                assert effective_boundaries(f) == {a: (CODES[k], CODES[k])
                                                   for a, k in reg.dataset_boundary_kinds(name).items()}
            first = np.asarray(ds[spec.fields[0]].isel(time=0))
            first_frames += [first[i] for i in range(first.shape[0])]
    assert len(first_frames) == TINY["n_traj"]  # one trajectory per split, each in exactly one file
    for i in range(len(first_frames)):
        for j in range(i):
            assert not np.array_equal(first_frames[i], first_frames[j])


def test_boundary_kinds_follow_the_declarations():
    reg = get_registry()
    assert reg.dataset_boundary_kinds(EULER) == {"x": "PERIODIC", "y": "PERIODIC", "z": "PERIODIC"}
    assert reg.dataset_boundary_kinds(ACOUSTICS) == {"x": "WALL", "y": "WALL", "z": "OPEN"}


@pytest.mark.parametrize("name", NAMES)
def test_written_files_batch_for_training_in_a_3d_layout(roots, name):
    spec = get_registry().dataset(name)
    ds = WellWindowDataset(roots[name], split="train", n_steps_input=2, n_steps_output=1)
    assert ds.n_spatial_dims == 3 and len(ds) == TINY["steps"] - 2
    layout = dataset_layout(ds, RELEASE_FIELD_NAMES, transforms=spec.transforms)
    batch = collate([ds[0], ds[1]], layout, name)
    r = TINY["res"]
    n_var = sum(3 ** get_registry().field(f).rank for f in spec.fields)
    n_const = len(spec.constant_fields)
    assert layout.n_spatial_dims == 3 and layout.n_variable == n_var
    assert batch.x.shape == (2, 2, n_var + n_const, r, r, r) and batch.future.shape == (1, 2, n_var, r, r, r)
    assert batch.padded_mask.all()  # 3-D vectors fill all three components: nothing is lifted
    assert torch.isfinite(batch.x).all() and torch.isfinite(batch.future).all()
    expected = [[CODES[k]] * 2 for k in get_registry().dataset_boundary_kinds(name).values()]
    assert batch.bcs[0].tolist() == expected
    sample = ds[0]
    channel = layout.names.index(f"{spec.fields[-1]}_z")  # the z component of the vector field
    np.testing.assert_allclose(batch.x[:, 0, channel].numpy(), sample["input_fields"][..., channel].numpy())
    if name == ACOUSTICS:  # the medium's density goes to the release's slot for it
        assert "zeros_like_density" in layout.names and "speed_of_sound" in layout.names
    else:
        assert {"momentum_x", "momentum_y", "momentum_z", "density", "energy", "pressure"} <= set(layout.names)
