"""Dataset generators: small runs of real numerical codes (PyClaw, Dedalus), written as Well files.

Each solver module exposes ``generate(*, n_traj, res, steps, seed, progress) -> GeneratedData`` and
imports its solver only when called, so listing datasets never loads Fortran or MPI.
"""
