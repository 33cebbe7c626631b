"""Viscoelastic Kolmogorov flow: the Oldroyd-B model in Dedalus, Fourier x Fourier, RK443.

A body force sin(n y) on the 2 pi-periodic square drives a periodic shear flow of a polymer solution whose conformation
tensor C relaxes over the Weissenberg time Wi and is stretched by the velocity gradient
(upper-convected derivative). A small stress diffusion keeps the spectral run well-posed.
Starts from C = I and a perturbed laminar profile; the polymer stress builds up, as in The
Well's viscoelastic_instability (which uses the FENE-P variant). The forcing mode n is 2-4 and the
Reynolds number 20-60, where the laminar profile is unstable and the flow stays unsteady over the
40 frames. The earlier ranges (Re 1-10, n = 1 or 2) let flows decay towards the laminar state:
those with n = 1 (stable in a square box) and those with n = 2 at low Re, the pressure going to
zero, so late windows scored a model against a vanishing standard deviation.

Units: the solver runs in code units (a 2 pi-periodic box, laminar velocity amplitude 1, constant
density divided out). Named scales make them a physical system: one code unit of length is
L0 = 1 m (the box is 2 pi m wide), of velocity U0 = 1 m s-1 (the laminar amplitude), so time is
in L0/U0 = 1 s; the solver's pressure is the kinematic pressure p/rho, stored times a solution
density rho0 = 1 kg m-3, hence in rho0 U0^2 = 1 Pa (zero-mean gauge). The conformation tensor C
and the parameters (Re, Wi, beta, forcing mode) are pure numbers (`UNITS`, `UNIT_SCALING`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._dedalus import (cfl_stepper, curl_of_streamfunction, grid_values, import_dedalus,
                                             reset_clock, run_frames)
from walrus.data.generators._grid import smooth_random_field, trajectory_rngs
from walrus.hooks import GeneratedData

L = 2 * np.pi
DT_OUT = 0.5
CFL_SAFETY = 0.7

UNIT_SCALING = ("code units scaled by L0 = 1 m (the box is 2 pi L0 wide), U0 = 1 m s-1 (laminar velocity "
                "amplitude) and a solution density rho0 = 1 kg m-3: time in L0/U0 = 1 s, pressure = kinematic "
                "pressure x rho0 in rho0 U0^2 = 1 Pa (zero-mean gauge); C and the parameters are dimensionless")
UNITS = {"x": "m", "y": "m", "time": "s", "velocity": "m s-1", "pressure": "Pa", "C": "1",
         "reynolds": "1", "weissenberg": "1", "beta": "1", "mode": "1"}


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    d3 = import_dedalus()
    coords = d3.CartesianCoordinates("x", "y")
    dist = d3.Distributor(coords, dtype=np.float64)
    bases = (d3.RealFourier(coords["x"], size=res, bounds=(0, L), dealias=3 / 2),
             d3.RealFourier(coords["y"], size=res, bounds=(0, L), dealias=3 / 2))
    u = dist.VectorField(coords, name="u", bases=bases)
    conf = dist.TensorField((coords, coords), name="C", bases=bases)
    p = dist.Field(name="p", bases=bases)
    tau_p = dist.Field(name="tau_p")
    force = dist.VectorField(coords, name="f", bases=bases)
    identity = dist.TensorField((coords, coords), name="I")
    identity["g"][0, 0] = identity["g"][1, 1] = 1.0
    coeff = {name: dist.Field(name=name) for name in ("nu_s", "g_p", "inv_wi", "kappa")}
    ns = {"u": u, "C": conf, "p": p, "tau_p": tau_p, "f": force, "I": identity, **coeff,
          "grad": d3.grad, "lap": d3.lap, "div": d3.div, "integ": d3.integ, "transpose": d3.transpose}
    problem = d3.IVP([u, conf, p, tau_p], namespace=ns)
    problem.add_equation("dt(u) + grad(p) - nu_s*lap(u) - g_p*div(C) = - u@grad(u) + f")
    problem.add_equation("div(u) + tau_p = 0")
    problem.add_equation("integ(p) = 0")
    problem.add_equation("dt(C) + inv_wi*C - kappa*lap(C) = inv_wi*I - u@grad(C) "
                         "+ transpose(grad(u))@C + C@grad(u)")

    x, y = dist.local_grids(*bases)
    times = DT_OUT * np.arange(steps)
    out = {"pressure": [], "velocity": [], "C": []}
    params = {"reynolds": [], "weissenberg": [], "beta": [], "mode": []}
    for rng in trajectory_rngs(seed, n_traj):
        re, wi, beta = rng.uniform(20.0, 60.0), rng.uniform(1.0, 4.0), rng.uniform(0.5, 0.9)
        n = int(rng.integers(2, 5))  # shear rate ~ n, so C_xx ~ 1 + 2 (n Wi)^2 in the laminar state
        coeff["nu_s"]["g"] = beta / re
        coeff["g_p"]["g"] = (1.0 - beta) / (re * wi)
        coeff["inv_wi"]["g"] = 1.0 / wi
        coeff["kappa"]["g"] = 0.5 * (L / res) ** 2  # diffuses stress over a grid cell in ~1 time unit
        solver = problem.build_solver(d3.RK443)  # the coefficients sit in the implicit matrices
        reset_clock(solver)
        k = float(n)
        force.change_scales(1)
        force["g"] = 0.0
        force["g"][0] = (k * k / re) * np.sin(k * y) + 0.0 * x  # laminar amplitude 1
        psi = -np.cos(k * y) / k + 0.0 * x + 0.05 * smooth_random_field(rng, (res, res), k_max=3)
        u.change_scales(1)
        u["g"] = curl_of_streamfunction(d3, dist, bases, psi)
        conf.change_scales(1)
        conf["g"] = 0.0
        conf["g"][0, 0] = conf["g"][1, 1] = 1.0
        p.change_scales(1)
        p["g"] = 0.0
        frames = run_frames(solver, {"pressure": lambda: grid_values(p), "velocity": lambda: grid_values(u),
                                     "C": lambda: grid_values(conf)}, times,
                            cfl_stepper(d3, solver, (u,), res, CFL_SAFETY, max_dt=0.25 * DT_OUT), progress)
        for key in out:
            out[key].append(frames[key])
        for key, value in zip(params, (re, wi, beta, n)):
            params[key].append(value)
    return GeneratedData(dimensions={"x": np.ravel(x), "y": np.ravel(y)}, time=times,
                         fields={key: np.stack(v) for key, v in out.items()},
                         trajectory_parameters={key: np.asarray(v) for key, v in params.items()},
                         units=UNITS, unit_scaling=UNIT_SCALING)
