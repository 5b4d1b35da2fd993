"""A throwaway copy of the project for tests that run Kedro as a user would.

Kedro insists on a ``src`` folder inside the project; copying it (rather than relying
on the editable install alone) also tests the code as it is now. ``conf/local`` is left
empty so a developer's local settings never leak into a test, and data layers start
empty so nothing from an earlier run in the work tree is read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_LAYERS = ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input",
               "06_models", "07_model_output", "08_reporting")


def make_project_copy(root: Path, notebooks: bool = False) -> Path:
    """conf (without local settings), src, pyproject.toml, empty data layers; optionally notebooks."""
    no_cache = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copytree(PROJECT_ROOT / "src", root / "src", ignore=no_cache)
    shutil.copy2(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    for layer in DATA_LAYERS:
        (root / "data" / layer).mkdir(parents=True)
    if notebooks:
        shutil.copytree(PROJECT_ROOT / "notebooks", root / "notebooks", ignore=no_cache)
    return root


def kedro_run(project: Path, kedro_env: str, params: str) -> subprocess.CompletedProcess:
    """``kedro run --env kedro_env --params params`` in ``project`` as a user runs it (no telemetry, no
    ``KEDRO_ENV`` or ``TOKENPLAN_VERBOSE`` from the caller's shell), asserted to succeed."""
    kedro = Path(sys.executable).parent / "kedro"
    command = [str(kedro)] if kedro.exists() else [sys.executable, "-m", "kedro"]
    environment = {k: v for k, v in os.environ.items() if k not in ("KEDRO_ENV", "TOKENPLAN_VERBOSE")}
    environment.update(KEDRO_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", COLUMNS="200")
    result = subprocess.run([*command, "run", "--env", kedro_env, "--params", params],
                            cwd=project, env=environment, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result
