"""The training pipeline."""

from tokenplan.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
