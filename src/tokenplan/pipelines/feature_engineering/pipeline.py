"""Feature engineering: forecast targets and origin-anchored examples (no look-ahead)."""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.feature_engineering.nodes import (
    add_calendar_effects,
    build_model_input_table,
    build_target_series,
    combine_migrated_traffic,
    mask_suspected_outages,
    plan_forecast_layout,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=build_target_series,
                inputs=["usage_buckets", "params:feature_engineering"],
                outputs="target_series",
                name="build_target_series",
            ),
            Node(
                func=combine_migrated_traffic,
                inputs=["target_series", "params:feature_engineering"],
                outputs=["forecast_series", "migrations"],
                name="combine_migrated_traffic",
            ),
            Node(
                func=plan_forecast_layout,
                inputs=["forecast_series", "params:feature_engineering", "params:training"],
                outputs="forecast_layout",
                name="plan_forecast_layout",
            ),
            Node(
                func=add_calendar_effects,
                inputs=["forecast_series", "events_calendar", "params:feature_engineering", "forecast_layout"],
                outputs="forecast_events",
                name="add_calendar_effects",
            ),
            Node(
                func=mask_suspected_outages,
                inputs=["forecast_series", "forecast_events", "params:feature_engineering", "forecast_layout"],
                outputs=["forecast_history", "suspected_outages"],
                name="mask_suspected_outages",
            ),
            Node(
                func=build_model_input_table,
                inputs=["forecast_history", "forecast_events", "params:feature_engineering", "forecast_layout"],
                outputs="model_input_table",
                name="build_model_input_table",
            ),
        ]
    )
