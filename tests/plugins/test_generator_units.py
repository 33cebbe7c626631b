"""Generated datasets carry the units their solver really uses: "1", or SI under a written scaling.

A solver in code units must not come out labelled m, s, Pa... unless the generator says what one
code unit is (``GeneratedData.unit_scaling``, written as the files' root attribute).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from walrus.cli import app
from walrus.data.generators.pipeline import SCALING_ATTR, check_generated, unit_scaling_of, write_generated
from walrus.errors import FieldError, UnitError
from walrus.hooks import DatasetSpec, GeneratedData
from walrus.io import read_well_file
from walrus.plugins import get_registry
from walrus.state import State
from walrus.units import format_units, parse_units, ureg

from generated_runs import BUILTIN_GENERATED

def _written_units(path) -> dict[str, str | None]:
    """The ``units`` attribute (None when absent) of every axis, time, field and scalar of a Well file."""
    out = {}
    with h5py.File(path, "r") as f:
        groups = [f["dimensions"], f["scalars"], *(f[g] for g in ("t0_fields", "t1_fields", "t2_fields"))]
        for group in groups:
            for name, ds in group.items():
                u = ds.attrs.get("units")
                out[name] = None if u is None else (u.decode() if isinstance(u, bytes) else str(u))
    return out


def _files(root):
    files = sorted(root.glob("data/*/*.hdf5"))
    assert len(files) >= 3
    return files


@pytest.mark.parametrize("name", BUILTIN_GENERATED)
def test_written_units_are_what_the_generator_declares(runs, name):
    data, root = runs.arrays(name), runs.files(name)
    declared = {n: format_units(u) for n, u in data.units.items()}
    for path in _files(root):
        written = _written_units(path)
        assert {n: u for n, u in written.items() if u is not None} == declared, path.name
        assert unit_scaling_of(path) == (data.unit_scaling.strip() or None)
        assert read_well_file(path).attrs.get("unit_scaling") == unit_scaling_of(path)  # the reader shows it


@pytest.mark.parametrize("name", BUILTIN_GENERATED)
def test_no_dimensional_unit_without_a_declared_scaling(runs, name):
    reg = get_registry()
    spec = reg.dataset(name)
    for path in _files(runs.files(name)):
        written = {n: u for n, u in _written_units(path).items() if u is not None}
        dimensional = sorted(n for n, u in written.items() if not parse_units(u).dimensionless)
        if dimensional:
            assert (unit_scaling_of(path) or "").strip(), f"{path.name}: {dimensional} labelled without a scaling"
        for field in (*spec.fields, *spec.constant_fields):
            if field in written:  # the label is one the model's canonical units can be converted from
                want = parse_units(reg.field(field).units).dimensionality
                assert parse_units(written[field]).dimensionality == want, field


@pytest.mark.parametrize("name", BUILTIN_GENERATED)
def test_builtin_generators_state_the_units_of_everything_they_write(runs, name):
    spec, data = get_registry().dataset(name), runs.arrays(name)
    everything = {*spec.fields, *spec.constant_fields, *spec.axes, "time", *data.scalars,
                  *data.trajectory_parameters}
    assert set(data.units) == everything
    assert data.unit_scaling.strip()


def test_each_generator_states_the_scaling_it_uses(runs):
    """The per-generator decision: Gray-Scott is nondimensional; shallow water is SI-native; the others are
    SI under named scales."""
    gray = runs.arrays("gray_scott_pypde")
    assert {parse_units(u).dimensionless for u in gray.units.values()} == {True}
    assert "nondimensional" in gray.unit_scaling
    for name in ("acoustics_inclusions_pyclaw", "euler_blast_pyclaw", "mhd_orszag_tang_dedalus",
                 "shear_flow_dedalus", "oldroyd_b_kolmogorov_dedalus"):
        d = runs.arrays(name)
        assert d.units["x"] == "m" and d.units["time"] == "s", name
        assert "L0 = 1 m" in d.unit_scaling, name
    mhd = runs.arrays("mhd_orszag_tang_dedalus")
    from walrus.data.generators.mhd import ALFVEN_UNIT_TESLA

    assert mhd.units["magnetic_field"] == "T"
    np.testing.assert_allclose(ALFVEN_UNIT_TESLA, np.sqrt(4e-7 * np.pi), rtol=1e-9)  # sqrt(mu0 x 1 kg m-3) x 1 m/s
    # stored in tesla: order-one Alfven-unit fields are about a millitesla
    assert 1e-4 < np.abs(mhd.fields["magnetic_field"]).max() < 1e-2


@pytest.mark.parametrize("name", BUILTIN_GENERATED)
def test_generated_files_load_into_a_state_with_their_units(runs, name):
    reg = get_registry()
    spec = reg.dataset(name)
    path = _files(runs.files(name))[0]
    state = State.from_dataset(read_well_file(path), fieldset=reg.fieldset)
    data = runs.arrays(name)
    for field in (*spec.fields, *spec.constant_fields):
        assert state.units[field] == format_units(data.units[field])
    model = state.to_model_units()  # every label converts to the field's canonical units
    for field in spec.fields:
        factor = ureg.Quantity(1.0, parse_units(data.units[field])).to(parse_units(reg.field(field).units)).magnitude
        np.testing.assert_allclose(model.fields[field], factor * state.fields[field], rtol=1e-6)


# --------------------------------------------------------------------------------------------
# the pipeline's rules, on a synthetic generator's output
# --------------------------------------------------------------------------------------------

def _spec():
    return DatasetSpec(name="units_probe", domain="test", fields=("pressure",),
                       boundary_conditions={"x": "PERIODIC", "y": "PERIODIC"}, generator=lambda **kw: None)


def _data(**kw) -> GeneratedData:
    rng = np.random.default_rng(0)
    axis = (np.arange(8) + 0.5) / 8
    return GeneratedData(dimensions={"x": axis, "y": axis}, time=np.arange(3) * 0.1,
                         fields={"pressure": rng.normal(size=(3, 3, 8, 8))}, scalars={"gamma": 1.4}, **kw)


def test_dimensional_labels_without_a_scaling_are_refused():
    with pytest.raises(UnitError, match="without a scaling"):
        check_generated(_spec(), _data(units={"pressure": "Pa", "x": "1", "time": "1"}), get_registry(), 3, 3)
    with pytest.raises(UnitError, match="without a scaling"):
        check_generated(_spec(), _data(units={"x": "m", "time": "1"}), get_registry(), 3, 3)


def test_labels_must_fit_the_field_and_name_something_written():
    with pytest.raises(UnitError, match="incompatible"):
        check_generated(_spec(), _data(units={"pressure": "m"}, unit_scaling="L0 = 1 m"), get_registry(), 3, 3)
    with pytest.raises(FieldError, match="does not return"):
        check_generated(_spec(), _data(units={"velocity": "1"}), get_registry(), 3, 3)


def test_declared_units_and_scaling_are_written(tmp_path):
    data = _data(units={"pressure": "Pa", "x": "m", "y": "m", "time": "s", "gamma": "1"},
                 unit_scaling="L0 = 1 m, t0 = 1 s, p0 = 1 Pa")
    check_generated(_spec(), data, get_registry(), 3, 3)
    for path in write_generated(_spec(), data, tmp_path, get_registry()):
        assert _written_units(path) == {"time": "s", "x": "m", "y": "m", "gamma": "1", "pressure": "Pa"}
        assert unit_scaling_of(path) == "L0 = 1 m, t0 = 1 s, p0 = 1 Pa"


def test_a_generator_that_declares_nothing_gets_no_si_labels(tmp_path):
    with pytest.warns(UserWarning, match="declares no units"):
        paths = write_generated(_spec(), _data(), tmp_path, get_registry())
    for path in paths:
        assert set(_written_units(path).values()) == {None}
        with h5py.File(path, "r") as f:
            assert SCALING_ATTR not in f.attrs


def test_cli_reports_the_units_of_what_it_wrote(tmp_path):
    result = CliRunner().invoke(app, ["generate", "gray_scott_pypde", "--out", str(tmp_path), "--n-traj", "3",
                                      "--res", "8", "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert "units: nondimensional" in result.output
