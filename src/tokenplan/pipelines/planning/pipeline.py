"""Planning: capacity against rate limits, the gateway config, cost per route and migration ROI.

Only wiring lives here; the nodes are in ``nodes.py`` and the logic in ``tokenplan.planning``.
"""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.planning.nodes import (
    check_prices,
    compute_roi,
    compute_route_costs,
    compute_route_rates,
    compute_sensitivity,
    estimate_costs,
    price_history,
    price_models,
)


def create_pipeline(**kwargs) -> Pipeline:
    pl, tr, fe = "params:planning", "params:training", "params:feature_engineering"
    # routes and ROI
    routes_and_roi = [
        Node(func=price_models, inputs=["forecast_totals", "price_table", pl], outputs="model_prices",
             name="price_models"),
        Node(func=estimate_costs, inputs=["forecast_totals", "model_prices", tr], outputs="cost_forecast",
             name="estimate_costs"),
        Node(func=compute_route_rates, inputs=["forecast_totals", "usage_buckets", "price_table", pl],
             outputs="route_rates", name="compute_route_rates"),
        Node(func=compute_route_costs, inputs=["forecast_totals", "route_rates", tr], outputs="route_costs",
             name="compute_route_costs"),
        Node(func=price_history, inputs=["target_series", "usage_buckets", "price_table", pl],
             outputs="history_costs", name="price_history"),
        Node(func=compute_roi, inputs=["route_costs", "forecast_totals", "history_costs", pl, tr, fe],
             outputs=["roi_summary", "roi_cashflow"], name="compute_roi"),
        Node(func=compute_sensitivity,
             inputs=["forecast_totals", "usage_buckets", "price_table", "roi_summary", pl, tr, fe],
             outputs="roi_sensitivity", name="compute_sensitivity"),
        Node(func=check_prices, inputs=["history_costs", "billed_costs"], outputs="price_check", name="check_prices"),
    ]
    return Pipeline(routes_and_roi)
