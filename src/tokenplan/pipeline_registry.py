"""Project pipelines."""
from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    # The monitor compares new usage with the last saved plan: run on its own, never inside a plan run.
    pipelines["__default__"] = sum(p for name, p in pipelines.items() if name != "monitor")
    return pipelines
