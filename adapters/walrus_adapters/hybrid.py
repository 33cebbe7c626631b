"""The hybrid loop shared by every adapter: k surrogate steps, then m solver steps, guarded.

One hybrid step advances the simulation by one output interval ``dt`` — the frame interval the
surrogate was trained on; the solver may take many internal (CFL) steps inside it. The loop:

1. warm-up: solver steps until the window holds the history the surrogate needs (6 frames in
   2-D); each solver frame is also handed to ``surrogate.observe``;
2. then cycles of ``k`` surrogate steps and ``m`` solver steps (a fallback fills its surrogate
   slot, so the cycle keeps its place);
3. a surrogate frame is checked by the `DriftGuard` against the last accepted frame; if it is
   rejected (NaN/inf, a conservation breach, out of bounds) the solver runs that step instead.

Every step leaves a `StepRecord` (kind, what was planned, why, wall time), so a run can show
which steps were learned and which were computed. An adapter supplies only a `Coupling`: read
the solver's current frame, write a frame into the solver, advance the solver by ``dt``.
"""

from __future__ import annotations

import time as _time
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Optional, Protocol

import numpy as np

from walrus.errors import ConfigError, PredictionError, ShapeError
from walrus_adapters import checks
from walrus_adapters.guard import DriftGuard
from walrus_adapters.layout import Layout

__all__ = ["Coupling", "HybridPolicy", "StepRecord", "Hybrid", "SOLVER", "SURROGATE"]

SOLVER, SURROGATE = "solver", "surrogate"
#: the largest step count a policy or run takes (a guard against typos such as k=10**30)
MAX_STEPS = 10 ** 9


class Coupling(Protocol):
    """What the loop needs from a numerical code; frames are ``{field: (*spatial[, D])}`` in the solver's units."""

    def read(self) -> dict[str, np.ndarray]: ...

    def write(self, frame: Mapping[str, np.ndarray], time: float) -> None: ...

    def advance(self, time: float, dt: float) -> None: ...


@dataclass(frozen=True)
class HybridPolicy:
    """k surrogate steps, then m solver steps, repeated after warm-up.

    ``m=0`` gives surrogate-only after warm-up (still guarded). ``warmup`` defaults to the
    surrogate's history minus the initial frame.
    """

    k: int = 1
    m: int = 1
    warmup: Optional[int] = None

    def __post_init__(self):
        for name, value, low in (("k", self.k, 1), ("m", self.m, 0)):
            checks.count(f"HybridPolicy.{name}", value, low=low, high=MAX_STEPS,
                         what=f"{'surrogate' if name == 'k' else 'solver'} steps per cycle")
        if self.warmup is not None:
            checks.count("HybridPolicy.warmup", self.warmup, low=0, high=MAX_STEPS,
                         what="solver steps before the first surrogate step; None = the surrogate's history - 1")

    def planned(self, index: int, warmup: int) -> tuple[str, str]:
        """(kind, reason) the policy wants for step ``index`` (0-based) after ``warmup`` solver steps."""
        if index < warmup:
            return SOLVER, "warm-up"
        return (SURROGATE if (index - warmup) % (self.k + self.m) < self.k else SOLVER), "policy"


@dataclass(frozen=True)
class StepRecord:
    """One hybrid step: ``kind`` is what ran, ``planned`` what the policy asked for, ``reason`` why."""

    index: int
    t_start: float
    t_end: float
    kind: str
    planned: str
    reason: str
    seconds: float

    @property
    def fell_back(self) -> bool:
        return self.planned == SURROGATE and self.kind == SOLVER


