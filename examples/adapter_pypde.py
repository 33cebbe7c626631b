"""py-pde diffusion under `pde.Controller`, with the Walrus surrogate as part of the solver.

    python examples/adapter_pypde.py [--checkpoint model.safetensors] [--res 32] [--t-end 2.0]

`WalrusHybridSolver` is an ordinary py-pde solver: trackers (here a MemoryStorage and a
conservation check) see every state, whichever code computed it. Untrained weights without
--checkpoint: the point is the coupling, not the accuracy.
"""

import argparse

import numpy as np
import pde

from walrus.surrogate import Surrogate
from walrus_adapters import DriftGuard, HybridPolicy, WalrusHybridSolver


def main(checkpoint: str | None = None, res: int = 32, t_end: float = 2.0, dt: float = 0.1):
    grid = pde.CartesianGrid([[0.0, 1.0], [0.0, 1.0]], [res, res], periodic=True)
    state = pde.ScalarField.random_normal(grid, mean=1.0, std=0.2, rng=np.random.default_rng(0)).smooth(0.05)
    eq = pde.DiffusionPDE(diffusivity=0.005)
    solver = WalrusHybridSolver(
        eq, Surrogate.from_pretrained(checkpoint or "walrus-tiny"),
        fields=["concentration"], units={"concentration": "1"},
        inner="runge-kutta", inner_dt=0.01,             # the py-pde solver used for solver intervals
        policy=HybridPolicy(k=1, m=1),
        guard=DriftGuard(conserved={"concentration": 1e-3}),
    )
    storage = pde.MemoryStorage()
    final = pde.Controller(solver, t_range=t_end, tracker=[storage.tracker(dt)]).run(state, dt=dt)
    kinds = [r.kind for r in solver.hybrid.records]
    print(f"{len(storage)} stored frames; steps: {kinds.count('surrogate')} surrogate, {kinds.count('solver')} solver")
    print(f"total concentration {state.integral:.6f} -> {final.integral:.6f}")
    return final, storage, solver


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint")
    parser.add_argument("--res", type=int, default=32)
    parser.add_argument("--t-end", type=float, default=2.0)
    args = parser.parse_args()
    main(args.checkpoint, args.res, args.t_end)
