"""Planning: capacity against rate limits, the gateway config, cost per route and migration ROI.

Only wiring lives here; the nodes are in ``nodes.py`` and the logic in ``tokenplan.planning``.
"""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.planning.nodes import (
    backtest_capacity,
    build_gateway_config,
    build_peak_history,
    build_rate_limits,
    plan_capacity,
    plot_capacity,
)


def create_pipeline(**kwargs) -> Pipeline:
    # capacity
    cap, fe, tr, ing = "params:planning.capacity", "params:feature_engineering", "params:training", "params:ingestion"
    capacity = [
        Node(func=build_rate_limits, inputs="rate_limits_raw", outputs="rate_limits", name="build_rate_limits"),
        Node(func=build_peak_history, inputs=["usage_buckets", "rate_limits", ing, fe, cap],
             outputs="capacity_peak_history", name="build_peak_history"),
        Node(func=plan_capacity, inputs=["forecast", "capacity_peak_history", "rate_limits", "capacity_calibration",
                                         ing, fe, tr, cap],
             outputs=["capacity_plan", "capacity_peak_forecast", "capacity_series_demand"], name="plan_capacity"),
        Node(func=backtest_capacity, inputs=["backtest_predictions", "capacity_peak_history", "rate_limits", fe, tr,
                                             cap],
             outputs=["capacity_backtest", "capacity_calibration"], name="backtest_capacity"),
        Node(func=build_gateway_config, inputs=["rate_limits", "capacity_series_demand", cap],
             outputs="gateway_config", name="build_gateway_config"),
        Node(func=plot_capacity, inputs=["capacity_peak_forecast", "capacity_peak_history", cap],
             outputs="capacity_figures", name="plot_capacity"),
    ]
    return Pipeline(capacity)
