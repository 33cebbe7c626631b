"""Data: windowed datasets, tensor-law augmentation, solver-generated datasets.

Kept import-light: submodules import numpy/torch/solvers only when used.
"""
