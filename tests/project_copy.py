"""A throwaway copy of the project for tests that run Kedro as a user would.

Kedro insists on a ``src`` folder inside the project; copying it (rather than relying
on the editable install alone) also tests the code as it is now. ``conf/local`` is left
empty so a developer's local settings never leak into a test, and data layers start
empty so nothing from an earlier run in the work tree is read.
"""

from __future__ import annotations

import shutil
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
