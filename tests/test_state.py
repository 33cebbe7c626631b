"""State: validation, units, xarray and model-tensor round trips."""

import numpy as np
import pytest
import torch

from walrus.errors import BoundaryError, FieldError, ShapeError, UnitError, WalrusError
from walrus.fields import Field, default_fieldset
from walrus.model.vocabulary import RELEASE_FIELD_NAMES
from walrus.model.patching import OPEN, PERIODIC, WALL
from walrus.state import State, stack_model_inputs

T, H, W = 3, 8, 6


def make_state(**over):
    rng = np.random.default_rng(0)
    kw = dict(
        fields={"velocity": rng.standard_normal((T, H, W, 2)), "density": 1 + rng.random((T, H, W)),
                "C": rng.standard_normal((T, H, W, 2, 2))},
        time=[0.0, 0.1, 0.2], coords={"x": np.arange(H) * 0.5, "y": np.arange(W) * 0.25},
        boundaries={"x": "periodic", "y": ("WALL", "OPEN")},
        constant_fields={"mask": (rng.random((H, W)) > 0.5).astype(float)}, parameters={"Re": 100.0},
        units={"velocity": "m s-1", "density": "kg m-3", "time": "s", "x": "m", "y": "m"})
    kw.update(over)
    return State(**kw)


def test_construction_normalises_inputs():
    s = make_state()
    assert s.axes == ("x", "y") and s.n_dims == 2 and s.spatial_shape == (H, W) and s.n_steps == T
    assert s.boundaries == {"x": (PERIODIC, PERIODIC), "y": (WALL, OPEN)}
    assert s.units["velocity"] == "m s-1" and s.parameters == {"Re": 100.0}
    assert s.units_of("C") == "1" and s.units_of("density") == "kg m-3"
    assert "velocity" in repr(s)


def test_model_inputs_layout_2d():
    s = make_state()
    mi = s.to_model_inputs(RELEASE_FIELD_NAMES, dtype=torch.float64)
    # Well channel order: rank 0, then 1, then 2; then constants; 2-D lifted to 3-D.
    assert mi.channel_names == ("density", "velocity_x", "velocity_y", "velocity_z",
                                "C_xx", "C_xy", "C_xz", "C_yx", "C_yy", "C_yz", "C_zx", "C_zy", "C_zz", "mask")
    assert mi.field_ids.tolist() == [28, 4, 5, 6, 58, 59, 60, 61, 62, 63, 64, 65, 66, 38]
    assert mi.field_ids.dtype == torch.long
    assert mi.x.shape == (T, 1, 14, H, W, 1) and mi.x.dtype == torch.float64
    assert mi.bcs.tolist() == [[[PERIODIC, PERIODIC], [WALL, OPEN], [PERIODIC, PERIODIC]]]
    assert mi.padded_field_mask.tolist() == [True, True, True, False, True, True, False, True, True, False,
                                             False, False, False]  # time-varying channels, as the release's
    assert mi.layout.real[-1] and mi.inside_mask is not None  # the constant mask channel
    assert mi.n_variable == 13 and mi.n_constant == 1
    x = mi.x[:, 0, ..., 0].numpy()
    np.testing.assert_array_equal(x[:, 0], s.fields["density"])
    np.testing.assert_array_equal(x[:, 2], s.fields["velocity"][..., 1])
    np.testing.assert_array_equal(x[:, 5], s.fields["C"][..., 0, 1])
    np.testing.assert_array_equal(x[:, 7], s.fields["C"][..., 1, 0])
    assert not x[:, ~np.array(mi.layout.real)].any()  # padded components are exactly zero
    for t in range(T):  # constants repeated over time
        np.testing.assert_array_equal(x[t, 13], s.constant_fields["mask"])


def test_model_inputs_3d_without_padding():
    rng = np.random.default_rng(1)
    s = State(fields={"velocity": rng.standard_normal((2, 4, 4, 4, 3))}, time=[0, 1], boundaries={
        "x": "OPEN", "y": "WALL", "z": "PERIODIC"}, coords={a: np.arange(4.0) for a in "xyz"})
    mi = s.to_model_inputs(RELEASE_FIELD_NAMES)
    assert mi.x.shape == (2, 1, 3, 4, 4, 4) and mi.padded_field_mask.all()
    assert mi.bcs.tolist() == [[[OPEN, OPEN], [WALL, WALL], [PERIODIC, PERIODIC]]]
    np.testing.assert_allclose(mi.x[:, 0, 2].numpy(), s.fields["velocity"][..., 2], rtol=1e-6)


