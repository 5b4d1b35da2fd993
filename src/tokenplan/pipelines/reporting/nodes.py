"""Reporting nodes: costs, figures and the versioned report folder."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenplan.datasets.previous_report import CHOSEN_BACKTEST
from tokenplan.forecasting.explanations import headline_target, summary_figure_from_table
from tokenplan.forecasting.features import spec_from_params
from tokenplan.forecasting.forecaster import quantile_columns
from tokenplan.planning.capacity_plots import capacity_figures
from tokenplan.planning.peaks import usage_bucket_of
from tokenplan.planning.prices import UnitPrices, price_data_date
from tokenplan.reporting.plots import backtest_figure, drivers_figure, figure_png, forecast_figures
from tokenplan.planning.gateway import gateway_rule, gateway_yaml
from tokenplan.reporting.explained_series import series_not_explained, why_none_explained
from tokenplan.reporting.report import ReportInputs, ended_series, render_html, render_report
from tokenplan.reporting.capacity_section import render_capacity_section
from tokenplan.reporting.forecast_method_section import tie_margin
from tokenplan.reporting.organisation_section import organisation_coverage
from tokenplan.reporting.data_source import DATA_SOURCE_FILE, data_source_identity, data_source_json, history_tail
from tokenplan.reporting.route_figures import cashflow_figure, route_cost_figure, tornado_figure
from tokenplan.reporting.routes_section import RoutesSectionInputs, render_routes_section
from tokenplan.reporting.series_shown import largest_series, only_shown
from tokenplan.reporting.summary import plan_summary, team_trends
from tokenplan.run_record import config_files


def choose_series_shown(forecast_totals: pd.DataFrame, params: dict[str, Any],
                        training_params: dict[str, Any]) -> dict[str, Any]:
    """The series the report draws and tabulates: the ``max_series_figures`` largest by forecast volume."""
    names = quantile_columns(training_params["quantiles"])
    return largest_series(forecast_totals, names[len(names) // 2], params.get("max_series_figures"))


def plot_capacity(capacity_peak_forecast: pd.DataFrame, peak_history: pd.DataFrame, capacity_plan: pd.DataFrame,
                  params: dict[str, Any], fe_params: dict[str, Any]) -> dict[str, Figure]:
    """One figure per model group: recent daily peaks, the P50/P90 peak forecast per day and so far, each limit
    and its first day over."""
    return capacity_figures(capacity_peak_forecast, peak_history[peak_history["level"] == "group"],
                            int(params["history_days_shown"]), capacity_plan, fe_params["freq"],
                            params.get("assumed_peak_to_mean"), usage_bucket_of(peak_history))


def plot_forecast(forecast: pd.DataFrame, target_series: pd.DataFrame, params: dict[str, Any],
                  training_params: dict[str, Any], fe_params: dict[str, Any],
                  suspected_outages: pd.DataFrame | None = None,
                  series_shown: dict[str, Any] | None = None) -> dict[str, Figure]:
    """Fan charts of the forecast after the recorded recent history (suspected outages marked), one per
    model shown (``series_shown``: the largest few when there are many)."""
    return forecast_figures(only_shown(forecast, series_shown), target_series, params["history_days_shown"],
                            quantile_columns(training_params["quantiles"]), fe_params["freq"], suspected_outages)


def plot_backtest(backtest_metrics: pd.DataFrame, series_shown: dict[str, Any] | None = None) -> Figure:
    """Out-of-sample MASE per model shown and target, model vs baselines."""
    if series_shown and series_shown.get("limited"):
        backtest_metrics = backtest_metrics[backtest_metrics["series"].astype(str).isin(series_shown["series"])
                                            | (backtest_metrics["series"] == "all")]
    return backtest_figure(backtest_metrics)


def plot_drivers(forecast_drivers: pd.DataFrame, model_selection: dict[str, Any] | None = None,
                 series_shown: dict[str, Any] | None = None, forecast: pd.DataFrame | None = None) -> Figure:
    """Per model shown, what moves each month's requests (or the first target when requests are not
    forecast); the models shown that the breakdown does not cover are named under it with their method
    (not those the forecast leaves out as ended)."""
    drivers = only_shown(forecast_drivers, series_shown)
    if drivers.empty:  # no series (shown) is forecast by the tuned model
        return summary_figure_from_table(pd.DataFrame(), 0.5, 1, why_none_explained(model_selection))
    target = headline_target(drivers)
    missing = series_not_explained(model_selection, forecast_drivers, target, ended_series(forecast), forecast)
    if series_shown and series_shown.get("limited"):
        missing = {s: how for s, how in missing.items() if s in series_shown["series"]}
    return drivers_figure(drivers, target, not_explained=missing)


def plot_shap_summary(shap_values_table: pd.DataFrame, params: dict[str, Any],
                      model_selection: dict[str, Any] | None = None) -> Figure:
    """SHAP beeswarm of the forecast steps (without any, why none: from ``model_selection``)."""
    return summary_figure_from_table(shap_values_table, params["quantile"], params["max_display"],
                                     why_none_explained(model_selection))


def build_report(target_series: pd.DataFrame, forecast: pd.DataFrame, forecast_totals: pd.DataFrame,
                 cost_forecast: pd.DataFrame, backtest_metrics: pd.DataFrame, shap_importance: pd.DataFrame,
                 forecast_drivers: pd.DataFrame, events_calendar: pd.DataFrame, best_params: dict[str, Any],
                 prices: dict[str, UnitPrices], forecast_plots: dict[str, Figure], backtest_plot: Figure,
                 drivers_plot: Figure, shap_plot: Figure, model_selection: dict[str, Any], usage_is_simulated: bool,
                 previous_report: dict[str, Any], fe_params: dict[str, Any], training_params: dict[str, Any],
                 forecast_layout: dict[str, Any], usage_buckets: pd.DataFrame | None = None,
                 capacity_plan: pd.DataFrame | None = None, roi_summary: pd.DataFrame | None = None,
                 capacity_report: dict[str, Any] | None = None,
                 routes_report: dict[str, Any] | None = None,
                 suspected_outages: pd.DataFrame | None = None,
                 guard_drops: pd.DataFrame | None = None,
                 series_shown: dict[str, Any] | None = None,
                 organisation_report: dict[str, Any] | None = None,
                 run_record: dict[str, Any] | None = None,
                 migrations: pd.DataFrame | None = None,
                 history_rates: pd.DataFrame | None = None,
                 price_changes: pd.DataFrame | None = None,
                 backtest_predictions: pd.DataFrame | None = None) -> dict[str, Any]:
    """The report folder's files: report.md and .html, their figures and the tables they summarise.

    ``capacity_plan`` / ``roi_summary`` (the planning stage's tables) feed the summary's
    first limit and best route; ``capacity_report`` / ``routes_report`` are their
    rendered sections (Markdown, figures, tables). All are optional, so the report can
    be built without the planning stage. ``history_rates`` price the last quarter's actual as
    ``history_costs`` does; ``price_changes`` are stated beside the cost. The chosen method's
    ``backtest_predictions`` are kept beside the forecast: the month-to-date monitor's bands need them.
    """
    names = quantile_columns(training_params["quantiles"])
    data_date = price_data_date()
    priced = [p for p in prices.values() if p is not None]
    settings = {**{k: fe_params[k] for k in ("freq", "holiday_country")}, "outages": fe_params.get("outages"),
                "min_observed_fraction": fe_params.get("min_observed_fraction", 1.0),
                "ended_days": fe_params.get("ended_days", 0),
                "horizon": forecast_layout["horizon"],
                "trend": model_selection["trend"], "trend_tuning_pinball": model_selection.get("tuning_pinball", {}),
                "trend_weeks": spec_from_params(fe_params, forecast_layout).trend_weeks,
                "objective": training_params["objective"],
                "price_source": priced[0].source if priced else "genai-prices",
                "price_data_date": f"{data_date}" if data_date else None}
    ingestion = dict(usage_buckets.attrs) if usage_buckets is not None else {}
    data_source = data_source_identity(bool(usage_is_simulated), ingestion.get("raw_source"),
                                       target_series["series"].astype(str).unique(), history_tail(target_series))
    if run_record:
        data_source["run"] = run_record
    summary = plan_summary(target_series, forecast_totals, cost_forecast, backtest_metrics, prices, names,
                           simulated=bool(usage_is_simulated), drivers=forecast_drivers,
                           capacity_plan=capacity_plan, roi_summary=roi_summary, previous=previous_report,
                           guard_drops=guard_drops, data_source=data_source,
                           methods=model_selection.get("methods"),
                           today=pd.Timestamp.now(tz="UTC").tz_localize(None),
                           outages=suspected_outages if fe_params.get("outages") else None, forecast=forecast,
                           events=events_calendar, baseline_margin=tie_margin(model_selection),
                           trend_steps=spec_from_params(fe_params, forecast_layout).trend_steps,
                           migrations=migrations, history_rates=history_rates, price_changes=price_changes,
                           trend_anchor=model_selection.get("trend"))
    at_risk = (organisation_report or {}).get("tables", {}).get("teams_at_risk.csv")
    if at_risk is not None and len(at_risk):
        summary.teams_at_risk = team_trends(at_risk.head(5).replace({np.nan: None}).to_dict(orient="records"),
                                            summary.trends_not_carried,
                                            organisation_report["tables"].get("organisation_series.csv"))
    sections = [r for r in (capacity_report, routes_report, organisation_report) if r]
    figures = {**forecast_plots, "backtest.png": backtest_plot, "drivers.png": drivers_plot,
               "shap_summary.png": shap_plot, **{k: v for r in sections for k, v in r.get("figures", {}).items()}}
    inputs = ReportInputs(
        version=f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        history=target_series, totals=forecast_totals, costs=cost_forecast, backtest=backtest_metrics,
        importance=shap_importance, events=events_calendar, best_params=best_params, prices=prices,
        quantile_names=names, settings=settings, summary=summary, drivers=forecast_drivers,
        forecast_figures=list(forecast_plots),
        capacity_section=(capacity_report or {}).get("markdown", ""),
        routes_section=(routes_report or {}).get("markdown", ""),
        organisation_section=(organisation_report or {}).get("markdown", ""),
        layout=forecast_layout, selection=model_selection,
        ingestion=ingestion,
        outages=suspected_outages if fe_params.get("outages") else None, guard_drops=guard_drops,
        series_shown=series_shown, run=run_record, forecast=forecast,
        organisation_coverage=organisation_coverage((organisation_report or {}).get("tables", {})
                                                    .get("hierarchy_backtest.csv")),
    )
    markdown = render_report(inputs)
    # Each figure drawn once: the page embeds the very PNG files the folder holds (drawing them
    # again on save took about a fifth of a demo run).
    pngs = {name: figure_png(figure) for name, figure in figures.items()}
    return {
        "report.md": markdown,
        "report.html": render_html(markdown, pngs),
        DATA_SOURCE_FILE: data_source_json(data_source),
        **config_files(run_record),  # run.yml, where the command is kedro run --config (a list in --params)
        **pngs,
        "forecast.csv": forecast,
        "forecast_totals.csv": forecast_totals,
        "cost_forecast.csv": cost_forecast,
        "backtest_metrics.csv": backtest_metrics,
        "forecast_drivers.csv": forecast_drivers,
        **({"guard_drops.csv": guard_drops} if guard_drops is not None and len(guard_drops) else {}),
        **({"price_changes.csv": price_changes} if price_changes is not None and len(price_changes) else {}),
        **({f"{CHOSEN_BACKTEST}.csv": _chosen(backtest_predictions)} if backtest_predictions is not None else {}),
        **{k: v for r in sections for k, v in r.get("tables", {}).items()},
    }


def _chosen(backtest_predictions: pd.DataFrame) -> pd.DataFrame:
    """The backtest rows of the method the plan chose per series (``method == "chosen"``)."""
    return backtest_predictions[backtest_predictions["method"] == "chosen"].reset_index(drop=True)


# ---------------------------------------------------------------- organisation


def render_organisation(organisation_series: pd.DataFrame, hierarchy_backtest: pd.DataFrame,
                        organisation_forecast: pd.DataFrame, team_budgets: pd.DataFrame,
                        teams_at_risk: pd.DataFrame, budget_paths: pd.DataFrame, chargeback: pd.DataFrame,
                        chargeback_rule: dict[str, Any], litellm_team_budgets: list[dict],
                        params: dict[str, Any], cost_forecast: pd.DataFrame | None = None,
                        migrations: pd.DataFrame | None = None) -> dict[str, Any]:
    """The organisation section (empty without teams): its Markdown, its figure, and the CSV tables and
    LiteLLM budgets it names; ``cost_forecast`` says what the forecast still prices for an ended series."""
    import json

    from tokenplan.reporting.organisation_figures import budget_paths_figure
    from tokenplan.reporting.organisation_section import OrganisationSectionInputs, render_organisation_section

    inputs = OrganisationSectionInputs(organisation_series, hierarchy_backtest, organisation_forecast, team_budgets,
                                       teams_at_risk, chargeback, chargeback_rule, params, litellm_team_budgets,
                                       cost_forecast, migrations)
    markdown = render_organisation_section(inputs)
    if not markdown:
        return {}
    figures = {"budget_paths.png": budget_paths_figure(budget_paths, teams_at_risk)} if len(teams_at_risk) else {}
    return {"markdown": markdown, "figures": figures,
            "tables": {"team_budgets.csv": team_budgets, "teams_at_risk.csv": teams_at_risk,
                       "chargeback.csv": chargeback, "hierarchy_backtest.csv": hierarchy_backtest,
                       "organisation_series.csv": organisation_series,
                       "organisation_forecast.csv": organisation_forecast,
                       "gateway/litellm_team_budgets.json": json.dumps(litellm_team_budgets, indent=2) + "\n"}}


# ---------------------------------------------------------------- routes and ROI


def render_routes(route_costs: pd.DataFrame, route_rates: pd.DataFrame, roi_summary: pd.DataFrame,
                  roi_cashflow: pd.DataFrame, roi_sensitivity: pd.DataFrame, price_check: pd.DataFrame,
                  prices: dict[str, UnitPrices | None], planning_params: dict[str, Any],
                  training_params: dict[str, Any]) -> dict[str, Any]:
    """The routes and ROI section: its Markdown, figures and the CSV tables it summarises."""
    names = quantile_columns(training_params["quantiles"])
    if route_costs.empty or roi_summary.empty:
        return {"markdown": "## Cost per route and migration ROI\n\nNo costs: the usage has no token counts "
                            "(or no model has a price), so no route can be priced.", "figures": {}, "tables": {}}
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


# ---------------------------------------------------------------- capacity


def render_capacity(capacity_plan: pd.DataFrame, capacity_backtest: pd.DataFrame, rate_limits: pd.DataFrame,
                    capacity_series_demand: pd.DataFrame, gateway_config: dict[str, Any],
                    capacity_figures: dict[str, Figure], capacity_params: dict[str, Any],
                    capacity_calibration: dict[str, Any], capacity_gaps: pd.DataFrame | None = None,
                    peak_history: pd.DataFrame | None = None) -> dict[str, Any]:
    """The capacity section: its Markdown, figures, the plan and backtest tables, and the gateway config file
    (``peak_history``: where peaks are assumed, the usage's bucket width tells which factor was applied)."""
    rule = gateway_rule(float(capacity_params["gateway"]["safety_margin"]))
    usage_freq = None if peak_history is None else usage_bucket_of(peak_history)
    return {
        "markdown": render_capacity_section(capacity_plan, capacity_backtest, rate_limits, capacity_series_demand,
                                            gateway_config, capacity_params, capacity_calibration, capacity_gaps,
                                            usage_freq),
        "figures": capacity_figures,
        "tables": {"capacity_plan.csv": capacity_plan, "capacity_backtest.csv": capacity_backtest,
                   **({"capacity_gaps.csv": capacity_gaps} if capacity_gaps is not None and len(capacity_gaps) else {}),
                   "gateway/litellm_config.yaml": gateway_yaml(gateway_config,
                                                               "LiteLLM proxy config written by tokenplan: " + rule)},
    }
