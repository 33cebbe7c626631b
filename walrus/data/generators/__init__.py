"""Dataset generators: small 2-D and 3-D runs of real numerical codes (PyClaw, Dedalus, py-pde), written as Well files.

Each solver module exposes ``generate(*, n_traj, res, steps, seed, progress) -> GeneratedData`` and
imports its solver only when called, so listing datasets never loads Fortran or MPI.
"""
