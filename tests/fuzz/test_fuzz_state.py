"""Fuzz State construction, its model tensors, boundary parsing and unit parsing under the error contract:
a correct result or a WalrusError naming the culprit, never another exception or a silent inf/NaN."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_helpers import assert_contract, examples
from strategies import BOUNDARY_BAD, BOUNDARY_VALID, UNPARSABLE_UNITS, WRONG_DIMENSION_UNITS, state_cases
from walrus.boundaries import parse_axis
from walrus.errors import BoundaryError, ShapeError, UnitError
from walrus.layout import MODEL_DIMS
from walrus.model.vocabulary import RELEASE_FIELD_NAMES
from walrus.state import State
from walrus.units import check_compatible, format_units, parse_units

# mutations State accepts (they are refused later, when the values meet float32)
MODEL_STAGE = ("huge_f32", "huge_f64")


def _magnitude(v):
    return np.asarray(getattr(v, "magnitude", v), dtype=np.float64)


@settings(max_examples=examples(ci=160))
@given(st.one_of(state_cases(allow_bad=False, t_range=(1, 8)), state_cases()))
def test_state_construction_and_model_tensors(case):
    state_stage = [m for m in case.mutations if not m.endswith(MODEL_STAGE)]
    T, sizes, names = case.info["T"], case.info["sizes"], case.info["names"]

    def check(s: State):
        assert isinstance(s, State)
        assert s.n_steps == T and s.spatial_shape == tuple(sizes)
        for n in names:
            assert s.fields[n].shape[: 1 + len(sizes)] == (T, *sizes)
            assert s.fields[n].dtype in (np.float32, np.float64)

    out = assert_contract(lambda: State(**case.kwargs), check=check, expect=None if state_stage else "ok")
    if state_stage == ["T=0"]:
        assert isinstance(out.error, ShapeError) and out.error.field == "time"
    if state_stage == ["time: wrong-dimension units"]:
        assert isinstance(out.error, UnitError) and out.error.field == "time"
    if out.refused:
        return
    s = out.value
    # a pint Quantity's units are taken, not read as canonical: the model sees magnitude * factor
    canon = s.to_model_units()
    for n, factor in case.info["factors"].items():
        expected = _magnitude(case.kwargs["fields"][n]) * factor
        with np.errstate(over="ignore", invalid="ignore"):
            np.testing.assert_allclose(canon.fields[n], expected, rtol=1e-6)  # float64 conversion
    huge_f32 = [m.split(":")[0] for m in case.mutations if m.endswith("huge_f32")]

    def check_inputs(mi):
        D = len(sizes)
        stored = sum(D ** (a.ndim - 1 - D) for a in s.fields.values())  # components per field: D ** rank
        assert mi.x.shape[0] == T and mi.x.shape[1] == 1 and mi.x.ndim == 3 + MODEL_DIMS
        assert mi.n_variable >= stored  # lifting to 3-D adds components, never drops one
        assert tuple(mi.x.shape[3: 3 + len(sizes)]) == tuple(sizes)

    res = assert_contract(lambda: s.to_model_inputs(RELEASE_FIELD_NAMES), check=check_inputs,
                          expect="error" if huge_f32 else "ok")
    if huge_f32:
        assert isinstance(res.error, ShapeError) and "float32 range" in str(res.error)
        assert res.error.field in huge_f32


@settings(max_examples=examples(ci=40))
@given(st.one_of(st.sampled_from(BOUNDARY_VALID + BOUNDARY_BAD), st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(-5, 5), st.text(max_size=12), st.tuples(st.floats(-3, 5), st.floats(-3, 5)),
                 st.lists(st.integers(-1, 3), max_size=3)))
def test_boundary_parsing(value):
    out = assert_contract(lambda: parse_axis(value, axis="x"))
    if out.ok:
        lo, hi = out.value
        assert lo in (0, 1, 2) and hi in (0, 1, 2) and (lo == 2) == (hi == 2)
    else:
        assert isinstance(out.error, BoundaryError) and "'x'" in str(out.error)
    # a float code is accepted only when it is a whole number (2.5 must never become PERIODIC)
    parts = value if isinstance(value, (tuple, list)) else [value]
    if any(isinstance(p, float) and not (np.isfinite(p) and float(p).is_integer()) for p in parts):
        assert out.refused


@settings(max_examples=examples(ci=30))
@given(st.one_of(st.text(max_size=16), st.sampled_from(UNPARSABLE_UNITS + WRONG_DIMENSION_UNITS
                                                       + ["m s-1", "kg m-3", "1", "degC", "m**1.5"]),
                 st.none(), st.integers(), st.floats()))
def test_unit_parsing(units):
    out = assert_contract(lambda: format_units(units, field="velocity"))
    if out.ok:
        assert isinstance(out.value, str)
        assert_contract(lambda: check_compatible(units, "m s-1", field="velocity"))
    else:
        assert isinstance(out.error, UnitError) and out.error.field == "velocity"
        assert_contract(lambda: parse_units(units, field="velocity"))


@pytest.mark.parametrize("bad", [2.5, float("nan"), float("inf"), -0.5])
def test_float_boundary_codes_are_refused_not_truncated(bad):
    with pytest.raises(BoundaryError, match="unknown boundary code"):
        State(fields={"density": np.ones((2, 4, 4))}, time=[0.0, 0.1],
              coords={"x": np.arange(4.0), "y": np.arange(4.0)}, boundaries={"x": bad, "y": 0})
