"""The order ``pytest -n 2 --dist loadfile`` hands test files to its workers: the longest first.

xdist hands out whole files, by default those with the most tests first. The files that
run Kedro for minutes hold few tests, so they came last, and the suite ended with one
worker still in a 5-minute run while the other sat idle. Handing out the longest files
first (and the many short ones after, to whichever worker is free) keeps both busy to
the end. A file missing from ``MINUTES`` keeps xdist's own order after the listed ones.
"""

from __future__ import annotations

from collections import OrderedDict

import pytest

# Roughly how long each slow file takes on one worker of a 2-core machine, in minutes
# (pytest --durations, setup included). Only the order matters; re-measure when a file
# grows a minute or more.
MINUTES = {
    "tests/organisation/test_demo_org_e2e.py": 5.5,
    # One kedro run and one notebook fewer since the estimate of 6.5 (188 s -> 151 s back to back).
    "tests/test_e2e.py": 5.2,
    "tests/organisation/test_spark_env.py": 5.0,
    "tests/test_plausibility.py": 4.0,
    "tests/sources/test_api_e2e.py": 2.5,
    "tests/test_calendar_effects.py": 1.5,
    "tests/test_e2e_console.py": 1.3,
    "tests/test_method_choice.py": 1.2,
    "tests/pipelines/reporting/test_user_run.py": 1.0,
    "tests/test_run_guard.py": 0.9,
    "tests/planning/test_capacity.py": 0.7,
    "tests/test_layout.py": 0.7,
    "tests/test_notebook.py": 0.6,
    "tests/test_lag_model.py": 0.5,
    "tests/pipelines/test_pipeline_memory.py": 0.5,
}


class _LongestFirst(OrderedDict):
    """A work queue whose next unit is the longest file left (ties: the order xdist queued them in)."""

    def popitem(self, last: bool = True):
        if last:
            return super().popitem(last=True)
        scope = max(self, key=lambda name: MINUTES.get(name, 0.0))
        return scope, self.pop(scope)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadfile``, xdist's file scheduling with the longest files handed out first."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    scheduling = LoadFileScheduling(config, log)
    scheduling.workqueue = _LongestFirst()
    return scheduling
