"""Hypothesis strategies for the fuzz suite: State arguments, network inputs, Surrogate call
sequences and model names, each valid or malformed.

Every generator that can produce a malformed input also says which mutations it applied
(``Case.mutations``); an empty list means the input is valid, so the test can demand a result
(``assert_contract(..., expect="ok")``) instead of accepting a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

AXES = ("x", "y", "z")
# fields of the release vocabulary, with their rank and canonical units
FIELDS = {"density": (0, "kg m-3"), "pressure": (0, "Pa"), "velocity": (1, "m s-1")}
# units that convert to each field's canonical units, with the factor to canonical
FIELD_UNITS = {
    "density": [("kg m-3", 1.0), ("g cm-3", 1000.0)],
    "pressure": [("Pa", 1.0), ("kPa", 1000.0)],
    "velocity": [("m s-1", 1.0), ("km s-1", 1000.0), ("cm s-1", 0.01)],
}
WRONG_DIMENSION_UNITS = ["m", "s", "kg", "K", "m s-2"]
UNPARSABLE_UNITS = ["blorp", "m//s", "kg m-", "3 apples", "m^^2", "\x00", "((", ""]
TIME_UNITS = [("s", 1.0), ("ms", 1e-3), ("hour", 3600.0)]
LENGTH_UNITS = [("m", 1.0), ("km", 1000.0), ("cm", 0.01)]

BOUNDARY_VALID = ["PERIODIC", "periodic", "WALL", "wall", "OPEN", " open ", 0, 1, 2, 2.0, np.int64(1),
                  ("WALL", "OPEN"), ("OPEN", "WALL"), [0, 1], "WALL OPEN", ("PERIODIC", "PERIODIC")]
BOUNDARY_BAD = [2.5, float("nan"), float("inf"), -1, 3, True, None, "lava", "", ("PERIODIC", "WALL"),
                (0, 1, 2), [], {"lo": 0}, 1 + 0j, b"wall", "2", object(), 10 ** 30]


@dataclass
class Case:
    """A generated input and the mutations that made it malformed (empty: valid)."""

    kwargs: dict[str, Any]
    mutations: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.mutations


# ---------------------------------------------------------------------------------- arrays
def _values(draw, shape, mutations: list[str], name: str, allow_bad: bool) -> Any:
    """A float64 array of ``shape`` (values of order 1), sometimes broken in one way."""
    seed = draw(st.integers(0, 2 ** 16))
    a = 1.0 + 0.1 * np.random.default_rng(seed).standard_normal(shape)
    if not allow_bad:
        return a
    kind = draw(st.sampled_from(["ok"] * 10 + ["nan", "inf", "huge_f32", "huge_f64", "int", "bool", "complex",
                                               "object", "float32", "float16", "strings", "ragged", "scalar"]))
    if kind == "ok":
        return a
    if kind == "float32":
        return a.astype(np.float32)
    if kind == "float16":
        return a.astype(np.float16)
    if kind == "int":
        return np.round(a * 3).astype(np.int32)
    if kind in ("nan", "inf") and a.size:
        a = a.copy()
        a.flat[draw(st.integers(0, a.size - 1))] = np.nan if kind == "nan" else -np.inf
        mutations.append(f"{name}:{kind}")
        return a
    if kind == "huge_f32" and a.size:
        mutations.append(f"{name}:huge_f32")
        return a * 1e39  # finite in float64, beyond float32
    if kind == "huge_f64" and a.size:
        mutations.append(f"{name}:huge_f64")
        return a * 1e20  # fits float32, but its square does not (statistics overflow)
    if kind == "bool":
        mutations.append(f"{name}:bool")
        return a > 1
    if kind == "complex":
        mutations.append(f"{name}:complex")
        return a.astype(np.complex64)
    if kind == "object":
        mutations.append(f"{name}:object")
        return a.astype(object)
    if kind == "strings":
        mutations.append(f"{name}:strings")
        return np.full(shape, "1.0")
    if kind == "ragged":
        mutations.append(f"{name}:ragged")
        return [[1.0, 2.0], [3.0]]
    if kind == "scalar":
        mutations.append(f"{name}:scalar")
        return 1.0
    return a


# ---------------------------------------------------------------------------------- State
@st.composite
def state_cases(draw, *, allow_bad: bool = True, max_cells: int = 8, min_dims: int = 1, max_dims: int = 3,
                t_range: tuple[int, int] = (0, 8), quantities: bool = True) -> Case:
    """Keyword arguments of ``State(...)`` with 1-3 axes, T in ``t_range``, units, boundaries, maybe broken."""
    m: list[str] = []
    D = draw(st.integers(min_dims, max_dims))
    axes = AXES[:D]
    sizes = [draw(st.integers(1, max_cells)) for _ in axes]
    if allow_bad and draw(st.integers(0, 15)) == 0:
        sizes[draw(st.integers(0, D - 1))] = 0
        m.append("zero-size axis")
    T = draw(st.integers(*t_range))
    if T == 0:
        m.append("T=0")
    units: dict[str, Any] = {}
    info: dict[str, Any] = {"factors": {}}

    def coord(n):
        return np.linspace(0.0, 1.0, n, endpoint=False) if n else np.zeros(0)

    coords: dict[str, Any] = {}
    for a, n in zip(axes, sizes):
        c = coord(n)
        choice = draw(st.sampled_from(["plain"] * 4 + ["units", "quantity", "wrong_dim"] if allow_bad else
                                      ["plain"] * 4 + ["units", "quantity"]))
        if choice == "units":
            units[a] = draw(st.sampled_from(LENGTH_UNITS))[0]
        elif choice == "quantity" and quantities:
            from walrus.units import ureg
            c = ureg.Quantity(c, draw(st.sampled_from(LENGTH_UNITS))[0])
        elif choice == "wrong_dim":
            units[a] = draw(st.sampled_from(["s", "kg", "K"]))
            m.append(f"{a}: wrong-dimension units")
        coords[a] = c
    if allow_bad and draw(st.integers(0, 20)) == 0:
        coords = {**coords, "w": coord(3)} if D == 3 else {}
        m.append("coords: bad axis count")

    time: Any = np.arange(T) * 0.1
    tchoice = draw(st.sampled_from(["plain"] * 4 + ["units", "quantity"] + (["wrong_dim", "decreasing", "2d"]
                                                                          if allow_bad else [])))
    if tchoice == "units":
        units["time"] = draw(st.sampled_from(TIME_UNITS))[0]
    elif tchoice == "quantity" and quantities:
        from walrus.units import ureg
        time = ureg.Quantity(time, draw(st.sampled_from(TIME_UNITS))[0])
    elif tchoice == "wrong_dim":
        units["time"] = "m"
        m.append("time: wrong-dimension units")
    elif tchoice == "decreasing" and T > 1:
        time = time[::-1].copy()
        m.append("time: decreasing")
    elif tchoice == "2d":
        time = time[None]
        if T:
            m.append("time: 2-D")

    names = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=0 if allow_bad else 1, max_size=3, unique=True))
    if not names:
        m.append("no fields")
    fields: dict[str, Any] = {}
    for name in names:
        rank, canonical = FIELDS[name]
        shape = (T, *sizes) + (D,) * rank
        shape_choice = draw(st.sampled_from(["ok"] * 8 + (["wrong_rank", "wrong_shape"] if allow_bad else [])))
        if shape_choice == "wrong_rank":
            shape = shape[:-1] if rank else shape + (D,)
            m.append(f"{name}: wrong rank")
        elif shape_choice == "wrong_shape":
            shape = (shape[0] + 1,) + shape[1:]
            m.append(f"{name}: wrong shape")
        a = _values(draw, shape, m, name, allow_bad)
        uchoice = draw(st.sampled_from(["none", "units", "quantity"] + (["wrong_dim", "unparsable", "conflict"]
                                                                         if allow_bad else [])))
        if uchoice == "units":
            u, f = draw(st.sampled_from(FIELD_UNITS[name]))
            units[name] = u
            info["factors"][name] = f
        elif uchoice == "quantity" and quantities and isinstance(a, np.ndarray) and a.dtype.kind == "f":
            from walrus.units import ureg
            u, f = draw(st.sampled_from(FIELD_UNITS[name]))
            a = ureg.Quantity(a, u)
            info["factors"][name] = f
            if draw(st.booleans()):
                units[name] = u  # the same units twice is fine
        elif uchoice == "wrong_dim":
            units[name] = draw(st.sampled_from(WRONG_DIMENSION_UNITS))
            m.append(f"{name}: wrong-dimension units")
        elif uchoice == "unparsable":
            units[name] = draw(st.sampled_from(UNPARSABLE_UNITS + [3, ["m"]]))
            m.append(f"{name}: unparsable units")  # '' is dimensionless: wrong for every field here
        elif uchoice == "conflict" and isinstance(a, np.ndarray) and a.dtype.kind == "f":
            from walrus.units import ureg
            u, _ = FIELD_UNITS[name][0]
            other, _ = FIELD_UNITS[name][1]
            a = ureg.Quantity(a, u)
            units[name] = other
            m.append(f"{name}: Quantity units conflict with units=")
        fields[name] = a
    if allow_bad and draw(st.integers(0, 15)) == 0:
        fields["not_a_field"] = np.ones((T, *sizes))
        m.append("unknown field")

    boundaries: dict[str, Any] = {}
    for a in axes:
        pool = BOUNDARY_VALID + (BOUNDARY_BAD if allow_bad else [])
        b = draw(st.sampled_from(pool))
        if any(b is x for x in BOUNDARY_BAD) or (isinstance(b, float) and b != b):
            m.append(f"{a}: bad boundary {b!r}")
        boundaries[a] = b
    if allow_bad and draw(st.integers(0, 20)) == 0:
        boundaries.pop(axes[0])
        m.append("missing boundary")

    kwargs = dict(fields=fields, time=time, coords=coords, boundaries=boundaries, units=units)
    if draw(st.booleans()):
        kwargs["parameters"] = {"gamma": draw(st.sampled_from([1.4, np.float32(5 / 3), 2]
                                                              + ([float("nan"), [1.0, 2.0], "x"] if allow_bad else [])))}
        g = kwargs["parameters"]["gamma"]
        if not isinstance(g, (int, float, np.floating)) or g != g:
            m.append("bad parameter")
    info.update(T=T, sizes=tuple(sizes), axes=axes, names=names)
    return Case(kwargs, m, info)


# ---------------------------------------------------------------------------------- network inputs
N_STATES = 67  # walrus-tiny uses the release's 67-slot vocabulary


@st.composite
def network_cases(draw, *, allow_bad: bool = True) -> Case:
    """Arguments (x, field_ids, bcs) of ``Walrus.forward`` / ``predict_next``; x of random rank, dtype, shape."""
    import torch

    m: list[str] = []
    ndim_spatial = draw(st.sampled_from([2, 2, 2, 3] + ([1, 4] if allow_bad else [])))
    if ndim_spatial not in (2, 3):
        m.append("rank")
    T = draw(st.integers(0 if allow_bad else 1, 3))
    B = draw(st.integers(0 if allow_bad else 1, 2))
    C = draw(st.integers(0 if allow_bad else 1, 4))
    if 0 in (T, B, C):
        m.append("empty T/B/C")
    hi = 16 if ndim_spatial <= 2 else 6
    spatial = [draw(st.integers(2, hi)) for _ in range(ndim_spatial)]
    if allow_bad and draw(st.integers(0, 8)) == 0:
        spatial[draw(st.integers(0, ndim_spatial - 1))] = draw(st.sampled_from([0, 1]))
        if ndim_spatial == 3 and 0 not in spatial:
            pass  # one singleton axis of 3-D data is 2-D data: valid
        else:
            m.append("empty or singleton axis")
    shape = (T, B, C, *spatial)
    seed = draw(st.integers(0, 2 ** 16))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    dtype = draw(st.sampled_from(["float32"] * 6 + ["float64", "int64", "int32", "float16"]
                                 + (["bool", "complex64", "nan", "inf", "huge", "numpy", "list"] if allow_bad else [])))
    if dtype in ("float64", "float16"):
        x = x.to(getattr(torch, dtype))
    elif dtype in ("int64", "int32"):
        x = (x * 3).round().to(getattr(torch, dtype))
    elif dtype == "bool":
        x, _ = x > 0, m.append("bool x")
    elif dtype == "complex64":
        x, _ = x.to(torch.complex64), m.append("complex x")
    elif dtype in ("nan", "inf") and x.numel():
        x = x.clone()
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = float("nan") if dtype == "nan" else float("inf")
        m.append("non-finite x")
    elif dtype == "huge" and x.numel():
        x = x * 1e30  # finite float32 whose square overflows: the prediction would be inf
        m.append("huge x")
    elif dtype == "numpy":
        x = x.numpy().astype(np.float64)  # plain arrays are accepted by the network and cast
    elif dtype == "list":
        x, _ = x.tolist(), m.append("list x")

    ids_kind = draw(st.sampled_from(["ok"] * 6 + (["out_of_range", "flag_slot", "float_frac", "float_whole",
                                                  "wrong_len", "nan", "strings"] if allow_bad else ["float_whole"])))
    ids: Any = [draw(st.integers(3, N_STATES - 1)) for _ in range(C)]
    if ids_kind == "out_of_range" and C:
        ids[0] = draw(st.sampled_from([N_STATES, 10 ** 6, -1]))
        m.append("field id out of range")
    elif ids_kind == "flag_slot" and C:
        ids[0] = draw(st.integers(0, 2))
        m.append("flag slot id")
    elif ids_kind == "float_frac" and C:
        ids = [i + 0.5 for i in ids]
        m.append("fractional field ids")
    elif ids_kind == "float_whole":
        ids = torch.tensor(ids, dtype=torch.float64)
    elif ids_kind == "wrong_len":
        ids = ids + [5]
        m.append("field ids length")
    elif ids_kind == "nan" and C:
        ids = [float("nan")] * C
        m.append("nan field ids")
    elif ids_kind == "strings":
        ids = ["density"] * C
        m.append("string field ids")

    def valid_axis():
        return draw(st.sampled_from([[2, 2], [0, 0], [1, 1], [0, 1], [1, 0], [2.0, 2.0]]))

    bcs: Any = [valid_axis() for _ in range(ndim_spatial)]
    bcs_kind = draw(st.sampled_from(["ok"] * 6 + ["batched"] + (["one_sided", "code5", "frac", "nan", "inf",
                                                                "wrong_shape", "garbage", "scalar"]
                                                               if allow_bad else [])))
    if bcs_kind == "batched":
        bcs = [bcs] * B
    elif bcs_kind == "one_sided" and ndim_spatial:
        bcs[0] = [2, 0]
        m.append("one-sided periodic")
    elif bcs_kind == "code5" and ndim_spatial:
        bcs[0] = [5, 5]
        m.append("unknown code")
    elif bcs_kind in ("frac", "nan", "inf") and ndim_spatial:
        bcs[0] = [{"frac": 2.5, "nan": float("nan"), "inf": float("inf")}[bcs_kind]] * 2
        m.append(f"{bcs_kind} boundary code")
    elif bcs_kind == "wrong_shape":
        bcs = bcs + [[2, 2]]
        m.append("bcs shape")
    elif bcs_kind == "garbage":
        bcs = draw(st.sampled_from(["PERIODIC", None, {"x": 2}, [["a", "b"]]]))
        m.append("garbage bcs")
    elif bcs_kind == "scalar":
        bcs = 2
        m.append("scalar bcs")
    return Case(dict(x=x, field_ids=ids, bcs=bcs), m, dict(shape=shape))


# ---------------------------------------------------------------------------------- Surrogate
VELOCITY_UNITS = [("m s-1", 1.0), ("km s-1", 1000.0)]
SUR_TIME_UNITS = [("s", 1.0), ("ms", 1e-3)]


def trajectory(n_frames: int, shape: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """A smooth, order-one trajectory of density and velocity (canonical units) on ``shape``."""
    rng = np.random.default_rng(seed)
    D = len(shape)
    base_rho = 1.0 + 0.1 * rng.standard_normal(shape)
    base_u = rng.standard_normal(shape + (D,))
    drift = 0.05 * rng.standard_normal(shape + (D,))
    rho = np.stack([base_rho + 0.01 * t for t in range(n_frames)])
    u = np.stack([base_u + t * drift for t in range(n_frames)])
    return {"density": rho, "velocity": u}


def make_state(traj: dict[str, np.ndarray], frames: slice, shape: tuple[int, ...], *, vel_units=("m s-1", 1.0),
               time_units=("s", 1.0), boundaries: dict | None = None, dt: float = 0.1):
    """A State of ``traj[frames]`` with velocity (and time) expressed in the given units."""
    from walrus.state import State

    axes = AXES[: len(shape)]
    t = (np.arange(len(traj["density"])) * dt)[frames] / time_units[1]
    return State(fields={"density": traj["density"][frames], "velocity": traj["velocity"][frames] / vel_units[1]},
                 time=t, coords={a: np.linspace(0.0, 1.0, n, endpoint=False) for a, n in zip(axes, shape)},
                 boundaries=boundaries or {a: "PERIODIC" for a in axes},
                 units={"density": "kg m-3", "velocity": vel_units[0], "time": time_units[0]})


@st.composite
def surrogate_ops(draw, *, allow_bad: bool = True, max_ops: int = 3) -> list[tuple]:
    """A call sequence: ('observe'|'step'|'rollout'|'ensemble', n_frames, velocity units, time units, arg)."""
    ops = []
    for _ in range(draw(st.integers(1, max_ops))):
        kind = draw(st.sampled_from(["observe", "step", "step", "rollout", "ensemble"]
                                    + (["garbage"] if allow_bad else [])))
        n = draw(st.integers(1, 3))
        vu = draw(st.sampled_from(VELOCITY_UNITS))
        tu = draw(st.sampled_from(SUR_TIME_UNITS))
        arg: Any = None
        if kind == "rollout":
            arg = draw(st.sampled_from([1, 2] + ([0, -1, 2.5, "2", True, None] if allow_bad else [])))
        elif kind == "ensemble":
            arg = draw(st.sampled_from([2, 3] + ([1, 0, -3, 2.0, "3", False] if allow_bad else [])))
        elif kind == "garbage":
            arg = draw(st.sampled_from([3, "state", None, [1, 2], {"fields": {}}, {"time": [0.0]},
                                        {"bogus": 1}, np.zeros(3)]))
        ops.append((kind, n, vu, tu, arg))
    return ops
