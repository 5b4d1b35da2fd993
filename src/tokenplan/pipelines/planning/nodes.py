"""Planning nodes: short adapters from catalog data to ``tokenplan.planning``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tokenplan.forecaster import quantile_columns
from tokenplan.planning import roi
from tokenplan.planning.costs import cost_by_period, route_costs
from tokenplan.planning.price_check import history_months, monthly_gap, validate_billed, whole_months
from tokenplan.planning.prices import UnitPrices, unit_prices, validate_price_table
from tokenplan.planning.routes import Pricer, Route, route_rates
from tokenplan.planning.sensitivity import tornado

# ---------------------------------------------------------------- routes and ROI


def _routes(params: dict[str, Any]) -> tuple[list[Route], str]:
    routes = [Route(**r) for r in params["routes"]["definitions"]]
    baseline = params["routes"]["baseline"]
    if baseline not in {r.name for r in routes}:
        raise ValueError(f"parameters_planning.yml: planning.routes.baseline {baseline!r} is not a route name "
                         f"(routes: {[r.name for r in routes]})")
    return routes, baseline


def _pricer(price_table: pd.DataFrame, params: dict[str, Any]) -> Pricer:
    table = validate_price_table(price_table, price_table.attrs.get("source", "price_table"))
    return Pricer(table, params["routes"].get("providers") or {})


def _models(series: pd.Series) -> dict[str, str]:
    return {s: s.split("/")[0] for s in sorted(series.unique())}


def _tiers(usage_buckets: pd.DataFrame) -> dict[str, str]:
    """Service tier per series, where the source has it (e.g. the Admin API grouped by service_tier)."""
    if "service_tier" not in usage_buckets.columns:
        return {}
    return usage_buckets.drop_duplicates("series").set_index("series")["service_tier"].astype(str).to_dict()


def price_models(forecast_totals: pd.DataFrame, price_table: pd.DataFrame,
                 params: dict[str, Any]) -> dict[str, UnitPrices | None]:
    """Standard rates per model in force on the price date (None: no price anywhere)."""
    chosen = params["routes"].get("price_date")
    when = pd.Timestamp(chosen or forecast_totals["start"].min()).date()
    pricer = _pricer(price_table, params)
    return {m: pricer.standard(m, when) for m in sorted(set(_models(forecast_totals["series"]).values()))}


def estimate_costs(forecast_totals: pd.DataFrame, prices: dict[str, UnitPrices | None],
                   training_params: dict[str, Any]) -> pd.DataFrame:
    """USD per series and period (months and the whole horizon) at the price date's standard rates."""
    return cost_by_period(forecast_totals, prices, quantile_columns(training_params["quantiles"]))


def compute_route_rates(forecast_totals: pd.DataFrame, usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                        params: dict[str, Any]) -> pd.DataFrame:
    """Effective USD per million tokens per route, series, forecast month and token type."""
    routes, _ = _routes(params)
    months = sorted(p for p in forecast_totals["period"].unique() if p != "horizon")
    return route_rates(routes, _models(forecast_totals["series"]), _tiers(usage_buckets), months,
                       _pricer(price_table, params))


def compute_route_costs(forecast_totals: pd.DataFrame, rates: pd.DataFrame,
                        training_params: dict[str, Any]) -> pd.DataFrame:
    """USD per route, model and period (``YYYY-MM`` or ``horizon``) with P10/P50/P90."""
    return route_costs(forecast_totals, rates, quantile_columns(training_params["quantiles"]))


def _route_months(costs: pd.DataFrame, forecast_totals: pd.DataFrame, baseline: str, names: list[str],
                  params: dict[str, Any], fe_params: dict[str, Any], growth: float | None = None,
                  history: pd.Series | None = None):
    monthly = roi.monthly_route_costs(costs, forecast_totals, fe_params["freq"], names)
    return roi.route_months(monthly, baseline, names, params["roi"]["months"], growth, history)


