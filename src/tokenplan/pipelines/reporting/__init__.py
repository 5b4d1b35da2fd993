"""The reporting pipeline."""

from tokenplan.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
