"""PyClaw shallow water with the Walrus surrogate swapped in for some output intervals.

    python examples/adapter_pyclaw.py [--checkpoint model.safetensors] [--res 32] [--steps 20]

Without --checkpoint the surrogate is an untrained walrus-tiny: the point is the coupling (k/m
policy, drift guard, units), not the accuracy. `walrus quickstart` trains one first.
"""

import argparse

from walrus.data.generators.shallow_water import make_solver, one_mound
from walrus.surrogate import Surrogate
from walrus_adapters import DriftGuard, HybridPolicy, PyClawHybrid


def main(checkpoint: str | None = None, res: int = 32, steps: int = 20, k: int = 2, m: int = 1) -> PyClawHybrid:
    # An ordinary PyClaw solver and solution (any pair works): here walrus's set-up of the Roe
    # shallow-water solver, the one its dataset generator uses. A 10 m basin with walls on every
    # side (PyClaw's BC.wall), g = 9.81 m s-2, water at rest 1 m deep with one 0.3 m mound;
    # make_solver's docstring lists the other initial conditions and boundaries it takes.
    solver, solution = make_solver(res, one_mound, bc="wall")
    surrogate = Surrogate.from_pretrained(checkpoint or "walrus-tiny")
    hybrid = PyClawHybrid(
        solver, solution, surrogate,
        physics="shallow_water",                         # q = (h, hu, hv) <-> height, velocity
        units={"height": "m", "velocity": "m s-1"},      # the solver's units (SI here); the State converts
        coord_units={"x": "m", "y": "m", "time": "s"},
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