def test_other_units_are_converted_for_the_model_and_back():
    ref = make_state()
    kms = make_state(fields={**ref.fields, "velocity": ref.fields["velocity"] / 1000.0},
                     units={**ref.units, "velocity": "km/s"})
    assert kms.units["velocity"] == "km s-1"
    a = ref.to_model_inputs(RELEASE_FIELD_NAMES, dtype=torch.float64).x
    b = kms.to_model_inputs(RELEASE_FIELD_NAMES, dtype=torch.float64).x
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert kms.to_model_units().units["velocity"] == "m s-1"
    back = kms.from_model_tensor(b)
    np.testing.assert_allclose(back.fields["velocity"], kms.fields["velocity"], rtol=1e-12)
    assert back.units["velocity"] == "km s-1"


def test_model_tensor_round_trip_is_exact_in_model_units():
    s = make_state()
    mi = s.to_model_inputs(RELEASE_FIELD_NAMES, dtype=torch.float64)
    back = s.from_model_tensor(mi.x)
    for name in s.fields:
        np.testing.assert_array_equal(back.fields[name], s.fields[name])
    nxt = s.from_model_tensor(mi.x[-1:, :, : mi.n_variable], time=[0.3])
    assert nxt.n_steps == 1 and nxt.time.tolist() == [0.3]
    with pytest.raises(ShapeError, match="does not fit"):
        s.from_model_tensor(torch.zeros(1, 1, 5, H, W, 1))


def test_push_keeps_a_sliding_history():
    s = make_state()
    frame = {n: v[-1] + 1 for n, v in s.fields.items()}
    s2 = s.push(frame, 0.3)
    assert s2.n_steps == T and s2.time.tolist() == [0.1, 0.2, 0.3]
    np.testing.assert_array_equal(s2.fields["density"][-1], frame["density"])
    with pytest.raises(FieldError, match="C: missing"):
        s.push({"velocity": frame["velocity"], "density": frame["density"]}, 0.3)


def test_dataset_round_trip_is_exact_with_units(tmp_path):
    s = make_state()
    ds = s.to_dataset()
    assert ds["velocity"].dims == ("time", "x", "y", "component_i")
    assert ds["C"].dims == ("time", "x", "y", "component_i", "component_j")
    assert ds["velocity"].attrs["units"] == "m s-1" and ds.attrs["bc_y"] == "WALL OPEN"
    back = State.from_dataset(ds)
    assert back.units == s.units and back.boundaries == s.boundaries and back.parameters == s.parameters
    for name in s.fields:
        np.testing.assert_array_equal(back.fields[name], s.fields[name])
    np.testing.assert_array_equal(back.constant_fields["mask"], s.constant_fields["mask"])
    # through netCDF as well
    path = ds.walrus.to_netcdf(tmp_path / "state.nc")
    from walrus.io import open_dataset
    again = State.from_dataset(open_dataset(path))
    assert again.units == s.units
    for name in s.fields:
        np.testing.assert_array_equal(again.fields[name], s.fields[name])


def test_from_quantified_dataset_in_km_per_s():
    s = make_state()
    ds = s.to_dataset().walrus.quantify()
    ds["velocity"] = ds["velocity"].pint.to("km/s")
    st = State.from_dataset(ds)
    assert st.units["velocity"] == "km s-1"
    np.testing.assert_allclose(st.to_model_units().fields["velocity"], s.fields["velocity"], rtol=1e-12)


def test_stack_model_inputs():
    s = make_state()
    s2 = make_state(boundaries={"x": "PERIODIC", "y": "OPEN"})
    mi = stack_model_inputs([s, s2], RELEASE_FIELD_NAMES)
    assert mi.x.shape[1] == 2 and mi.bcs.shape == (2, 3, 2)
    assert mi.bcs[1, 1].tolist() == [OPEN, OPEN]
    other = State(fields={"density": s.fields["density"]}, time=s.time, coords=s.coords, boundaries=s.boundaries)
    with pytest.raises(ShapeError, match="differ"):
        stack_model_inputs([s, other], RELEASE_FIELD_NAMES)


