"""Hypothesis profiles of the fuzz suite.

* ``ci`` (default): bounded and reproducible (``derandomize=True``, ``database=None``, so nothing is
  written into the repo); all of tests/fuzz together runs ~1,000 examples in < 3 minutes on 2 cores.
* ``slow``: >= 10,000 examples across the suite (each test's ``examples(ci=n)`` becomes
  ``SLOW_FACTOR * n``), random seeds, longer deadline. Run it with::

      WALRUS_FUZZ_PROFILE=slow python -m pytest tests/fuzz -m "slow or not slow"

  or ``python -m pytest tests/fuzz --hypothesis-profile=slow -m "slow or not slow"``.
  Under the slow profile every test in tests/fuzz is marked ``slow`` (so the default
  ``-m 'not slow'`` of pyproject.toml deselects them unless ``-m`` is given as above).

Helpers for test modules live in fuzz_helpers.py (``from fuzz_helpers import assert_contract, examples``).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from fuzz_helpers import CI_DEADLINE_MS, PROFILE_ENV, SLOW_DEADLINE_MS

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
             HealthCheck.function_scoped_fixture]

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=CI_DEADLINE_MS,
    print_blob=True,
    suppress_health_check=_SUPPRESS,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
)
settings.register_profile(
    "slow",
    derandomize=False,
    database=None,
    deadline=SLOW_DEADLINE_MS,
    print_blob=True,
    suppress_health_check=_SUPPRESS,
)

_env = os.environ.get(PROFILE_ENV, "").strip().lower()
settings.load_profile(_env if _env in ("ci", "slow") else "ci")


def _slow_selected(config: pytest.Config) -> bool:
    opt = None
    try:
        opt = config.getoption("hypothesis_profile")
    except (ValueError, AttributeError):
        pass
    return (opt or _env) == "slow"


def pytest_configure(config: pytest.Config) -> None:
    # --hypothesis-profile=slow is applied by hypothesis' own plugin; mirror it in the env var so
    # fuzz_helpers.examples() (evaluated at import of each test module) sees it too.
    if _slow_selected(config):
        os.environ[PROFILE_ENV] = "slow"
        settings.load_profile("slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _slow_selected(config):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.slow)
