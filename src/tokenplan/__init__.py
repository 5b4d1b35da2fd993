"""tokenplan: quarterly LLM API capacity and spend planning."""

import os

# XGBoost's OpenMP threads spin while waiting for each other; on a 2-core machine with
# any other busy process that slows a fit 10-40x. Passive waiting costs nothing when the
# machine is idle. Set here, before any module imports xgboost (runs, notebooks, tests).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1"