def test_new_field_from_a_fieldset():
    fs = default_fieldset()
    fs.register(Field("vorticity", 0, "s-1"))
    s = make_state(fields={"vorticity": np.ones((T, H, W))}, constant_fields={}, units={"vorticity": "1/min"},
                   fieldset=fs)
    mi = s.to_model_inputs(fs.vocabulary, dtype=torch.float64)
    assert mi.field_ids.tolist() == [67]
    np.testing.assert_allclose(mi.x.numpy(), 1 / 60.0)
    with pytest.raises(FieldError, match="vorticity.*not in the model's vocabulary"):
        s.to_model_inputs(RELEASE_FIELD_NAMES)  # a model without the slot refuses it, naming the field


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("over, error, words", [
    (dict(fields={"velocity": np.zeros((T, H, W))}), FieldError, ["velocity", "rank 1", "(3, 8, 6)"]),
    (dict(fields={"velocity": np.zeros((T, H, W, 3))}), ShapeError, ["velocity", "(3, 8, 6, 2)", "(3, 8, 6, 3)"]),
    (dict(fields={"density": np.zeros((T, H, W + 1))}), ShapeError, ["density", "(3, 8, 6)", "(3, 8, 7)"]),
    (dict(fields={"density": np.zeros((T + 1, H, W))}), ShapeError, ["density", "(3, 8, 6)", "(4, 8, 6)"]),
    (dict(fields={"vorticity": np.zeros((T, H, W))}), FieldError, ["vorticity", "unknown field"]),
    (dict(fields={}), FieldError, ["no time-varying fields"]),
    (dict(units={"velocity": "kg"}), UnitError, ["velocity", "[length] / [time]", "'kg'"]),
    (dict(units={"velocity": "parsecs per fortnight squared blorb"}), UnitError, ["velocity", "cannot parse"]),
    (dict(units={"vorticity": "s-1"}), FieldError, ["vorticity", "unknown name"]),
    (dict(fields={"density": np.full((T, H, W), np.nan)}), ShapeError, ["density", "non-finite", "NaN"]),
    (dict(constant_fields={"mask": np.full((H, W), np.inf)}), ShapeError, ["mask", "infinite"]),
    (dict(boundaries={"x": "PERIODIC", "y": "reflective"}), BoundaryError, ["axis 'y'", "'reflective'", "WALL"]),
    (dict(boundaries={"x": "PERIODIC"}), BoundaryError, ["axis 'y'", "no boundary condition"]),
    (dict(boundaries={"x": ("PERIODIC", "WALL"), "y": "WALL"}), BoundaryError, ["axis 'x'", "one side only"]),
    (dict(boundaries={"x": "PERIODIC", "y": "WALL", "z": "WALL"}), BoundaryError, ["axis 'z'", "unknown axis"]),
    (dict(time=[0.0, 0.2, 0.1]), ShapeError, ["time", "increase"]),
    (dict(parameters={"Re": [1.0, 2.0]}), ShapeError, ["Re", "single number"]),
    (dict(coords={"x": np.zeros((H, 2)), "y": np.arange(W)}), ShapeError, ["x", "1-D"]),
])
def test_bad_input_raises_clear_walrus_errors(over, error, words):
    with pytest.raises(error) as info:
        make_state(**over)
    assert isinstance(info.value, WalrusError)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_require_names_the_missing_field():
    s = make_state()
    assert s.require(["velocity", "density"], ["mask"], ["Re"]) is s
    with pytest.raises(FieldError, match="pressure: missing time-varying field"):
        s.require(["velocity", "pressure"])
    with pytest.raises(FieldError, match="Ma: missing parameter"):
        s.require(parameters=["Ma"])


def test_from_dataset_needs_a_sample_choice():
    s = make_state()
    ds = s.to_dataset().expand_dims(sample=2)
    with pytest.raises(ShapeError, match="several trajectories"):
        State.from_dataset(ds)
    assert State.from_dataset(ds, sample=1).n_steps == T


