"""Reporting: figures, the planning stage's sections and the versioned report folder."""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.reporting.nodes import (
    build_report,
    choose_series_shown,
    plot_backtest,
    plot_capacity,
    plot_drivers,
    plot_forecast,
    plot_shap_summary,
    render_capacity,
    render_organisation,
    render_routes,
)


def create_pipeline(**kwargs) -> Pipeline:
    rp, tr = "params:reporting", "params:training"
    return Pipeline(
        [
            Node(func=choose_series_shown, inputs=["forecast_totals", rp, tr], outputs="report_series",
                 name="choose_series_shown"),
            Node(func=plot_forecast, inputs=["forecast", "target_series", rp, tr, "params:feature_engineering",
                                             "suspected_outages", "report_series"],
                 outputs="forecast_plots", name="plot_forecast"),
            Node(func=plot_backtest, inputs=["backtest_metrics", "report_series"], outputs="backtest_plot",
                 name="plot_backtest"),
            Node(func=plot_drivers, inputs=["forecast_drivers", "model_selection", "report_series", "forecast"],
                 outputs="drivers_plot", name="plot_drivers"),
            Node(func=plot_shap_summary, inputs=["shap_values", "params:explainability", "model_selection"],
                 outputs="shap_plot",
                 name="plot_shap_summary"),
            Node(func=render_routes,
                 inputs=["route_costs", "route_rates", "roi_summary", "roi_cashflow", "roi_sensitivity", "price_check",
                         "model_prices", "params:planning", tr], outputs="routes_report", name="render_routes"),
            Node(func=plot_capacity,
                 inputs=["capacity_peak_forecast", "capacity_peak_history", "capacity_plan", "params:planning.capacity",
                         "params:feature_engineering"],
                 outputs="capacity_figures", name="plot_capacity"),
            Node(func=render_capacity,
                 inputs=["capacity_plan", "capacity_backtest", "rate_limits", "capacity_series_demand", "gateway_config",
                         "capacity_figures", "params:planning.capacity", "capacity_calibration",
                         "capacity_gaps", "capacity_peak_history"],
                 outputs="capacity_report", name="render_capacity"),
            Node(func=render_organisation,
                 inputs=["organisation_series", "hierarchy_backtest", "organisation_forecast", "team_budgets",
                         "teams_at_risk", "budget_paths", "chargeback", "chargeback_rule", "litellm_team_budgets",
                         "params:organisation", "cost_forecast", "migrations"],
                 outputs="organisation_report", name="render_organisation"),
            Node(
                func=build_report,
                inputs={"target_series": "target_series", "forecast": "forecast", "forecast_totals": "forecast_totals",
                        "cost_forecast": "cost_forecast", "backtest_metrics": "backtest_metrics",
                        "shap_importance": "shap_importance", "forecast_drivers": "forecast_drivers",
                        "events_calendar": "forecast_events", "best_params": "best_params", "prices": "model_prices",
                        "forecast_plots": "forecast_plots", "backtest_plot": "backtest_plot",
                        "drivers_plot": "drivers_plot", "shap_plot": "shap_plot", "model_selection": "model_selection",
                        "usage_is_simulated": "usage_is_simulated", "previous_report": "previous_report",
                        "fe_params": "params:feature_engineering", "training_params": tr,
                        "forecast_layout": "forecast_layout", "usage_buckets": "usage_buckets",
                        "capacity_plan": "capacity_plan", "roi_summary": "roi_summary",
                        "capacity_report": "capacity_report", "routes_report": "routes_report",
                        "suspected_outages": "suspected_outages", "guard_drops": "guard_drops",
                        "series_shown": "report_series", "organisation_report": "organisation_report",
                        "run_record": "run_record", "migrations": "migrations", "history_rates": "history_rates",
                        "price_changes": "price_changes", "backtest_predictions": "backtest_predictions"},
                outputs="report",
                name="build_report",
            ),
        ]
    )
