"""PyClaw shallow water with the Walrus surrogate swapped in for some output intervals.

    python examples/adapter_pyclaw.py [--checkpoint model.safetensors] [--res 32] [--steps 20]

Without --checkpoint the surrogate is an untrained walrus-tiny: the point is the coupling (k/m
policy, drift guard, units), not the accuracy. `walrus quickstart` trains one first.
"""

import argparse

import numpy as np

from walrus.data.generators._pyclaw import import_pyclaw
from walrus.surrogate import Surrogate
from walrus_adapters import DriftGuard, HybridPolicy, PyClawHybrid


def shallow_water(res: int):
    """A 10 m basin with walls, 1 m deep, one mound of water released from rest."""
    pyclaw, riemann = import_pyclaw()
    solver = pyclaw.ClawSolver2D(riemann.shallow_roe_with_efix_2D)
    solver.limiters = pyclaw.limiters.tvd.MC
    solver.all_bcs = pyclaw.BC.wall
    domain = pyclaw.Domain([pyclaw.Dimension(0.0, 10.0, res, name="x"), pyclaw.Dimension(0.0, 10.0, res, name="y")])
    state = pyclaw.State(domain, 3)
    state.problem_data["grav"] = 9.81
    x, y = domain.grid.p_centers
    state.q[0] = 1.0 + 0.3 * np.exp(-((x - 4.0) ** 2 + (y - 6.0) ** 2) / 2.0)
    state.q[1] = state.q[2] = 0.0
    return solver, pyclaw.Solution(state, domain)


def main(checkpoint: str | None = None, res: int = 32, steps: int = 20, k: int = 2, m: int = 1) -> PyClawHybrid:
    solver, solution = shallow_water(res)
    surrogate = Surrogate.from_pretrained(checkpoint or "walrus-tiny")
    hybrid = PyClawHybrid(
        solver, solution, surrogate,
        physics="shallow_water",                         # q = (h, hu, hv) <-> height, velocity
        units={"height": "m", "velocity": "m s-1"},      # the solver's units; the State converts
        dt=4.0 / 30,                                     # the frame interval the model was trained on
        policy=HybridPolicy(k=k, m=m),                   # after warm-up: k surrogate, m solver steps
        guard=DriftGuard(conserved={"height": 1e-3},     # water volume may change by 0.1 % per step
                         bounds={"height": (0.0, None)}),
    )
    for record in hybrid.run(steps):
        print(f"t={record.t_end:6.3f} s  {record.kind:<9}  {record.reason}")
    print(f"solution.t = {solution.t:.3f} s, water volume {solution.state.q[0].sum() * (10.0 / res) ** 2:.4f} m^3, "
          f"{hybrid.summary()}")
    return hybrid


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint")
    parser.add_argument("--res", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    main(args.checkpoint, args.res, args.steps)
