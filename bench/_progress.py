"""Progress of a benchmark: one tqdm bar over its cases on stderr (count, rate, ETA), off with ``--quiet``.

Result lines go to stdout through :func:`say`, printed above the bar rather than through it, and
flushed at once (benchmarks usually run with stdout in a log file).
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def add_quiet(parser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar (stderr); only the results")


def cases(iterable=None, *, desc: str, quiet: bool, total: int | None = None, unit: str = "case"):
    """A bar over ``iterable`` (or a manual one of ``total``, advanced with ``.update()``)."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=quiet, dynamic_ncols=True)


def say(line: str) -> None:
    tqdm.write(line)
    sys.stdout.flush()
