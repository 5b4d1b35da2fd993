"""What every notebook does first: work from the project root, log quietly, take the last run's settings.

Notebooks call ``start_notebook()`` before ``%load_ext kedro.ipython``: Kedro reads its
logging configuration when the extension loads, and the notebooks' configuration
(``conf/logging_notebook.yml``) keeps "Loading data from ..." lines out of the outputs.

Then ``use_last_run(catalog, project_root)``: the outputs a notebook reads were computed with the
environment and ``--params`` of the run that wrote them, not with ``conf/``'s defaults. Read with the
default ``freq: D``, an hourly run's buckets were taken for days, and notebook 03's baseline put Opus
at 4.89 requests per minute at P50 where the run's report had 132.
"""

from __future__ import annotations

import os
import warnings
from io import BytesIO
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # non-interactive: figures are shown as PNGs, no GUI needed

import matplotlib.pyplot as plt
from kedro.utils import find_kedro_project

__all__ = ["last_run", "show", "start_notebook", "use_last_run"]

NOTEBOOK_LOGGING = Path("conf") / "logging_notebook.yml"


def start_notebook(where: Path | None = None) -> Path:
    """The project root above ``where`` (default: the working directory), now the working
    directory, with the notebooks' quiet logging configuration selected."""
    root = find_kedro_project(Path(where or Path.cwd()))
    if root is None:
        raise RuntimeError(f"no Kedro project above {where or Path.cwd()}")
    # The demo dataset's folder is relative, unlike the catalog's filepaths: work from the
    # root so the simulation lands in data/01_raw, not notebooks/data.
    os.chdir(root)
    os.environ.setdefault("KEDRO_LOGGING_CONFIG", str(root / NOTEBOOK_LOGGING))
    # shap imports tqdm.auto, which warns that ipywidgets is missing; no notebook here
    # shows a progress bar.
    warnings.filterwarnings("ignore", message="IProgress not found")
    return root


def last_run(catalog: Any) -> dict[str, Any] | None:
    """The run record (``tokenplan.run_record``: ``command``, ``env``, ``runtime_params``, ...) of the newest
    report folder, with ``report`` its folder's name; ``{"report": name}`` alone for a report that records no
    run; None before the first report."""
    reports = catalog.load("previous_report") if "previous_report" in catalog else []
    if not reports:
        return None
    newest = reports[0]
    return {**((newest["data_source"] or {}).get("run") or {}), "report": newest["version"]}


def use_last_run(catalog: Any, project_root: Path) -> dict[str, Any] | None:
    """Kedro reloaded with the environment and ``--params`` of the newest report's run, so the ``params:``
    and datasets the notebook loads are the ones that run used; printed: which run, or why conf's defaults.

    Call it after ``%reload_kedro``: it reads the report folders through that catalog, and reloading
    defines ``catalog``, ``context``, ``session`` and ``pipelines`` anew in the notebook."""
    from kedro.ipython import reload_kedro

    run = last_run(catalog)
    if run is None:
        print("No report yet: the catalog and parameters are conf/'s defaults (the environment Jupyter was "
              "started in).")
        return None
    if "runtime_params" not in run:
        print(f"!!! The newest report ({run['report']}) does not record its run's --params: parameters are "
              "conf/'s defaults, which may not be the ones its numbers were computed with.")
        return run
    try:
        reload_kedro(str(project_root), env=run.get("env") or "local", runtime_params=run["runtime_params"])
    except Exception as error:  # an environment since removed, a conf that no longer loads: say so, go on
        print(f"!!! Could not load the settings of the run that wrote report {run['report']} ({run.get('command')}"
              f"): {error}. Parameters are conf/'s defaults, which may not be the ones its numbers were computed "
              "with.")
        return run
    print(f"Parameters and data sources of the run that wrote report {run['report']}: {run['command']}")
    return run


def show(figure: plt.Figure, dpi: int = 90) -> None:
    """Display ``figure`` as a PNG (the Agg backend has no window) and free it."""
    from IPython.display import Image, display

    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    display(Image(buffer.getvalue()))
