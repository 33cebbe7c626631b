"""The plugin system: built-ins, a plugin defined here, entry points, conflicts, Well datasets on disk."""

from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

import walrus.plugins as plugins
from walrus.cli import app
from walrus.data import augment
from walrus.hooks import BoundarySpec, DatasetSpec, FieldSpec, GeneratedData, SymmetryRule, hookimpl
from walrus.model.vocabulary import RELEASE_FIELD_NAMES

DOMAINS = ("acoustics", "astrophysics", "fluids", "geoscience", "plasma", "rheology")


# ---------------------------------------------------------------------------------------------
# A plugin defined inside the test: a new field and a dataset made by a real solver (scipy)
# ---------------------------------------------------------------------------------------------

def diffuse_vorticity(*, n_traj, res, steps, seed, progress=lambda k: None):
    """Decaying vorticity on a periodic box: the heat equation, method of lines with scipy's RK45."""
    from scipy.integrate import solve_ivp

    x = (np.arange(res) + 0.5) / res
    k = 2 * np.pi * np.fft.fftfreq(res, d=1 / res)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    times = 0.01 * np.arange(steps)
    vort, vel = [], []
    for j in range(n_traj):
        rng = np.random.default_rng([seed, j])
        w0 = np.real(np.fft.ifft2(np.where(k2 < 40**2, rng.normal(size=(res, res)), 0)))

        def rhs(t, w):
            return np.real(np.fft.ifft2(-k2 * np.fft.fft2(w.reshape(res, res)))).ravel() * 0.05

        sol = solve_ivp(rhs, (0, times[-1]), w0.ravel(), t_eval=times, rtol=1e-8, atol=1e-10)
        w = sol.y.T.reshape(steps, res, res)
        psi_hat = np.fft.fft2(w) / np.where(k2 == 0, 1, k2)
        u = np.stack([np.real(np.fft.ifft2(1j * k[None, :] * psi_hat)),
                      np.real(np.fft.ifft2(-1j * k[:, None] * psi_hat))], axis=-1)
        vort.append(w)
        vel.append(u)
        progress(steps)
    return GeneratedData(dimensions={"x": x, "y": x}, time=times,
                         fields={"vorticity": np.stack(vort), "velocity": np.stack(vel)},
                         units={"vorticity": "s-1", "velocity": "m s-1", "x": "m", "y": "m", "time": "s"},
                         unit_scaling="box width L0 = 1 m, time unit 1 s")


class VortexPlugin:
    @hookimpl
    def walrus_fields(self):
        return [FieldSpec("vorticity", 0, "s-1", None, "z-vorticity of a planar flow")]

    @hookimpl
    def walrus_symmetry_rules(self):
        return {"vorticity": SymmetryRule(rank=0, pseudo=True)}

    @hookimpl
    def walrus_boundaries(self):
        return [BoundarySpec("wraparound", "PERIODIC", "the box repeats", mask=lambda n: np.ones(n, dtype=bool))]

    @hookimpl
    def walrus_datasets(self):
        return [DatasetSpec(name="test_decaying_vortices", domain="test", fields=("vorticity", "velocity"),
                            boundary_conditions={"x": "wraparound", "y": "PERIODIC"}, generator=diffuse_vorticity,
                            solver="scipy solve_ivp (RK45)", defaults={"n_traj": 3, "res": 16, "steps": 5})]


@pytest.fixture
def vortex_plugin():
    plugin = VortexPlugin()
    name = plugins.register(plugin, name="vortex-test-plugin")
    yield name
    if plugins.get_plugin_manager().get_plugin(name) is not None:
        plugins.unregister(name=name)


def test_builtins_are_registered_by_the_manager():
    pm = plugins.get_plugin_manager()
    names = {name for name, _ in pm.list_name_plugin()}
    assert {f"walrus_plugins.{d}" for d in DOMAINS} <= names
    reg = plugins.get_registry()
    for domain in DOMAINS:
        generated = [s for s in reg.datasets.values() if s.domain == domain and s.generator is not None]
        assert generated, domain
        assert all(reg.owner("dataset", s.name) == f"walrus_plugins.{domain}" for s in generated)


def test_builtin_fields_map_onto_the_release_vocabulary():
    reg = plugins.get_registry()
    for name, spec in reg.fields.items():
        assert spec.vocabulary is not None, name
        assert set(spec.vocabulary_names(3)) <= set(RELEASE_FIELD_NAMES), name
    assert reg.field("velocity").vocabulary_names(2) == ["velocity_x", "velocity_y"]
    assert reg.field("C").component_names(2) == ["C_xx", "C_xy", "C_yx", "C_yy"]
    # walrus's FieldSet knows them, in the checkpoint's slots
    assert reg.fieldset.ids("velocity", ("x", "y")) == [4, 5]
    assert reg.fieldset.ids("magnetic_field", ("x", "y", "z")) == [39, 40, 41]
    assert reg.fieldset.ids("zeros_like_density") == [RELEASE_FIELD_NAMES.index("zeros_like_density")]


