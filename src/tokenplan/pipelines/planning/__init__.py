"""Planning: capacity against rate limits, the gateway config, cost per route and migration ROI."""

from tokenplan.pipelines.planning.pipeline import create_pipeline

__all__ = ["create_pipeline"]
