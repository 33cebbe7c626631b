"""The built-in generated datasets, and one small run of each shared across the plugin tests."""

from __future__ import annotations

from walrus.plugins import get_registry

SMALL = {"n_traj": 3, "res": 32, "steps": 6}
# the 2-D ones; the 3-D generators run smaller, in tests/data/test_generators_3d.py
BUILTIN_GENERATED = sorted(n for n, s in get_registry().datasets.items() if s.generator is not None and s.ndim == 2)


class Runs:
    """Lazily run a built-in generator (float64 arrays kept for physics checks) and write its files."""

    def __init__(self, root):
        self.root, self.data, self.paths = root, {}, {}

    def arrays(self, name):
        if name not in self.data:
            spec = get_registry().dataset(name)
            self.data[name] = spec.generator(seed=0, **SMALL)
        return self.data[name]

    def files(self, name):
        if name not in self.paths:
            from walrus.data.generators.pipeline import check_generated, write_generated
            from walrus.io import write_dataset_stats

            reg = get_registry()
            spec, data = reg.dataset(name), self.arrays(name)
            check_generated(spec, data, reg, SMALL["n_traj"], SMALL["steps"])
            write_generated(spec, data, self.root / name, reg)
            write_dataset_stats(self.root / name)
            self.paths[name] = self.root / name
        return self.paths[name]

