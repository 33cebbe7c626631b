"""Incompressible shear flow with a passive tracer: Dedalus, Fourier x Fourier, RK443.

Two periodic shear layers (as in The Well's shear_flow, on a unit square) with random
Reynolds number, layer width and perturbation; they roll up into Kelvin-Helmholtz vortices.
The pressure gauge (zero mean) and the divergence constraint are enforced spectrally.

Units: the solver runs in code units (a unit box, streams at +-1, constant density divided out,
viscosity 1/Re). Named scales make them a physical system: one code unit of length is L0 = 1 m
(the box width), of velocity U0 = 1 m s-1 (the speed of each stream), so time is in L0/U0 = 1 s;
the solver's pressure is the kinematic pressure p/rho, stored times a fluid density
rho0 = 1 kg m-3, hence in rho0 U0^2 = 1 Pa (up to the solver's zero-mean gauge). The tracer, the
Reynolds and the Schmidt numbers are pure numbers (`UNITS`, `UNIT_SCALING`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._grid import trajectory_rngs
from walrus.data.generators._dedalus import cfl_stepper, grid_values, import_dedalus, reset_clock, run_frames
from walrus.hooks import GeneratedData

DT_OUT = 0.07  # 30 frames (the default) span the roll-up of the layers
CFL_SAFETY = 0.7  # of the advective CFL limit (RK443); 1.0 let kinetic energy grow

UNIT_SCALING = ("code units scaled by L0 = 1 m (box width), U0 = 1 m s-1 (stream speed) and a fluid density "
                "rho0 = 1 kg m-3: time in L0/U0 = 1 s, pressure = kinematic pressure x rho0 in rho0 U0^2 = 1 Pa "
                "(zero-mean gauge); tracer, reynolds and schmidt are dimensionless")
UNITS = {"x": "m", "y": "m", "time": "s", "velocity": "m s-1", "pressure": "Pa", "tracer": "1",
         "reynolds": "1", "schmidt": "1"}


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    d3 = import_dedalus()
    coords = d3.CartesianCoordinates("x", "y")
    dist = d3.Distributor(coords, dtype=np.float64)
    xb = d3.RealFourier(coords["x"], size=res, bounds=(0, 1), dealias=3 / 2)
    yb = d3.RealFourier(coords["y"], size=res, bounds=(0, 1), dealias=3 / 2)
    u = dist.VectorField(coords, name="u", bases=(xb, yb))
    s = dist.Field(name="s", bases=(xb, yb))
    p = dist.Field(name="p", bases=(xb, yb))
    tau_p = dist.Field(name="tau_p")
    nu = dist.Field(name="nu")  # set per trajectory; a constant field keeps one set of matrices valid
    kappa = dist.Field(name="kappa")
    grad, lap, div, integ = d3.grad, d3.lap, d3.div, d3.integ

    problem = d3.IVP([u, s, p, tau_p], namespace={"u": u, "s": s, "p": p, "tau_p": tau_p, "nu": nu,
                                                   "kappa": kappa, "grad": grad, "lap": lap, "div": div,
                                                   "integ": integ})
    problem.add_equation("dt(u) + grad(p) - nu*lap(u) = - u@grad(u)")
    problem.add_equation("dt(s) - kappa*lap(s) = - u@grad(s)")
    problem.add_equation("div(u) + tau_p = 0")
    problem.add_equation("integ(p) = 0")

    x, y = dist.local_grids(xb, yb)
    times = DT_OUT * np.arange(steps)
    out = {"tracer": [], "pressure": [], "velocity": []}
    params = {"reynolds": [], "schmidt": []}
    for rng in trajectory_rngs(seed, n_traj):
        # Re ~ 5-16 x res and Schmidt <= 1 keep the layers and the tracer resolved (Re 1300, Sc 1.8 at 64^2
        # let the tracer blow up spectrally while the velocity stayed fine)
        re, sc = res * 10 ** rng.uniform(0.7, 1.2), rng.uniform(0.5, 1.0)
        width, amp = max(rng.uniform(0.05, 0.1), 4.0 / res), rng.uniform(0.05, 0.15)
        nu["g"], kappa["g"] = 1.0 / re, 1.0 / (re * sc)
        solver = problem.build_solver(d3.RK443)  # nu, kappa sit in the implicit matrices: rebuild per trajectory
        reset_clock(solver)
        profile = np.tanh((y - 0.25) / width) - np.tanh((y - 0.75) / width) - 1.0  # +1 inside, -1 outside
        k, phase = rng.integers(1, 4), rng.uniform(0, 2 * np.pi)
        psi = dist.Field(name="psi", bases=(xb, yb))
        bumps = np.exp(-((y - 0.25) ** 2) / 0.01) + np.exp(-((y - 0.75) ** 2) / 0.01)
        psi["g"] = amp / (2 * np.pi * k) * np.cos(2 * np.pi * k * x + phase) * bumps
        perturbation = d3.skew(d3.grad(psi)).evaluate()  # divergence-free to round-off, spectrally
        perturbation.change_scales(1)
        u.change_scales(1)
        s.change_scales(1)
        u["g"] = perturbation["g"]
        u["g"][0] += profile + 0.0 * x
        s["g"] = 0.5 * (profile + 1.0) + 0.0 * x  # tracer marks the inner stream
        p["g"] = 0.0
        frames = run_frames(solver, {"tracer": lambda: grid_values(s), "pressure": lambda: grid_values(p),
                                     "velocity": lambda: grid_values(u)}, times,
                            cfl_stepper(d3, solver, (u,), res, CFL_SAFETY), progress)
        for key in out:
            out[key].append(frames[key])
        params["reynolds"].append(re)
        params["schmidt"].append(sc)
    xs, ys = np.ravel(x), np.ravel(y)
    return GeneratedData(dimensions={"x": xs, "y": ys}, time=times,
                         fields={k: np.stack(v) for k, v in out.items()},
                         trajectory_parameters={k: np.asarray(v) for k, v in params.items()},
                         units=UNITS, unit_scaling=UNIT_SCALING)
