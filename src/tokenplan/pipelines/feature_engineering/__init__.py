"""The feature_engineering pipeline."""

from tokenplan.pipelines.feature_engineering.pipeline import create_pipeline

__all__ = ["create_pipeline"]
