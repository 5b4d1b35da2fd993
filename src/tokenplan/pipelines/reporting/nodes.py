"""Reporting nodes: costs, figures and the versioned report folder."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from tokenplan.cost_forecast import cost_by_period
from tokenplan.explanations import headline_target, summary_figure_from_table
from tokenplan.forecaster import quantile_columns
from tokenplan.plots import backtest_figure, drivers_figure, figure_png, forecast_figures
from tokenplan.pricing import UnitPrices, price_data_date, unit_prices
from tokenplan.report import ReportInputs, render_html, render_report
from tokenplan.reporting.summary import plan_summary


def _price_date(forecast_totals: pd.DataFrame, params: dict[str, Any]) -> dt.date:
    if params.get("price_date"):
        return pd.Timestamp(params["price_date"]).date()
    return pd.Timestamp(forecast_totals["start"].min()).date()


def price_models(forecast_totals: pd.DataFrame, params: dict[str, Any]) -> dict[str, UnitPrices]:
    """genai-prices rates per model, in force on the price date."""
    when = _price_date(forecast_totals, params)
    models = sorted({s.split("/")[0] for s in forecast_totals["series"]})
    return {m: unit_prices(m, params["provider"], when) for m in models}


def estimate_costs(forecast_totals: pd.DataFrame, prices: dict[str, UnitPrices],
                   training_params: dict[str, Any]) -> pd.DataFrame:
    """USD per series and period (months and the whole horizon), with quantiles."""
    return cost_by_period(forecast_totals, prices, quantile_columns(training_params["quantiles"]))


def plot_forecast(forecast: pd.DataFrame, target_series: pd.DataFrame, params: dict[str, Any],
                  training_params: dict[str, Any], fe_params: dict[str, Any]) -> dict[str, Figure]:
    """Fan charts of the forecast after recent history, one figure per model."""
    return forecast_figures(forecast, target_series, params["history_days_shown"],
                            quantile_columns(training_params["quantiles"]), fe_params["freq"])


def plot_backtest(backtest_metrics: pd.DataFrame) -> Figure:
    """Out-of-sample MASE per model and target, model vs baselines."""
    return backtest_figure(backtest_metrics)


def plot_drivers(forecast_drivers: pd.DataFrame) -> Figure:
    """Per model, what moves each month's requests (or the first target when requests are not forecast)."""
    return drivers_figure(forecast_drivers, headline_target(forecast_drivers))


def plot_shap_summary(shap_values_table: pd.DataFrame, params: dict[str, Any]) -> Figure:
    """SHAP beeswarm of the forecast steps."""
    return summary_figure_from_table(shap_values_table, params["quantile"], params["max_display"])


def build_report(target_series: pd.DataFrame, forecast: pd.DataFrame, forecast_totals: pd.DataFrame,
                 cost_forecast: pd.DataFrame, backtest_metrics: pd.DataFrame, shap_importance: pd.DataFrame,
                 forecast_drivers: pd.DataFrame, events_calendar: pd.DataFrame, best_params: dict[str, Any],
                 prices: dict[str, UnitPrices], forecast_plots: dict[str, Figure], backtest_plot: Figure,
                 drivers_plot: Figure, shap_plot: Figure, model_selection: dict[str, Any], usage_is_simulated: bool,
                 previous_report: dict[str, Any], fe_params: dict[str, Any], training_params: dict[str, Any],
                 capacity_plan: pd.DataFrame | None = None, roi_summary: pd.DataFrame | None = None,
                 capacity_section: str = "", routes_section: str = "") -> dict[str, Any]:
    """The report folder's files: report.md and .html, their figures and the tables they summarise.

    ``capacity_plan`` / ``roi_summary`` (the planning stage's tables) feed the summary's
    first limit and best route; ``capacity_section`` / ``routes_section`` are their
    rendered Markdown sections. All four are optional: wire them as named node inputs
    once the planning stage produces them.
    """
    names = quantile_columns(training_params["quantiles"])
    data_date = price_data_date()
    settings = {**{k: fe_params[k] for k in ("freq", "horizon", "holiday_country")},
                "trend": model_selection["trend"], "trend_tuning_pinball": model_selection.get("tuning_pinball", {}),
                "objective": training_params["objective"],
                "price_source": next(iter(prices.values())).source if prices else "genai-prices",
                "price_data_date": f"{data_date}" if data_date else None}
    summary = plan_summary(target_series, forecast_totals, cost_forecast, backtest_metrics, prices, names,
                           simulated=bool(usage_is_simulated), drivers=forecast_drivers,
                           capacity_plan=capacity_plan, roi_summary=roi_summary, previous=previous_report)
    figures = {**forecast_plots, "backtest.png": backtest_plot, "drivers.png": drivers_plot,
               "shap_summary.png": shap_plot}
    inputs = ReportInputs(
        version=f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        history=target_series, totals=forecast_totals, costs=cost_forecast, backtest=backtest_metrics,
        importance=shap_importance, events=events_calendar, best_params=best_params, prices=prices,
        quantile_names=names, settings=settings, summary=summary, drivers=forecast_drivers,
        forecast_figures=list(forecast_plots), capacity_section=capacity_section or "",
        routes_section=routes_section or "",
    )
    markdown = render_report(inputs)
    return {
        "report.md": markdown,
        "report.html": render_html(markdown, {name: figure_png(figure) for name, figure in figures.items()}),
        **figures,
        "forecast.csv": forecast,
        "forecast_totals.csv": forecast_totals,
        "cost_forecast.csv": cost_forecast,
        "backtest_metrics.csv": backtest_metrics,
        "forecast_drivers.csv": forecast_drivers,
    }
