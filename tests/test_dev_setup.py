"""The dev set-up (`make install-dev`, which `make test` runs) gives Jupyter and a working `kedro viz`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.project_copy import PROJECT_ROOT


def test_jupyterlab_is_installed():
    assert importlib.util.find_spec("jupyterlab") is not None, "make install-dev should install JupyterLab"


@pytest.mark.skipif(importlib.util.find_spec("kedro_viz") is None, reason="kedro-viz is a dev extra")
def test_kedro_viz_is_a_kedro_command():
    kedro = Path(sys.executable).parent / "kedro"
    command = [str(kedro)] if kedro.exists() else [sys.executable, "-m", "kedro"]
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    result = subprocess.run([*command, "viz", "--help"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "build" in result.stdout and "run" in result.stdout