def test_network_accepts_state_tensors():
    import walrus
    rng = np.random.default_rng(0)
    model = walrus.get_model("walrus-tiny").eval()
    s = State(fields={"velocity": rng.standard_normal((2, 32, 32, 2)), "density": 1 + rng.random((2, 32, 32))},
              time=[0.0, 0.1], coords={"x": np.arange(32.0), "y": np.arange(32.0)},
              boundaries={"x": "PERIODIC", "y": "WALL"}, constant_fields={"mask": np.zeros((32, 32))},
              units={"velocity": "km/s"})
    mi = s.to_model_inputs(RELEASE_FIELD_NAMES)
    with torch.no_grad():
        out = model(mi.x, mi.field_ids, mi.bcs)
    assert out.shape == mi.x.shape
    nxt = s.from_model_tensor(mi.x[-1:] + out[-1:], time=[0.2])
    assert nxt.fields["velocity"].shape == (1, 32, 32, 2) and nxt.units["velocity"] == "km s-1"


def test_zero_frames_are_refused():
    with pytest.raises(ShapeError, match="time: no frames"):
        State(fields={"density": np.ones((0, 4, 4))}, time=np.zeros(0), coords={"x": np.arange(4.0), "y": np.arange(4.0)},
              boundaries={"x": 0, "y": 0})


@pytest.mark.parametrize("units, field", [({"time": "m"}, "time"), ({"x": "s"}, "x"), ({"y": "kg"}, "y")])
def test_time_and_axes_of_the_wrong_dimension_are_refused(units, field):
    with pytest.raises(UnitError) as info:
        make_state(units={"velocity": "m s-1", **units})
    assert info.value.field == field


def test_pint_quantities_keep_their_units():
    from walrus.units import ureg
    rng = np.random.default_rng(1)
    rho = 1 + rng.random((T, H, W))
    s = State(fields={"density": ureg.Quantity(rho, "g cm-3")}, time=ureg.Quantity([0.0, 100.0, 200.0], "ms"),
              coords={"x": ureg.Quantity(np.arange(H) * 0.5, "km"), "y": np.arange(W) * 0.25},
              boundaries={"x": 0, "y": 0}, parameters={"Re": ureg.Quantity(2.0, "1")})
    assert s.units["density"] == "g cm-3" and s.units["time"] == "ms" and s.units["x"] == "km"
    np.testing.assert_allclose(s.to_model_units().fields["density"], rho * 1000.0, rtol=1e-12)
    same = State(fields={"density": ureg.Quantity(rho, "g cm-3")}, time=[0.0, 0.1, 0.2],
                 coords={"x": np.arange(H) * 0.5, "y": np.arange(W) * 0.25}, boundaries={"x": 0, "y": 0},
                 units={"density": "g/cm**3"})  # the same units spelled twice is fine
    assert same.units["density"] == "g cm-3"
    with pytest.raises(UnitError, match="density: units given twice"):
        State(fields={"density": ureg.Quantity(rho, "g cm-3")}, time=[0.0, 0.1, 0.2],
              coords={"x": np.arange(H) * 0.5, "y": np.arange(W) * 0.25}, boundaries={"x": 0, "y": 0},
              units={"density": "kg m-3"})


def test_values_beyond_float32_are_refused_when_they_become_model_tensors():
    s = make_state(fields={"density": np.full((T, H, W), 1e39)}, constant_fields={}, units={"density": "kg m-3"})
    with pytest.raises(ShapeError, match="density: exceeds float32 range"):
        s.to_model_inputs(RELEASE_FIELD_NAMES)
    s.to_model_inputs(RELEASE_FIELD_NAMES, dtype=torch.float64)  # float64 holds them


def test_push_refuses_a_frame_of_the_wrong_shape():
    s = make_state()
    frame = {n: a[-1] for n, a in s.fields.items()}
    with pytest.raises(ShapeError, match="velocity: frame shape mismatch"):
        s.push({**frame, "velocity": frame["velocity"][:-1]}, 0.3)
    assert s.push(frame, 0.3).time[-1] == pytest.approx(0.3)
