"""Run the fuzz suite (tests/fuzz) under one hypothesis profile and record how many examples ran.

    python bench/fuzz_counts.py --profile ci     # the bounded profile CI runs (~1,000 examples)
    python bench/fuzz_counts.py --profile slow   # >= 10,000 examples

Writes bench/results/fuzz_<profile>.json: per test, the passing / failing / invalid examples that
hypothesis reports (its --hypothesis-show-statistics output), the totals, the pytest outcome and
the wall time. Invalid examples are draws a strategy rejected before calling walrus (not run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_TEST = re.compile(r"^(tests/fuzz/\S+::\S+):\s*$")
_COUNTS = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid")
_SUMMARY = re.compile(r"(\d+) passed(?:, (\d+) failed)?")


def parse(output: str) -> dict[str, dict[str, int]]:
    """Per test: examples by outcome, summed over hypothesis's phases."""
    counts: dict[str, dict[str, int]] = {}
    test = None
    for line in output.splitlines():
        if m := _TEST.match(line.strip()):
            test = m.group(1)
            counts.setdefault(test, {"passing": 0, "failing": 0, "invalid": 0})
        elif test and (m := _COUNTS.search(line)):
            for key, value in zip(("passing", "failing", "invalid"), m.groups()):
                counts[test][key] += int(value)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", choices=("ci", "slow"), default="ci")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    env = dict(os.environ, WALRUS_FUZZ_PROFILE=a.profile)
    cmd = [sys.executable, "-m", "pytest", "tests/fuzz", "-m", "slow or not slow", "-p", "no:cacheprovider",
           "--hypothesis-show-statistics", "-q"]
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    tests = parse(run.stdout)
    summary = _SUMMARY.search(run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "")
    totals = {k: sum(t[k] for t in tests.values()) for k in ("passing", "failing", "invalid")}
    result = {
        "command": f"WALRUS_FUZZ_PROFILE={a.profile} " + " ".join(cmd[1:]),
        "profile": a.profile, "pytest_exit_code": run.returncode, "wall_seconds": round(seconds, 1),
        "tests_passed": int(summary.group(1)) if summary else None,
        "tests_failed": int(summary.group(2) or 0) if summary else None,
        "examples": totals, "per_test": tests,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    out = a.out or ROOT / "bench" / "results" / f"fuzz_{a.profile}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{a.profile}: {totals['passing']} passing, {totals['failing']} failing examples "
          f"({totals['invalid']} invalid draws) in {seconds:.0f} s; pytest exit {run.returncode} -> {out}")
    if run.returncode:
        print(run.stdout[-4000:])
        sys.exit(run.returncode)


if __name__ == "__main__":
    main()