def test_units_are_declared_and_canonical():
    reg = plugins.get_registry()
    assert reg.field("velocity").units == "m s-1"
    assert reg.field("density").units == "kg m-3"
    assert reg.field("height").units == "m"


def test_transforms_and_the_datasets_that_use_them():
    reg = plugins.get_registry()
    log_rho = reg.field("log10_density")
    rho = np.array([1e-3, 1.0, 250.0])
    np.testing.assert_allclose(log_rho.forward(rho), np.log10(rho))
    np.testing.assert_allclose(log_rho.inverse(log_rho.forward(rho)), rho)
    assert reg.model_field("acoustics_inclusions_pyclaw", "density").name == "zeros_like_density"
    assert reg.model_field("euler_blast_pyclaw", "density").name == "density"
    with pytest.raises(ValueError, match="needs a source"):
        FieldSpec("log_p", 0, "1", None, transform="log10")
    with pytest.raises(ValueError, match="transform must be one of"):
        FieldSpec("sqrt_p", 0, "1", None, source="pressure", transform="sqrt")


def test_rotation_rules_default_to_rank_and_can_be_overridden():
    reg = plugins.get_registry()
    assert reg.rule("velocity") == SymmetryRule(rank=1)
    assert reg.rule("C") == SymmetryRule(rank=2)
    assert reg.rule("magnetic_field") == SymmetryRule(rank=1, pseudo=True)
    assert reg.owner("symmetry rule", "magnetic_field") == "walrus_plugins.plasma"


def test_boundaries_map_to_the_three_model_kinds():
    reg = plugins.get_registry()
    assert reg.dataset_boundary_kinds("acoustics_inclusions_pyclaw") == {"x": "WALL", "y": "OPEN"}
    assert reg.dataset_boundary_kinds("shallow_water_pyclaw") == {"x": "WALL", "y": "WALL"}
    assert reg.boundaries["absorbing"].solver_names["clawpack"] == "extrap"
    assert reg.boundaries["coast"].mask(5).tolist() == [True, False, False, False, True]
    with pytest.raises(ValueError, match="kind must be one of"):
        BoundarySpec("sticky", "NOSLIP")
    with pytest.raises(KeyError, match="unknown boundary 'lava'"):
        reg.boundary_kind("lava")


def test_dataset_spec_validation():
    with pytest.raises(ValueError, match="exactly one of generator= or path="):
        DatasetSpec(name="d", domain="x", fields=("pressure",), boundary_conditions={"x": "WALL", "y": "WALL"})
    with pytest.raises(ValueError, match="boundary_conditions must name each axis"):
        DatasetSpec(name="d", domain="x", fields=("pressure",), boundary_conditions={"x": "WALL"},
                    generator=diffuse_vorticity)


