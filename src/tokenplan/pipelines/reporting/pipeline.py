"""Reporting: prices, costs, figures and the versioned report folder."""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.explainability.nodes import plot_shap_summary
from tokenplan.pipelines.reporting.nodes import (
    build_report,
    estimate_costs,
    plot_backtest,
    plot_forecast,
    price_models,
)


def create_pipeline(**kwargs) -> Pipeline:
    rp, tr = "params:reporting", "params:training"
    return Pipeline(
        [
            Node(func=price_models, inputs=["forecast_totals", rp], outputs="model_prices", name="price_models"),
            Node(func=estimate_costs, inputs=["forecast_totals", "model_prices", tr], outputs="cost_forecast",
                 name="estimate_costs"),
            Node(func=plot_forecast, inputs=["forecast", "target_series", rp, tr, "params:feature_engineering"],
                 outputs="forecast_plot",
                 name="plot_forecast"),
            Node(func=plot_backtest, inputs="backtest_metrics", outputs="backtest_plot", name="plot_backtest"),
            Node(func=plot_shap_summary, inputs=["shap_values", "params:explainability"], outputs="shap_plot",
                 name="plot_shap_for_report"),
            Node(
                func=build_report,
                inputs=["target_series", "forecast", "forecast_totals", "cost_forecast", "backtest_metrics",
                        "shap_importance", "events_calendar", "best_params", "model_prices", "forecast_plot",
                        "backtest_plot", "shap_plot", "model_selection", "params:feature_engineering", tr,
                        "capacity_plan", "capacity_backtest", "rate_limits", "capacity_series_demand",
                        "gateway_config", "capacity_figures", "params:planning.capacity", "capacity_calibration"],
                outputs="report",
                name="build_report",
            ),
        ]
    )
