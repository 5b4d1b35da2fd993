"""What every notebook does first: work from the project root, log quietly, show figures inline.

Notebooks call ``start_notebook()`` before ``%load_ext kedro.ipython``: Kedro reads its
logging configuration when the extension loads, and the notebooks' configuration
(``conf/logging_notebook.yml``) keeps "Loading data from ..." lines out of the outputs.
"""

from __future__ import annotations

import os
import warnings
from io import BytesIO
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # non-interactive: figures are shown as PNGs, no GUI needed

import matplotlib.pyplot as plt
from kedro.utils import find_kedro_project

__all__ = ["show", "start_notebook"]

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


def show(figure: plt.Figure, dpi: int = 90) -> None:
    """Display ``figure`` as a PNG (the Agg backend has no window) and free it."""
    from IPython.display import Image, display

    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    display(Image(buffer.getvalue()))
