"""The exploration notebook runs top to bottom without errors.

The notebook is executed in a throwaway copy of the project (conf, pyproject.toml, src
and the notebook, empty data folders) in the Kedro ``test`` environment, so it does not
depend on, or write to, the working copy's ``data/`` and stays fast: with no
``usage_buckets`` yet, it loads ``raw_usage``, the small test simulation.

The kernel is this interpreter (the project's venv under ``make test``), declared as
the ``python3`` kernelspec in a temporary folder: a ``python3`` kernelspec installed
elsewhere on the machine (system Jupyter, another venv) is never picked up.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402  (after the skips)
from jupyter_client.manager import KernelManager  # noqa: E402

from tests.project_copy import PROJECT_ROOT, make_project_copy  # noqa: E402
NOTEBOOK = PROJECT_ROOT / "notebooks" / "01_explore_usage.ipynb"


def _kernel_manager(kernel_dir: Path) -> KernelManager:
    """A kernel manager whose only ``python3`` kernel is ``sys.executable``."""
    spec_dir = kernel_dir / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tokenplan venv)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        "store the notebook without outputs (clear them before committing)"


def test_notebook_runs_without_errors(tmp_path, monkeypatch):
    project = make_project_copy(tmp_path / "project", notebooks=True)
    # Inherited by the kernel process: the small simulation, no telemetry, no GUI backend.
    monkeypatch.setenv("KEDRO_ENV", "test")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = project / "notebooks" / NOTEBOOK.name
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        km=_kernel_manager(tmp_path / "kernels"),
        timeout=120,
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        # Some errors (e.g. from IPython magics) come without a traceback: show the message too.
        pytest.fail(f"{error.ename}: {error.evalue}\n{error}")

    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert not errors, errors
    images = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 2, "expected the daily usage and weekly profile figures"
    # The notebook read the test simulation, not some other data.
    assert list((project / "data" / "01_raw" / "demo_test").glob("usage-*.parquet"))
