"""Monitor: `kedro run --pipelines monitor` re-reads the usage and compares the month so far with its plan.

The plan is the newest report folder made from this usage (``tokenplan.organisation.monitor_plan``), whatever
was run last, so it takes seconds. Its intermediates stay in memory (``monitor_*``): the full run's
``usage_buckets`` and model output are read by later stages and never overwritten here. Each run writes its own
folder, ``data/08_reporting/monitor/<version>/month_to_date.csv``.
"""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.ingestion.nodes import build_usage_buckets
from tokenplan.pipelines.monitor.nodes import check_month_to_date, choose_plan, recorded_day_rates
from tokenplan.pipelines.planning.nodes import price_models


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(func=build_usage_buckets, inputs=["raw_usage", "params:ingestion"], outputs="monitor_usage_buckets",
                 name="build_usage_buckets_for_monitor"),
            Node(func=choose_plan,
                 inputs=["previous_report", "monitor_usage_buckets", "usage_is_simulated", "run_record"],
                 outputs=["monitor_plan", "monitor_plan_forecast", "monitor_plan_backtest", "monitor_plan_totals"],
                 name="choose_plan_for_monitor"),
            Node(func=price_models,
                 inputs=["monitor_plan_totals", "monitor_usage_buckets", "price_table", "params:planning"],
                 outputs="monitor_prices", name="price_models_for_monitor"),
            Node(func=recorded_day_rates, inputs=["monitor_usage_buckets", "price_table", "params:planning"],
                 outputs="monitor_history_rates", name="history_rates_for_monitor"),
            Node(func=check_month_to_date,
                 inputs=["monitor_usage_buckets", "monitor_plan", "monitor_plan_forecast", "monitor_plan_backtest",
                         "monitor_prices", "params:organisation", "params:training", "monitor_history_rates"],
                 outputs="month_to_date", name="check_month_to_date"),
        ]
    )
