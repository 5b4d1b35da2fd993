"""Ingestion: raw usage and events -> ``usage_buckets`` and ``events_calendar``."""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.ingestion.nodes import build_events_calendar, build_usage_buckets


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=build_usage_buckets,
                inputs=["raw_usage", "params:ingestion"],
                outputs="usage_buckets",
                name="build_usage_buckets",
            ),
            Node(
                func=build_events_calendar,
                inputs=["raw_events", "params:ingestion"],
                outputs="events_calendar",
                name="build_events_calendar",
            ),
        ]
    )
