"""Planning: capacity against rate limits, the gateway config, cost per route and migration ROI.

Only wiring lives here; the nodes are in ``nodes.py`` and the logic in ``tokenplan.planning``.
"""

from kedro.pipeline import Pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([])
