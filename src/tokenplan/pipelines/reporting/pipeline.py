"""Reporting: figures and the versioned report folder."""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.explainability.nodes import plot_shap_summary
from tokenplan.pipelines.reporting.nodes import (
    build_report,
    plot_backtest,
    plot_forecast,
    render_routes,
)


def create_pipeline(**kwargs) -> Pipeline:
    rp, tr = "params:reporting", "params:training"
    return Pipeline(
        [
            Node(func=plot_forecast, inputs=["forecast", "target_series", rp, tr, "params:feature_engineering"],
                 outputs="forecast_plot",
                 name="plot_forecast"),
            Node(func=plot_backtest, inputs="backtest_metrics", outputs="backtest_plot", name="plot_backtest"),
            Node(func=plot_shap_summary, inputs=["shap_values", "params:explainability"], outputs="shap_plot",
                 name="plot_shap_for_report"),
            Node(func=render_routes,
                 inputs=["route_costs", "route_rates", "roi_summary", "roi_cashflow", "roi_sensitivity", "price_check",
                         "model_prices", "params:planning", tr], outputs="routes_report", name="render_routes"),
            Node(
                func=build_report,
                inputs=["target_series", "forecast", "forecast_totals", "cost_forecast", "backtest_metrics",
                        "shap_importance", "events_calendar", "best_params", "model_prices", "forecast_plot",
                        "backtest_plot", "shap_plot", "model_selection", "params:feature_engineering", tr,
                        "forecast_layout", "routes_report", "usage_buckets"],
                outputs="report",
                name="build_report",
            ),
        ]
    )