class Hybrid:
    """The guarded k/m loop over one solver (see module doc); adapters build it with their Coupling."""

    def __init__(self, surrogate, coupling: Coupling, layout: Layout, *, dt: float, time: float = 0.0,
                 policy: HybridPolicy | None = None, guard: DriftGuard | None = None):
        checks.real("dt", dt, low=0.0, low_open=True, what="the positive output interval the surrogate was trained on")
        checks.real("time", time, what="the solver's current time")
        checks.surrogate_like(surrogate)
        if policy is not None and not isinstance(policy, HybridPolicy):
            raise ConfigError(field="policy", expected="a HybridPolicy(k=..., m=...) or None",
                              received=checks.received(policy))
        if guard is not None and not isinstance(guard, DriftGuard):
            raise ConfigError(field="guard", expected="a DriftGuard(...) or None", received=checks.received(guard))
        self.surrogate = surrogate
        self.coupling = coupling
        self.layout = layout
        self.dt = float(dt)
        self.time = float(time)
        self.policy = policy or HybridPolicy()
        self.guard = guard or DriftGuard()
        self.guard.validate(layout.ranks)
        self.records: list[StepRecord] = []
        self._frames: list[dict[str, np.ndarray]] = []
        self._times: list[float] = []
        self._initial: dict[str, np.ndarray] | None = None
        self.history: int | None = None

    # ---------------------------------------------------------------- window
    def _push(self, frame: dict[str, np.ndarray], t: float) -> None:
        self._frames.append(frame)
        self._times.append(t)
        if self.history and len(self._frames) > self.history:
            del self._frames[0], self._times[0]

    def start(self) -> None:
        """Read the solver's current frame as the first of the window (done by the first `step`)."""
        frame = self.coupling.read()
        state = self.layout.state([frame], [self.time])  # checks fields, shapes and units before any step
        self.history = int(self.surrogate.history_for(state))
        self._frames, self._times = [], []
        self._push(frame, self.time)
        self._initial = frame
        self.surrogate.observe(state)

    @property
    def warmup(self) -> int:
        if self.policy.warmup is not None:
            return self.policy.warmup
        return max(0, (self.history or 1) - 1)

    def window(self):
        """The frames the surrogate will see next, as a State in the solver's units."""
        return self.layout.state(self._frames, self._times)

    def frame(self) -> dict[str, np.ndarray]:
        """The current frame (solver units)."""
        return self._frames[-1]

    # ---------------------------------------------------------------- stepping
    def _surrogate_frame(self) -> tuple[Optional[dict], Optional[str]]:
        """(frame, None) if the surrogate's next frame passes the guard, else (None, reason)."""
        if len(self._frames) < (self.history or 0):
            return None, f"history has {len(self._frames)} of the {self.history} frames the surrogate needs"
        try:
            predicted = self.surrogate.step(self.window())
        except (ShapeError, PredictionError) as exc:  # NaN/inf out of the network, or a State refusing them
            return None, f"non-finite surrogate output rejected: {exc}"
        frame = self.layout.frame(predicted)
        reference = self._initial if self.guard.reference == "initial" else self._frames[-1]
        reason = self.guard.check(frame, reference)
        return (None, reason) if reason else (frame, None)

    def _solver_frame(self, t0: float) -> dict[str, np.ndarray]:
        self.coupling.advance(t0, self.dt)
        frame = self.coupling.read()
        self.surrogate.observe(self.layout.state([frame], [t0 + self.dt]))
        return frame

    def step(self) -> StepRecord:
        """Advance by one interval ``dt`` as the policy says, falling back to the solver when guarded."""
        if self.history is None:
            self.start()
        index, t0 = len(self.records), self.time
        t1 = t0 + self.dt
        start = _time.perf_counter()
        planned, reason = self.policy.planned(index, self.warmup)
        kind = planned
        if planned == SURROGATE:
            frame, why = self._surrogate_frame()
            if frame is None:
                kind, reason = SOLVER, f"fallback: {why}"
            else:
                self.coupling.write(frame, t1)
        if kind == SOLVER:
            frame = self._solver_frame(t0)
        self._push(frame, t1)
        self.time = t1
        record = StepRecord(index, t0, t1, kind, planned, reason, _time.perf_counter() - start)
        self.records.append(record)
        return record

    def run(self, steps: int) -> list[StepRecord]:
        """``steps`` hybrid steps; returns their records."""
        checks.count("steps", steps, low=0, high=MAX_STEPS, what="hybrid steps to run")
        return [self.step() for _ in range(steps)]

    def solver_step(self) -> StepRecord:
        """One plain solver step, outside the policy (for a reference run on the same coupling)."""
        if self.history is None:
            self.start()
        index, t0 = len(self.records), self.time
        start = _time.perf_counter()
        frame = self._solver_frame(t0)
        self._push(frame, t0 + self.dt)
        self.time = t0 + self.dt
        record = StepRecord(index, t0, self.time, SOLVER, SOLVER, "solver only", _time.perf_counter() - start)
        self.records.append(record)
        return record

    def summary(self) -> dict:
        """Counts of steps by kind and of fallbacks by reason."""
        kinds = Counter(r.kind for r in self.records)
        fallbacks = Counter(r.reason for r in self.records if r.fell_back)
        return {"steps": len(self.records), "solver": kinds.get(SOLVER, 0), "surrogate": kinds.get(SURROGATE, 0),
                "fallbacks": sum(fallbacks.values()), "fallback_reasons": dict(fallbacks)}
