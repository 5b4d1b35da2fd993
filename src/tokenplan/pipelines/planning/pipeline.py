"""Planning: capacity against rate limits, the gateway config, cost per route and migration ROI.

Only wiring lives here; the nodes are in ``nodes.py`` and the logic in ``tokenplan.planning``.
"""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.planning.nodes import (
    backtest_capacity,
    build_gateway_config,
    build_peak_history,
    build_rate_limits,
    check_prices,
    compute_history_rates,
    explain_capacity_gaps,
    compute_roi,
    compute_route_costs,
    compute_route_rates,
    compute_sensitivity,
    estimate_costs,
    find_price_changes,
    plan_capacity,
    price_history,
    price_models,
)


def create_pipeline(**kwargs) -> Pipeline:
    pl, cap = "params:planning", "params:planning.capacity"
    fe, tr, ing = "params:feature_engineering", "params:training", "params:ingestion"
    capacity = [
        Node(func=build_rate_limits, inputs=["rate_limits_raw", "usage_buckets"], outputs="rate_limits",
             name="build_rate_limits"),
        Node(func=build_peak_history, inputs=["usage_buckets", "rate_limits", ing, fe, cap],
             outputs="capacity_peak_history", name="build_peak_history"),
        Node(func=plan_capacity, inputs=["forecast", "capacity_peak_history", "rate_limits", "capacity_calibration",
                                         ing, fe, tr, cap, "forecast_layout", "forecast_events", "migrations"],
             outputs=["capacity_plan", "capacity_peak_forecast", "capacity_series_demand"], name="plan_capacity"),
        Node(func=explain_capacity_gaps, inputs=["forecast", "capacity_peak_history", "rate_limits", "usage_buckets",
                                                 ing],
             outputs="capacity_gaps", name="explain_capacity_gaps"),
        Node(func=backtest_capacity, inputs=["backtest_predictions", "capacity_peak_history", "rate_limits", fe, tr,
                                             cap],
             outputs=["capacity_backtest", "capacity_calibration"], name="backtest_capacity"),
        Node(func=build_gateway_config, inputs=["rate_limits", "capacity_series_demand", "capacity_plan", cap,
                                                "params:planning.routes.providers"],
             outputs="gateway_config", name="build_gateway_config"),
    ]
    routes_and_roi = [
        Node(func=price_models, inputs=["forecast_totals", "usage_buckets", "price_table", pl], outputs="model_prices",
             name="price_models"),
        Node(func=find_price_changes, inputs=["forecast_totals", "usage_buckets", "price_table", pl],
             outputs="price_changes", name="find_price_changes"),
        Node(func=compute_route_rates, inputs=["forecast_totals", "usage_buckets", "price_table", pl],
             outputs="route_rates", name="compute_route_rates"),
        Node(func=estimate_costs, inputs=["forecast_totals", "route_rates", pl, tr], outputs="cost_forecast",
             name="estimate_costs"),
        Node(func=compute_route_costs, inputs=["forecast_totals", "route_rates", tr], outputs="route_costs",
             name="compute_route_costs"),
        Node(func=compute_history_rates, inputs=["target_series", "usage_buckets", "price_table", pl],
             outputs="history_rates",
             name="compute_history_rates"),
        Node(func=price_history, inputs=["target_series", "history_rates"], outputs="history_costs",
             name="price_history"),
        Node(func=compute_roi,
             inputs=["route_costs", "forecast_totals", "history_costs", "route_rates", pl, tr, fe, "forecast_events",
                     "parameter_sources"],
             outputs=["roi_summary", "roi_cashflow"], name="compute_roi"),
        Node(func=compute_sensitivity,
             inputs=["forecast_totals", "usage_buckets", "price_table", "roi_summary", pl, tr, fe, "route_costs",
                     "forecast_events"],
             outputs="roi_sensitivity", name="compute_sensitivity"),
        Node(func=check_prices, inputs=["history_costs", "billed_costs"], outputs="price_check", name="check_prices"),
    ]
    return Pipeline(capacity + routes_and_roi)
