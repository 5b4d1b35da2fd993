"""The organisation pipeline."""

from tokenplan.pipelines.organisation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
