"""Method of lines with scipy's solve_ivp: 2-D linear acoustics, surrogate on some segments.

    python examples/adapter_scipy.py [--checkpoint model.safetensors] [--res 32] [--steps 16]

The right-hand side works in Pa and km s-1 on purpose: the adapter declares those units and the
walrus State converts to the model's (Pa, m s-1) and back, so the solver never sees m s-1.
"""

import argparse

import numpy as np

from walrus.surrogate import Surrogate
from walrus_adapters import DriftGuard, HybridPolicy, ScipyIVPHybrid

RHO, BULK = 1.2, 1.4e5           # air: kg m-3, Pa (sound speed ~340 m/s)
KM = 1000.0                      # m per km: the solver's velocity is in km s-1


def acoustics_rhs(res: int, length: float, velocity_scale: float = KM):
    """dp/dt = -K div(u), du/dt = -grad(p)/rho on a periodic grid; u stored in m/velocity_scale units."""
    h = length / res

    def ddx(a, axis):
        return (np.roll(a, -1, axis) - np.roll(a, 1, axis)) / (2 * h)

    def rhs(t, y):
        p = y[: res * res].reshape(res, res)
        u = y[res * res:].reshape(res, res, 2) * velocity_scale
        dp = -BULK * (ddx(u[..., 0], 0) + ddx(u[..., 1], 1))
        du = -np.stack([ddx(p, 0), ddx(p, 1)], axis=-1) / RHO / velocity_scale
        return np.concatenate([dp.ravel(), du.ravel()])

    return rhs


def initial_vector(res: int, length: float) -> np.ndarray:
    x = (np.arange(res) + 0.5) * length / res
    xx, yy = np.meshgrid(x, x, indexing="ij")
    p = 50.0 * np.exp(-((xx - 0.5 * length) ** 2 + (yy - 0.4 * length) ** 2) / (0.1 * length) ** 2)
    return np.concatenate([p.ravel(), np.zeros(res * res * 2)])


def main(checkpoint: str | None = None, res: int = 32, steps: int = 16, length: float = 10.0,
         velocity_units: str = "km s-1", k: int = 1, m: int = 1, surrogate=None) -> ScipyIVPHybrid:
    scale = {"km s-1": KM, "m s-1": 1.0}[velocity_units]
    y0 = initial_vector(res, length)
    x = (np.arange(res) + 0.5) * length / res
    hybrid = ScipyIVPHybrid(
        acoustics_rhs(res, length, scale), y0, surrogate or Surrogate.from_pretrained(checkpoint or "walrus-tiny"),
        fields={"pressure": "Pa", "velocity": velocity_units},   # y = [p (res, res), u (res, res, 2)], flattened
        coords={"x": x, "y": x}, boundaries={"x": "PERIODIC", "y": "PERIODIC"},
        dt=length / res / 340.0,                                  # one cell crossing at the sound speed
        method="RK45", rtol=1e-8, atol=1e-10,
        policy=HybridPolicy(k=k, m=m), guard=DriftGuard(bounds={"pressure": (-1e3, 1e3)}),
    )
    hybrid.run(steps)
    print(" ".join("S" if r.kind == "surrogate" else "." for r in hybrid.records), hybrid.summary())
    return hybrid


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint")
    parser.add_argument("--res", type=int, default=32)
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args()
    main(args.checkpoint, args.res, args.steps)
