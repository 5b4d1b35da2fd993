"""Reporting: prices, costs, figures and the versioned report folder."""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.reporting.nodes import (
    build_report,
    estimate_costs,
    plot_backtest,
    plot_drivers,
    plot_forecast,
    plot_shap_summary,
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
                 outputs="forecast_plots", name="plot_forecast"),
            Node(func=plot_backtest, inputs="backtest_metrics", outputs="backtest_plot", name="plot_backtest"),
            Node(func=plot_drivers, inputs="forecast_drivers", outputs="drivers_plot", name="plot_drivers"),
            Node(func=plot_shap_summary, inputs=["shap_values", "params:explainability"], outputs="shap_plot",
                 name="plot_shap_summary"),
            Node(
                func=build_report,
                inputs=["target_series", "forecast", "forecast_totals", "cost_forecast", "backtest_metrics",
                        "shap_importance", "forecast_drivers", "events_calendar", "best_params", "model_prices",
                        "forecast_plots", "backtest_plot", "drivers_plot", "shap_plot", "model_selection", "usage_is_simulated", "previous_report",
                        "params:feature_engineering", tr],
                outputs="report",
                name="build_report",
            ),
        ]
    )