def test_local_plugin_field_and_dataset_appear_everywhere(vortex_plugin, tmp_path):
    from the_well.data import WellDataset

    from walrus.io import read_well_file

    reg = plugins.get_registry()
    assert reg.owner("field", "vorticity") == vortex_plugin == reg.owner("dataset", "test_decaying_vortices")
    assert reg.dataset_boundary_kinds("test_decaying_vortices") == {"x": "PERIODIC", "y": "PERIODIC"}
    assert "vorticity" in plugins.fields() and "test_decaying_vortices" in plugins.datasets()
    assert reg.fieldset.ids("vorticity")[0] >= len(RELEASE_FIELD_NAMES)  # a new vocabulary slot

    runner = CliRunner()
    listing = runner.invoke(app, ["generate", "--list"])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert any(line.split("\t")[0] == "test_decaying_vortices" for line in lines)
    assert {line.split("\t")[0] for line in lines} == set(reg.datasets)

    result = runner.invoke(app, ["generate", "test_decaying_vortices", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "test_decaying_vortices"
    ds = read_well_file(next((root / "data" / "train").glob("*.hdf5")))
    assert ds["vorticity"].attrs["units"] == "s-1" and ds["velocity"].shape == (1, 5, 16, 16, 2)
    import h5py
    with h5py.File(next((root / "data" / "train").glob("*.hdf5")), "r") as f:  # masks from the BoundarySpecs
        masks = {name: g["mask"][()] for name, g in f["boundary_conditions"].items()}
    assert sorted(m.tolist() for m in masks.values()) == [[True] + [False] * 14 + [True], [True] * 16]
    well = WellDataset(path=str(root), well_split_name="test", n_steps_input=2, n_steps_output=1)
    assert well.metadata.field_names[0] == ["vorticity"] and len(well) == 3

    # the plugin's rule is what augmentation applies: vorticity is a pseudo-scalar
    w = ds["vorticity"].values[0, -1].astype(np.float64)
    mirror = np.array([[-1, 0], [0, 1]])
    out, _ = augment.augment({"vorticity": w}, mirror, {"vorticity": reg.rule("vorticity")})
    np.testing.assert_array_equal(out["vorticity"], -w[::-1])


def test_unregistering_removes_the_local_plugin(vortex_plugin):
    plugins.unregister(name=vortex_plugin)
    assert "test_decaying_vortices" not in plugins.get_registry().datasets
    assert "vorticity" not in plugins.fields()


class _Redefines:
    def __init__(self, spec):
        self.spec = spec

    @hookimpl
    def walrus_fields(self):
        return [self.spec]


@pytest.mark.parametrize("spec", [FieldSpec("velocity", 0, "m s-1", "velocity"),
                                  FieldSpec("velocity", 1, "km s-1", "velocity"),
                                  FieldSpec("velocity", 1, "m s-1", "momentum")], ids=["rank", "units", "vocabulary"])
def test_conflicting_field_is_refused_naming_both_plugins(spec):
    with pytest.raises(plugins.PluginConflictError) as info:
        plugins.register(_Redefines(spec), name="rival-plugin")
    message = str(info.value)
    assert "'velocity'" in message and "rival-plugin" in message and "walrus_plugins.acoustics" in message
    assert plugins.get_plugin_manager().get_plugin("rival-plugin") is None
    assert plugins.get_registry().field("velocity").rank == 1


def test_identical_definition_in_other_spelling_is_accepted():
    plugin = _Redefines(FieldSpec("velocity", 1, "m/s", "velocity", "another description"))
    plugins.register(plugin, name="agreeing-plugin")
    try:
        assert plugins.get_registry().owner("field", "velocity") == "walrus_plugins.acoustics"
    finally:
        plugins.unregister(plugin)


def test_dataset_with_an_undeclared_field_is_refused():
    class Broken:
        @hookimpl
        def walrus_datasets(self):
            return [DatasetSpec(name="broken", domain="x", fields=("entropy_flux",),
                                boundary_conditions={"x": "OPEN", "y": "OPEN"}, generator=diffuse_vorticity)]

    with pytest.raises(KeyError, match="'broken' \\(plugin 'broken-plugin'\\) uses field 'entropy_flux'"):
        plugins.register(Broken(), name="broken-plugin")
    assert "broken" not in plugins.get_registry().datasets


def test_vocabulary_name_outside_the_release_is_refused():
    with pytest.raises(ValueError, match="vocabulary names that the release does not have"):
        plugins.register(_Redefines(FieldSpec("salinity", 0, "1", "salt")), name="salty-plugin")


# ---------------------------------------------------------------------------------------------
# Third-party plugins through the `walrus` entry-point group (a real installed distribution)
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def installed_plugin(tmp_path):
    (tmp_path / "walrus_test_glaciers.py").write_text(textwrap.dedent('''
        from walrus.hooks import FieldSpec, hookimpl

        @hookimpl
        def walrus_fields():
            return [FieldSpec("ice_thickness", 0, "m", None, "glacier ice thickness")]
    '''))
    info = tmp_path / "walrus_test_glaciers-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: walrus-test-glaciers\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[walrus]\nglaciers = walrus_test_glaciers\n")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    plugins.reload_plugins()
    yield "glaciers"
    sys.path.remove(str(tmp_path))
    sys.modules.pop("walrus_test_glaciers", None)
    importlib.invalidate_caches()
    plugins.reload_plugins()


def test_entry_point_plugins_are_discovered(installed_plugin):
    reg = plugins.get_registry()
    assert reg.owner("field", "ice_thickness") == installed_plugin
    assert reg.field("ice_thickness").units == "m"
    assert "walrus_plugins.fluids" in dict(plugins.get_plugin_manager().list_name_plugin())


# ---------------------------------------------------------------------------------------------
# The Well's own datasets, when on disk
# ---------------------------------------------------------------------------------------------

def test_well_datasets_register_by_name_and_path(well_dir):
    reg = plugins.get_registry()
    spec = reg.dataset("shear_flow")
    assert spec.path == well_dir / "shear_flow" and spec.generator is None and spec.domain == "fluids"
    assert "MHD_64" not in reg.datasets  # not on disk
    listing = CliRunner().invoke(app, ["generate", "--list"]).output.splitlines()
    line = next(x for x in listing if x.startswith("shear_flow\t"))
    assert str(well_dir) in line
    result = CliRunner().invoke(app, ["generate", "shear_flow", "--out", str(well_dir / "out")])
    assert result.exit_code == 2 and "not generated" in result.output


def test_a_hook_returning_the_wrong_type_names_the_plugin():
    class Sloppy:
        @hookimpl
        def walrus_fields(self):
            return [{"name": "salinity", "rank": 0}]

    with pytest.raises(TypeError, match="plugin 'sloppy-plugin': walrus_fields must return FieldSpec objects"):
        plugins.register(Sloppy(), name="sloppy-plugin")
    assert plugins.get_plugin_manager().get_plugin("sloppy-plugin") is None
