"""The month-to-date monitor pipeline."""

from tokenplan.pipelines.monitor.pipeline import create_pipeline

__all__ = ["create_pipeline"]
