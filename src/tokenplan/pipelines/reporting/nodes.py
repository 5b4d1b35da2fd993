"""Reporting nodes: costs, figures and the versioned report folder."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from tokenplan.forecaster import quantile_columns
from tokenplan.plots import backtest_figure, figure_png, forecast_figure
from tokenplan.planning.prices import UnitPrices
from tokenplan.report import ReportInputs, render_html, render_report
from tokenplan.reporting.route_figures import cashflow_figure, route_cost_figure, tornado_figure
from tokenplan.reporting.routes_section import RoutesSectionInputs, render_routes_section


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
                 training_params: dict[str, Any], forecast_layout: dict[str, Any],
                 routes_report: dict[str, Any],
                 usage_buckets: pd.DataFrame | None = None) -> dict[str, Any]:
    """The report folder's files: report.md, its figures and the tables it summarises."""
    settings = {**{k: fe_params[k] for k in ("freq", "holiday_country")}, "horizon": forecast_layout["horizon"],
                "trend": model_selection["trend"], "trend_tuning_pinball": model_selection.get("tuning_pinball", {}),
                "objective": training_params["objective"]}
    inputs = ReportInputs(
        version=f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        history=target_series, totals=forecast_totals, costs=cost_forecast, backtest=backtest_metrics,
        importance=shap_importance, events=events_calendar, best_params=best_params, prices=prices,
        quantile_names=quantile_columns(training_params["quantiles"]), settings=settings,
        layout=forecast_layout, selection=model_selection,
        routes_section=routes_report["markdown"],
        ingestion=dict(usage_buckets.attrs) if usage_buckets is not None else {},
    )
    markdown = render_report(inputs)
    figures = {"forecast.png": forecast_plot, "backtest.png": backtest_plot, "shap_summary.png": shap_plot,
               **routes_report["figures"]}
    return {
        "report.md": markdown,
        "report.html": render_html(markdown, {name: figure_png(figure) for name, figure in figures.items()}),
        **figures,
        "forecast.csv": forecast,
        "forecast_totals.csv": forecast_totals,
        "cost_forecast.csv": cost_forecast,
        "backtest_metrics.csv": backtest_metrics,
        **routes_report["tables"],
    }


# ---------------------------------------------------------------- routes and ROI


def render_routes(route_costs: pd.DataFrame, route_rates: pd.DataFrame, roi_summary: pd.DataFrame,
                  roi_cashflow: pd.DataFrame, roi_sensitivity: pd.DataFrame, price_check: pd.DataFrame,
                  prices: dict[str, UnitPrices | None], planning_params: dict[str, Any],
                  training_params: dict[str, Any]) -> dict[str, Any]:
    """The routes and ROI section: its Markdown, figures and the CSV tables it summarises."""
    names = quantile_columns(training_params["quantiles"])
    inputs = RoutesSectionInputs(route_costs, route_rates, roi_summary, roi_cashflow, roi_sensitivity, price_check,
                                 prices, planning_params, names)
    return {
        "markdown": render_routes_section(inputs),
        "figures": {"route_costs.png": route_cost_figure(route_costs, names),
                    "roi_cashflow.png": cashflow_figure(roi_cashflow, roi_summary, names),
                    "roi_tornado.png": tornado_figure(roi_sensitivity)},
        "tables": {"route_costs.csv": route_costs[["route", "model", "period", *names]], "roi_summary.csv": roi_summary,
                   "roi_cashflow.csv": roi_cashflow, "route_rates.csv": route_rates,
                   "roi_sensitivity.csv": roi_sensitivity, "price_check.csv": price_check},
    }
