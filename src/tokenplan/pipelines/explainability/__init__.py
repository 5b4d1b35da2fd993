"""The explainability pipeline."""

from tokenplan.pipelines.explainability.pipeline import create_pipeline

__all__ = ["create_pipeline"]