def compute_roi(costs: pd.DataFrame, forecast_totals: pd.DataFrame, history_costs: pd.DataFrame,
                params: dict[str, Any], training_params: dict[str, Any],
                fe_params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ROI summary (one row per candidate route) and its monthly cash flow against the baseline."""
    routes, baseline = _routes(params)
    names = quantile_columns(training_params["quantiles"])
    whole = history_costs[history_costs["whole_month"]].groupby("period")["observed"].sum().sort_index()
    history = whole.tail(params["roi"]["growth_history_months"]).reset_index(drop=True)
    months, growth = _route_months(costs, forecast_totals, baseline, names, params, fe_params, history=history)
    flow = roi.cashflow(months, baseline, names)
    rate, horizon = params["roi"]["annual_discount_rate"], params["roi"]["months"]
    rows = [roi.route_summary(r, flow[flow["route"] == r.name], names, rate, horizon)
            for r in routes if r.name != baseline]
    summary = pd.DataFrame(rows).assign(growth_after_forecast=growth, growth_fit_history_months=len(history))
    for column in [c for c in summary.columns if c.startswith("payback_month_")]:
        summary[column] = summary[column].astype("Int64")
    return summary, flow.assign(month=flow["month"].astype(int))


def compute_sensitivity(forecast_totals: pd.DataFrame, usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                        roi_summary: pd.DataFrame, params: dict[str, Any], training_params: dict[str, Any],
                        fe_params: dict[str, Any]) -> pd.DataFrame:
    """Tornado table: each candidate route's 12-month NPV (P50) with each input moved down and up."""
    routes, baseline = _routes(params)
    names = quantile_columns(training_params["quantiles"])
    base_route = next(r for r in routes if r.name == baseline)
    pricer, series, tiers = _pricer(price_table, params), _models(forecast_totals["series"]), _tiers(usage_buckets)
    periods = sorted(p for p in forecast_totals["period"].unique() if p != "horizon")
    settings = params["roi"]
    growth = float(roi_summary["growth_after_forecast"].iloc[0]) if len(roi_summary) else 0.0

    def evaluate(route: Route, moved_growth: float | None) -> float:
        rates = route_rates([base_route, route.model_copy(update={"name": f"{route.name} (moved)"})],
                            series, tiers, periods, pricer)
        costs = route_costs(forecast_totals, rates, names)
        months, _ = _route_months(costs, forecast_totals, baseline, names, params, fe_params,
                                  growth if moved_growth is None else moved_growth)
        flow = roi.cashflow(months, baseline, names)
        return roi.npv(flow[f"saving_{names[len(names) // 2]}"], route.one_time.usd, settings["annual_discount_rate"])

    tables = [tornado(r, evaluate, growth, settings["sensitivity"]["swing"], settings["sensitivity"]["growth_swing"])
              for r in routes if r.name != baseline]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def price_history(target_series: pd.DataFrame, usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                  params: dict[str, Any]) -> pd.DataFrame:
    """The usage history priced at the baseline route's rates: USD per model and month, with
    ``missing_buckets`` and ``whole_month`` (the history covers the month from its first to last day)."""
    routes, baseline = _routes(params)
    history = history_months(target_series)
    rates = route_rates([r for r in routes if r.name == baseline], _models(history["series"]), _tiers(usage_buckets),
                        sorted(history["period"].unique()), _pricer(price_table, params))
    priced = route_costs(history, rates, ["observed"])
    missing = history.assign(model=history["series"].str.split("/").str[0]).groupby(
        ["model", "period"], as_index=False)["missing_buckets"].sum()
    priced = priced.merge(missing, on=["model", "period"], how="left")
    return priced.assign(whole_month=priced["period"].isin(whole_months(history)))[
        ["model", "period", "observed", "missing_buckets", "whole_month"]]


def check_prices(history_costs: pd.DataFrame, billed_costs: pd.DataFrame) -> pd.DataFrame:
    """Priced history vs billed USD per month (empty when no bill was supplied)."""
    billed = validate_billed(billed_costs, billed_costs.attrs.get("source", "billed_costs"))
    return monthly_gap(history_costs, billed)
