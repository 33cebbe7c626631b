"""Adapters that put the Walrus surrogate inside real numerical codes.

Every adapter runs the same guarded hybrid loop (`walrus_adapters.hybrid`): warm-up solver
steps to fill the surrogate's history, then k surrogate steps and m solver steps, each
surrogate frame checked by a `DriftGuard` and replaced by a solver step when it fails.
The solver-specific modules import their code lazily, so ``import walrus_adapters`` needs none.
"""

from walrus_adapters.guard import DriftGuard
from walrus_adapters.hybrid import SOLVER, SURROGATE, Hybrid, HybridPolicy, StepRecord
from walrus_adapters.layout import Layout

__all__ = ["DriftGuard", "Hybrid", "HybridPolicy", "StepRecord", "Layout", "SOLVER", "SURROGATE",
           "PyClawHybrid", "WalrusHybridSolver", "ScipyIVPHybrid", "DedalusHybrid"]


def __getattr__(name):
    if name == "PyClawHybrid":
        from walrus_adapters.pyclaw import PyClawHybrid
        return PyClawHybrid
    if name == "WalrusHybridSolver":
        from walrus_adapters.pypde import WalrusHybridSolver
        return WalrusHybridSolver
    if name == "ScipyIVPHybrid":
        from walrus_adapters.scipy_ivp import ScipyIVPHybrid
        return ScipyIVPHybrid
    if name == "DedalusHybrid":
        from walrus_adapters.dedalus import DedalusHybrid
        return DedalusHybrid
    raise AttributeError(f"module 'walrus_adapters' has no attribute {name!r}")
