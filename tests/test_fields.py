"""Fields, the release vocabulary, registration of new fields, and the unit registry."""

import itertools

import pytest

from walrus.errors import FieldError, UnitError, WalrusError
from walrus.fields import Field, FieldSet, component_names, default_fieldset, lifted_axes
from walrus.model.vocabulary import RELEASE_FIELD_NAMES
from walrus.units import check_compatible, conversion, format_units, parse_units


def test_release_vocabulary_is_built_in():
    fs = default_fieldset()
    assert fs.vocabulary == RELEASE_FIELD_NAMES and len(fs) == 67
    assert fs.ids("velocity") == [4, 5, 6]
    assert fs.ids("density") == [28]
    assert fs.ids("C") == list(range(58, 67))
    assert fs.ids("D") == list(range(10, 19)) and fs.ids("E") == list(range(19, 28))
    assert fs.ids("magnetic_field") == [39, 40, 41]
    assert fs.ids("velocity", ("r", "theta", "phi")) == [30, 31, 32]
    assert fs["velocity"].rank == 1 and fs["C"].rank == 2 and fs["density"].rank == 0


def test_component_names_follow_the_well():
    # The Well: f"{field}_{''.join(p)}" for p in itertools.product(spatial_dims, repeat=order)
    axes = ("x", "y")
    for rank in (0, 1, 2):
        want = [f"C_{''.join(p)}" if p else "C" for p in itertools.product(axes, repeat=rank)]
        assert component_names("C", rank, axes) == want
    assert component_names("C", 2, ("x", "y", "z"))[:4] == ["C_xx", "C_xy", "C_xz", "C_yx"]


def test_register_new_field_takes_next_free_ids():
    fs = default_fieldset()
    fs.register(Field("vorticity", 0, "s-1"))
    assert fs.id("vorticity") == 67
    fs.register(Field("current", 1, "A m-2"))
    assert fs.ids("current") == [68, 69, 70]
    fs.register(Field("vorticity", 0, "s-1"))  # identical redefinition: no-op
    assert len(fs) == 71
    # a field whose components are partly known reuses them
    fs.register(Field("velocity", 1, "m s-1"), axes=("log_r", "theta", "phi"))
    assert fs.ids("velocity", ("log_r", "theta", "phi")) == [52, 31, 32]
    from walrus.plugins import fieldset
    assert fieldset().get("vorticity") is None  # the registry's set was not touched


@pytest.mark.parametrize("field, match", [
    (Field("velocity", 0, "m s-1"), "rank"),
    (Field("velocity", 1, "kg"), "units"),
    (Field("velocity", 1, "km s-1"), "canonical units"),
])
def test_conflicting_redefinition_is_refused(field, match):
    fs = default_fieldset()
    with pytest.raises(FieldError, match=match) as info:
        fs.register(field)
    assert "velocity" in str(info.value) and "expected" in str(info.value) and "received" in str(info.value)


def test_component_name_clash_is_refused():
    fs = default_fieldset()
    with pytest.raises(FieldError, match="component of another field"):
        fs.register(Field("velocity_x", 0, "m s-1"))


def test_unknown_field_and_component_errors_name_them():
    fs = default_fieldset()
    with pytest.raises(FieldError, match="vorticity: unknown field"):
        fs["vorticity"]
    with pytest.raises(FieldError, match="velocity_w"):
        fs.id("velocity_w")


@pytest.mark.parametrize("kwargs, error", [
    (dict(name="bad name", rank=0), FieldError),
    (dict(name="f", rank=3), FieldError),
    (dict(name="f", rank=0, units="furlongs per blorb"), UnitError),
])
def test_invalid_field_definitions(kwargs, error):
    with pytest.raises(error):
        Field(**kwargs)


def test_errors_share_one_base():
    for cls in (FieldError, UnitError):
        assert issubclass(cls, WalrusError) and issubclass(cls, ValueError)


def test_field_units_are_stored_in_cf_spelling():
    assert Field("u", 1, "meter/second").units == "m s-1"
    assert Field("rho", 0, "kg/m**3").units == "kg m-3"
    assert Field("phi", 0).units == "1"


def test_units_helpers():
    assert format_units("km/s") == "km s-1" and parse_units("m s-1") == parse_units("meter / second")
    assert conversion(2.0, "km s-1", "m s-1") == pytest.approx(2000.0)
    with pytest.raises(UnitError, match="velocity: incompatible units.*received 'kg'"):
        check_compatible("kg", "m s-1", field="velocity")


def test_lifted_axes():
    assert lifted_axes(("x", "y")) == ("x", "y", "z")
    assert lifted_axes(("x",)) == ("x", "y", "z")
    assert lifted_axes(("theta", "phi")) == ("theta", "phi", "r")
    assert lifted_axes(("x", "y", "z")) == ("x", "y", "z")
    with pytest.raises(FieldError):
        lifted_axes(("a", "b"))


def test_fieldset_copy_is_independent():
    fs = default_fieldset()
    other = fs.copy()
    other.register(Field("vorticity", 0, "s-1"))
    assert "vorticity" in other and "vorticity" not in fs
    assert isinstance(FieldSet(), FieldSet) and len(FieldSet()) == 67


def test_alias_shares_pretrained_slots():
    fs = default_fieldset()
    fs.register(Field("u", 1, "m s-1"), alias="velocity")
    assert fs.ids("u") == [4, 5, 6] and len(fs) == 67
    fs.register(Field("rho", 0, "kg m-3"), alias="density")
    assert fs.id("rho") == 28
    with pytest.raises(FieldError, match="alias is not in the vocabulary"):
        fs.register(Field("w", 1, "m s-1"), alias="wind")
    with pytest.raises(FieldError, match="conflicting vocabulary slot"):
        fs.register(Field("u", 1, "m s-1"), alias="momentum")
    assert fs.copy().ids("u") == [4, 5, 6]
