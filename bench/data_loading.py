"""Samples/s of walrus's WellWindowDataset against the_well.data.WellDataset on the same files.

Both read the same generated Well files (written by walrus, which The Well's loader accepts) with
the benchmark setting n_steps_input=4, n_steps_output=1, in the same process, single-threaded
reads, no DataLoader workers; the sample indices are the same random permutation for both. The
two loaders alternate run by run (so changes in machine load hit both alike) and the median run
is reported. Results go to bench/results/data_loading.json.

    python bench/data_loading.py                # default cases
    python bench/data_loading.py --quick        # small cases, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from _progress import add_quiet, cases as progress

RESULTS = Path(__file__).parent / "results"

CASES = {
    "2d_128x128": dict(n_dims=2, size=128, n_traj=4, n_steps=50, files=2),
    "3d_32cubed": dict(n_dims=3, size=32, n_traj=4, n_steps=30, files=2),
}
QUICK = {
    "2d_32x32": dict(n_dims=2, size=32, n_traj=2, n_steps=12, files=2),
}


def _time(ds, order) -> float:
    start = time.perf_counter()
    for i in order:
        ds[int(i)]
    return len(order) / (time.perf_counter() - start)


def _rates(a, b, order, repeat: int) -> tuple[list[float], list[float]]:
    """Alternate the two loaders run by run, so drift in machine load hits both alike."""
    a[int(order[0])], b[int(order[0])]  # warm-up (file handles, caches)
    ra, rb = [], []
    for _ in range(repeat):
        ra.append(_time(a, order))
        rb.append(_time(b, order))
    return ra, rb


def run_case(name: str, spec: dict, n_samples: int, repeat: int, workdir: Path) -> dict:
    from the_well.data import WellDataset

    from walrus.data.well_dataset import WellWindowDataset
    from walrus.io.examples import write_example_well_file

    d = workdir / name
    for k in range(spec["files"]):
        write_example_well_file(d / f"{name}_{k}.hdf5", n_dims=spec["n_dims"], size=spec["size"],
                                n_traj=spec["n_traj"], n_steps=spec["n_steps"], seed=k)
    kw = dict(n_steps_input=4, n_steps_output=1)
    ours, theirs = WellWindowDataset(d, **kw), WellDataset(path=str(d), **kw)
    assert len(ours) == len(theirs)
    order = np.random.default_rng(0).permutation(len(ours))[:n_samples]
    # same numbers first: a benchmark of a loader that gives other samples would mean nothing
    for i in order[:5]:
        a, b = ours[int(i)], theirs[int(i)]
        assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a), "samples differ"
    walrus_runs, well_runs = _rates(ours, theirs, order, repeat)
    walrus_rate, well_rate = statistics.median(walrus_runs), statistics.median(well_runs)
    sample = ours[0]
    return {"case": name, **spec, "n_samples_timed": int(len(order)), "repeat": repeat,
            "sample_shape_input_fields": list(sample["input_fields"].shape),
            "bytes_per_sample_fields": int(sample["input_fields"].nbytes + sample["output_fields"].nbytes),
            "walrus_samples_per_s": round(walrus_rate, 1), "the_well_samples_per_s": round(well_rate, 1),
            "speedup": round(walrus_rate / well_rate, 2),
            "walrus_runs": [round(r, 1) for r in walrus_runs], "the_well_runs": [round(r, 1) for r in well_runs]}


def machine() -> dict:
    import h5py
    import torch
    try:
        from importlib.metadata import version
        well_version = version("the-well")
    except Exception:  # pragma: no cover
        well_version = "unknown"
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
            "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version, "the_well": well_version,
            "torch_threads": torch.get_num_threads()}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small cases only")
    p.add_argument("--samples", type=int, default=100, help="samples timed per run")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", type=Path, default=RESULTS / "data_loading.json")
    add_quiet(p)
    args = p.parse_args(argv)
    cases = QUICK if args.quick else CASES
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_case(n, s, args.samples, args.repeat, Path(tmp))
                   for n, s in progress(cases.items(), desc="data_loading", quiet=args.quiet)]
    report = {"benchmark": "data_loading", "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
              "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "setting": "n_steps_input=4, n_steps_output=1, random sample order, no DataLoader workers, float32 files",
              "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        print(f"{r['case']}: walrus {r['walrus_samples_per_s']} samples/s, the_well {r['the_well_samples_per_s']} "
              f"samples/s, speedup {r['speedup']}x")
    return report


if __name__ == "__main__":
    main()
