"""Monitor: `kedro run --pipelines monitor` re-reads the usage and compares the month so far with the last plan.

It reuses the saved forecast and backtest (the last full run's), so it takes seconds.
"""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.ingestion.nodes import build_usage_buckets
from tokenplan.pipelines.monitor.nodes import check_month_to_date, recorded_day_rates
from tokenplan.pipelines.planning.nodes import price_models


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(func=build_usage_buckets, inputs=["raw_usage", "params:ingestion"], outputs="usage_buckets",
                 name="build_usage_buckets"),
            Node(func=price_models, inputs=["forecast_totals", "usage_buckets", "price_table", "params:planning"],
                 outputs="monitor_prices", name="price_models_for_monitor"),
            Node(func=recorded_day_rates, inputs=["usage_buckets", "price_table", "params:planning"],
                 outputs="monitor_history_rates", name="history_rates_for_monitor"),
            Node(func=check_month_to_date,
                 inputs=["usage_buckets", "forecast", "backtest_predictions", "monitor_prices",
                         "params:organisation", "params:training", "monitor_history_rates"],
                 outputs="month_to_date", name="check_month_to_date"),
        ]
    )
