"""Test-session settings shared by every test module."""

import os

# XGBoost's OpenMP threads spin while they wait for each other. On a small machine with
# another busy process, two spinning threads on two cores slow a fit 10-40x; passive
# waiting keeps test times stable. Set before any test module imports xgboost.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Hand the longest test files to the xdist workers first (see tests/xdist_scheduling.py).
from tests.xdist_scheduling import pytest_xdist_make_scheduler  # noqa: E402, F401
