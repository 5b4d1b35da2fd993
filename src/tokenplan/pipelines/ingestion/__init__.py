"""The ingestion pipeline."""

from tokenplan.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
