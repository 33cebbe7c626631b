"""2-D incompressible magnetohydrodynamics: Dedalus, Fourier x Fourier, RK443.

The magnetic field is carried by its vector potential A (B = (dA/dy, -dA/dx)), so div B = 0
holds spectrally; the Lorentz force is written B.grad B with the magnetic pressure folded into
the (total) pressure. Initial states are random Orszag-Tang-like large-scale fields.

Units: the solver runs in code units: a unit box, velocities of order 1, constant density divided
out, and the magnetic field in Alfven (velocity) units b = B / sqrt(mu0 rho). Named scales make
them a physical system: one code unit of length is L0 = 1 m (the box width), of velocity
U0 = 1 m s-1, and the plasma density is rho0 = 1 kg m-3, so time is in L0/U0 = 1 s. The
solver's pressure is the total (thermal + magnetic) kinematic pressure, stored times rho0, hence
in rho0 U0^2 = 1 Pa (zero-mean gauge). The magnetic field is converted to tesla when stored,
B = sqrt(mu0 rho0) U0 b = `ALFVEN_UNIT_TESLA` x b (about 1.12 mT per code unit), so its label is
true. Reynolds and magnetic Prandtl numbers are pure numbers (`UNITS`, `UNIT_SCALING`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._dedalus import (cfl_stepper, curl_of_streamfunction, grid_values, import_dedalus,
                                             reset_clock, run_frames)
from walrus.data.generators._grid import smooth_random_field, trajectory_rngs
from walrus.hooks import GeneratedData

DT_OUT = 1.0 / 30  # 30 frames (the default) span about one Alfven crossing
CFL_SAFETY = 0.7  # of the advective + Alfven CFL limit (RK443); 1.0 let kinetic energy grow

MU0 = 1.25663706212e-6  # vacuum permeability, N A-2 (CODATA 2018)
RHO0, U0 = 1.0, 1.0  # kg m-3, m s-1: the density and the velocity of one code unit
ALFVEN_UNIT_TESLA = float(np.sqrt(MU0 * RHO0) * U0)  # tesla per code unit of magnetic field
UNIT_SCALING = (f"code units scaled by L0 = 1 m (box width), U0 = 1 m s-1 and a plasma density rho0 = 1 kg m-3: "
                f"time in L0/U0 = 1 s, pressure = total kinematic pressure x rho0 in rho0 U0^2 = 1 Pa (zero-mean "
                f"gauge); the solver's Alfven-unit field b is stored as B = sqrt(mu0 rho0) U0 b "
                f"= {ALFVEN_UNIT_TESLA:.6e} T x b; reynolds and magnetic_prandtl are dimensionless")
UNITS = {"x": "m", "y": "m", "time": "s", "velocity": "m s-1", "magnetic_field": "T", "pressure": "Pa",
         "reynolds": "1", "magnetic_prandtl": "1"}


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    d3 = import_dedalus()
    coords = d3.CartesianCoordinates("x", "y")
    dist = d3.Distributor(coords, dtype=np.float64)
    bases = (d3.RealFourier(coords["x"], size=res, bounds=(0, 1), dealias=3 / 2),
             d3.RealFourier(coords["y"], size=res, bounds=(0, 1), dealias=3 / 2))
    u = dist.VectorField(coords, name="u", bases=bases)
    a = dist.Field(name="a", bases=bases)
    p = dist.Field(name="p", bases=bases)
    tau_p = dist.Field(name="tau_p")
    nu = dist.Field(name="nu")
    eta = dist.Field(name="eta")
    b = -d3.skew(d3.grad(a))
    ns = {"u": u, "a": a, "p": p, "tau_p": tau_p, "nu": nu, "eta": eta, "b": b,
          "grad": d3.grad, "lap": d3.lap, "div": d3.div, "integ": d3.integ}
    problem = d3.IVP([u, a, p, tau_p], namespace=ns)
    problem.add_equation("dt(u) + grad(p) - nu*lap(u) = - u@grad(u) + b@grad(b)")
    problem.add_equation("dt(a) - eta*lap(a) = - u@grad(a)")
    problem.add_equation("div(u) + tau_p = 0")
    problem.add_equation("integ(p) = 0")

    x, y = dist.local_grids(*bases)
    times = DT_OUT * np.arange(steps)
    out = {"velocity": [], "magnetic_field": [], "pressure": []}
    params = {"reynolds": [], "magnetic_prandtl": []}
    for rng in trajectory_rngs(seed, n_traj):
        re, pm = res * 10 ** rng.uniform(0.5, 0.9), rng.uniform(0.7, 1.4)  # Re ~ 3-8 x res stays resolved
        nu["g"], eta["g"] = 1.0 / re, 1.0 / (re * pm)
        solver = problem.build_solver(d3.RK443)  # nu, eta sit in the implicit matrices
        reset_clock(solver)
        shape = (res, res)
        # Orszag-Tang-like: one large mode of each, plus random large-scale modes
        psi = (np.cos(2 * np.pi * (x + rng.uniform())) + np.cos(2 * np.pi * (y + rng.uniform()))) / (2 * np.pi)
        psi = psi + 0.03 * rng.uniform(0.5, 1.0) * smooth_random_field(rng, shape, k_max=3)
        u.change_scales(1)
        u["g"] = curl_of_streamfunction(d3, dist, bases, psi)
        a.change_scales(1)
        a["g"] = (rng.uniform(0.5, 1.0) * (np.cos(2 * np.pi * (y + rng.uniform())) / (2 * np.pi)
                                            + np.cos(4 * np.pi * (x + rng.uniform())) / (4 * np.pi))
                  + 0.01 * smooth_random_field(rng, shape, k_max=3))
        p.change_scales(1)
        p["g"] = 0.0
        frames = run_frames(solver, {"velocity": lambda: grid_values(u),
                                     "magnetic_field": lambda: ALFVEN_UNIT_TESLA * grid_values(b.evaluate()),
                                     "pressure": lambda: grid_values(p)}, times,
                            cfl_stepper(d3, solver, (u, b), res, CFL_SAFETY), progress)
        for key in out:
            out[key].append(frames[key])
        params["reynolds"].append(re)
        params["magnetic_prandtl"].append(pm)
    return GeneratedData(dimensions={"x": np.ravel(x), "y": np.ravel(y)}, time=times,
                         fields={k: np.stack(v) for k, v in out.items()},
                         trajectory_parameters={k: np.asarray(v) for k, v in params.items()},
                         units=UNITS, unit_scaling=UNIT_SCALING)
