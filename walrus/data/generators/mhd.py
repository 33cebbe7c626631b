"""2-D incompressible magnetohydrodynamics: Dedalus, Fourier x Fourier, RK443.

The magnetic field is carried by its vector potential A (B = (dA/dy, -dA/dx)), so div B = 0
holds spectrally; the Lorentz force is written B.grad B with the magnetic pressure folded into
the (total) pressure. Initial states are random Orszag-Tang-like large-scale fields.
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
                                     "magnetic_field": lambda: grid_values(b.evaluate()),
                                     "pressure": lambda: grid_values(p)}, times,
                            cfl_stepper(d3, solver, (u, b), res, CFL_SAFETY), progress)
        for key in out:
            out[key].append(frames[key])
        params["reynolds"].append(re)
        params["magnetic_prandtl"].append(pm)
    return GeneratedData(dimensions={"x": np.ravel(x), "y": np.ravel(y)}, time=times,
                         fields={k: np.stack(v) for k, v in out.items()},
                         trajectory_parameters={k: np.asarray(v) for k, v in params.items()})
