"""Dedalus 3: a tracer advected by a periodic shear flow, with the Walrus surrogate on some intervals.

    python examples/adapter_dedalus.py [--checkpoint model.safetensors] [--res 32] [--steps 12]

Untrained weights without --checkpoint: the point is the coupling, not the accuracy.
"""

import argparse

import numpy as np

from walrus.data.generators._dedalus import import_dedalus
from walrus.surrogate import Surrogate
from walrus_adapters import DriftGuard, HybridPolicy
from walrus_adapters.dedalus import DedalusHybrid


def tracer_in_shear(res: int):
    """ds/dt + u.grad(s) = kappa lap(s) on the periodic unit square, u = (sin 2 pi y, 0) fixed; RK222."""
    d3 = import_dedalus()
    coords = d3.CartesianCoordinates("x", "y")
    dist = d3.Distributor(coords, dtype=np.float64)
    xb = d3.RealFourier(coords["x"], size=res, bounds=(0, 1), dealias=3 / 2)
    yb = d3.RealFourier(coords["y"], size=res, bounds=(0, 1), dealias=3 / 2)
    s = dist.Field(name="s", bases=(xb, yb))
    u = dist.VectorField(coords, name="u", bases=(xb, yb))
    x, y = dist.local_grids(xb, yb)
    u["g"][0], u["g"][1] = np.sin(2 * np.pi * y) + 0 * x, 0 * x
    s["g"] = 1.0 + np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.02)
    problem = d3.IVP([s], namespace={"s": s, "u": u, "kappa": 1e-3, "lap": d3.lap, "grad": d3.grad})
    problem.add_equation("dt(s) - kappa*lap(s) = - u@grad(s)")
    return problem.build_solver(d3.RK222), s


def main(checkpoint: str | None = None, res: int = 32, steps: int = 12) -> DedalusHybrid:
    solver, s = tracer_in_shear(res)
    hybrid = DedalusHybrid(solver, Surrogate.from_pretrained(checkpoint or "walrus-tiny"),
                           fields={"tracer": s}, units={"tracer": "1"}, dt=0.05, inner_dt=0.01,
                           policy=HybridPolicy(k=1, m=1),
                           guard=DriftGuard(conserved={"tracer": 1e-3}, bounds={"tracer": (0.0, None)}))
    hybrid.run(steps)
    print(" ".join("S" if r.kind == "surrogate" else "." for r in hybrid.records),
          f"t = {solver.sim_time:.3f}", hybrid.summary())
    return hybrid


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint")
    parser.add_argument("--res", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    main(args.checkpoint, args.res, args.steps)
