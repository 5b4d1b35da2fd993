"""Reporting nodes: costs, figures and the versioned report folder."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from tokenplan.cost_forecast import cost_by_period
from tokenplan.forecaster import quantile_columns
from tokenplan.plots import backtest_figure, figure_png, forecast_figure
from tokenplan.pricing import UnitPrices, unit_prices
from tokenplan.planning.gateway import gateway_rule, gateway_yaml
from tokenplan.report import ReportInputs, render_html, render_report
from tokenplan.reporting.capacity_section import render_capacity_section


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
                  training_params: dict[str, Any], fe_params: dict[str, Any]) -> Figure:
    """Fan charts of the forecast after recent history."""
    return forecast_figure(forecast, target_series, params["history_days_shown"],
                           quantile_columns(training_params["quantiles"]), fe_params["freq"])


def plot_backtest(backtest_metrics: pd.DataFrame) -> Figure:
    """Bar chart of out-of-sample MASE, model vs baselines."""
    return backtest_figure(backtest_metrics)


def build_report(target_series: pd.DataFrame, forecast: pd.DataFrame, forecast_totals: pd.DataFrame,
                 cost_forecast: pd.DataFrame, backtest_metrics: pd.DataFrame, shap_importance: pd.DataFrame,
                 events_calendar: pd.DataFrame, best_params: dict[str, Any], prices: dict[str, UnitPrices],
                 forecast_plot: Figure, backtest_plot: Figure, shap_plot: Figure,
                 model_selection: dict[str, Any], fe_params: dict[str, Any],
                 training_params: dict[str, Any], capacity_plan: pd.DataFrame, capacity_backtest: pd.DataFrame,
                 rate_limits: pd.DataFrame, capacity_series_demand: pd.DataFrame, gateway_config: dict[str, Any],
                 capacity_figures: dict[str, Figure], capacity_params: dict[str, Any],
                 capacity_calibration: dict[str, Any]) -> dict[str, Any]:
    """The report folder's files: report.md, its figures and the tables it summarises."""
    settings = {**{k: fe_params[k] for k in ("freq", "horizon", "holiday_country")},
                "trend": model_selection["trend"], "trend_tuning_pinball": model_selection.get("tuning_pinball", {}),
                "objective": training_params["objective"]}
    inputs = ReportInputs(
        version=f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        history=target_series, totals=forecast_totals, costs=cost_forecast, backtest=backtest_metrics,
        importance=shap_importance, events=events_calendar, best_params=best_params, prices=prices,
        quantile_names=quantile_columns(training_params["quantiles"]), settings=settings,
        capacity=render_capacity_section(capacity_plan, capacity_backtest, rate_limits, capacity_series_demand,
                                         gateway_config, capacity_params, capacity_calibration),
    )
    markdown = render_report(inputs)
    figures = {"forecast.png": forecast_plot, "backtest.png": backtest_plot, "shap_summary.png": shap_plot,
               **capacity_figures}
    return {
        "report.md": markdown,
        "report.html": render_html(markdown, {name: figure_png(figure) for name, figure in figures.items()}),
        **figures,
        "forecast.csv": forecast,
        "forecast_totals.csv": forecast_totals,
        "cost_forecast.csv": cost_forecast,
        "backtest_metrics.csv": backtest_metrics,
        "capacity_plan.csv": capacity_plan,
        "capacity_backtest.csv": capacity_backtest,
        "gateway/litellm_config.yaml": gateway_yaml(gateway_config, "LiteLLM proxy config written by tokenplan: "
                                                    + gateway_rule(float(capacity_params["gateway"]["safety_margin"]))),
    }
