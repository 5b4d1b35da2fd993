"""Planning nodes: short adapters from catalog data to ``tokenplan.planning``."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.forecaster import quantile_columns
from tokenplan.forecasting.migrations import predecessors_rows
from tokenplan.planning import roi, stated_events
from tokenplan.planning.cache_writes import one_hour_shares
from tokenplan.planning.capacity import PeakModel, capacity_gaps, capacity_tables, floor_at_members
from tokenplan.planning.capacity_backtest import backtest_peaks
from tokenplan.planning.costs import cost_by_period, route_costs
from tokenplan.planning.dated_prices import PRICE_CHANGE_COLUMNS, price_changes
from tokenplan.planning.gateway import deployment_endpoints, gateway_config
from tokenplan.planning.long_context import long_context_shares
from tokenplan.planning.peaks import assumed_factor, forecast_bucket_peaks, usage_peaks
from tokenplan.planning.price_check import history_months, monthly_gap, validate_billed, whole_months
from tokenplan.planning.prices import PRICED_TARGETS, UnitPrices, model_provider, validate_price_table
from tokenplan.planning.rate_limits import (LIMIT_COLUMNS, METRICS, group_of_series, limits_from_file, planned_metrics,
                                            unused_limits)
from tokenplan.planning.recorded_prices import history_rate_lookup, recorded_rates
from tokenplan.planning.route_config import configured_routes
from tokenplan.planning.routes import DEMO_SOURCE, Pricer, Route, route_rates, routes_that_apply
from tokenplan.planning.sensitivity import tornado
from tokenplan.schemas import naive_utc

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- capacity


def _peak_model(params: dict[str, Any]) -> PeakModel:
    return PeakModel(**{k: params[k] for k in ("n_draws", "error_correlation", "ratio_weeks", "seed",
                                                 "extrapolate_days") if k in params})


def _members(groups: dict[str, str]) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for series, group in sorted(groups.items()):
        members.setdefault(group, []).append(series)
    return members


def build_rate_limits(rate_limits_raw: pd.DataFrame, usage_buckets: pd.DataFrame) -> pd.DataFrame:
    """The validated limits table (a limits file's rows, or the Admin API dataset's table).

    With no limits given (an empty table: the user's own data without a limits file),
    each model is its own group with no limit, so its peaks are still planned.
    """
    if list(rate_limits_raw.columns) == list(LIMIT_COLUMNS):
        return rate_limits_raw.reset_index(drop=True)
    if rate_limits_raw.empty:
        models = sorted({str(s).split("/")[0] for s in usage_buckets["series"].unique()})
        return pd.DataFrame({"model_group": models, "models": models, **{m: np.nan for m in METRICS},
                             "itpm_counts_cache_reads": False, "as_of": "",
                             "source": "no limits given"}, columns=list(LIMIT_COLUMNS)).astype(
            {m: float for m in METRICS})
    return limits_from_file(rate_limits_raw)


def build_peak_history(usage_buckets: pd.DataFrame, rate_limits: pd.DataFrame, ingestion_params: dict[str, Any],
                       fe_params: dict[str, Any], params: dict[str, Any]) -> pd.DataFrame:
    """Per model group and series, metric and forecast bucket of history: total, busiest minute, ratio."""
    groups = group_of_series(usage_buckets["series"].unique(), rate_limits, ingestion_params.get("model_aliases"))
    reads = dict(zip(rate_limits["model_group"], rate_limits["itpm_counts_cache_reads"], strict=True))
    limits = rate_limits.set_index("model_group")
    metrics = {s: planned_metrics(limits, g) for s, g in groups.items()}
    # The width ingestion used (detected from the data when ingestion.bucket is auto).
    usage_freq = usage_buckets.attrs.get("bucket") or ingestion_params["bucket"]
    if usage_freq == "auto":  # a table that did not come through ingestion: read the grid off it
        steps = usage_buckets["timestamp"].drop_duplicates().sort_values().diff().dropna()
        usage_freq = "D" if len(steps) and steps.min() >= pd.Timedelta(days=1) else "h"
    factor = assumed_factor(params["assumed_peak_to_mean"], usage_freq)
    by_group = usage_peaks(usage_buckets, groups, reads, usage_freq, factor,
                           {g: planned_metrics(limits, g) for g in set(groups.values())})
    by_series = usage_peaks(usage_buckets, {s: s for s in usage_buckets["series"].unique()},
                            {s: reads.get(g, False) for s, g in groups.items()}, usage_freq, factor, metrics)
    # The usage's own bucket width goes with the table: where peaks are assumed, the report and the figures
    # state the one factor that was applied (a daily export's, not the hourly one too).
    return pd.concat([forecast_bucket_peaks(by_group, usage_freq, fe_params["freq"]).assign(level="group"),
                      forecast_bucket_peaks(by_series, usage_freq, fe_params["freq"]).assign(level="series")],
                     ignore_index=True).assign(usage_bucket=usage_freq)


_DEMAND_COLUMNS = ("model_group", "series", "metric", "p50", "p90", "peak_method")
_DEMAND_DTYPES = {c: float if c in ("p50", "p90") else object for c in _DEMAND_COLUMNS}


def _planned_units(series: list[str], groups: dict[str, str]) -> dict[str, list[str]]:
    """Model group -> its series; a series whose model the limits do not list is its own unit (no limit)."""
    return {**_members(groups), **{s: [s] for s in series if s not in groups}}


def plan_capacity(forecast: pd.DataFrame, peak_history: pd.DataFrame, rate_limits: pd.DataFrame,
                  capacity_calibration: dict[str, Any], ingestion_params: dict[str, Any], fe_params: dict[str, Any],
                  training_params: dict[str, Any], params: dict[str, Any],
                  forecast_layout: dict[str, Any] | None = None, forecast_events: pd.DataFrame | None = None,
                  migrations: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The capacity plan, the per-day peak forecast per group, and each series' horizon peak demand.

    ``forecast_layout``: its ``window`` (buckets the backtest spans) splits each bucket's
    interval into its own noise and a shared level error past it, read per phase of its
    ``season`` (``PeakModel.level_after``, ``PeakModel.season``); ``forecast_events``: the
    stated launches and campaigns, read as steps, not growth, by the extrapolated crossings; ``migrations``: a
    model that took over a traffic draws its own peak ratios from its predecessors' days too
    (``tokenplan.forecasting.migrations.predecessors_rows``)."""
    groups = group_of_series(forecast["series"].unique(), rate_limits, ingestion_params.get("model_aliases"))
    limits = rate_limits.set_index("model_group")
    layout = forecast_layout or {}
    model = replace(_peak_model(params), level_after=int(layout["window"]) if layout.get("window") else None,
                    season=int(layout.get("season") or 1))
    names, freq = quantile_columns(training_params["quantiles"]), fe_params["freq"]
    calibration = capacity_calibration if params.get("calibrate", True) else None
    series = sorted(forecast["series"].unique())
    stated = None
    if forecast_events is not None and len(forecast) and "effect" in forecast_events:
        days = pd.DatetimeIndex(naive_utc(forecast["timestamp"])).normalize().unique().sort_values()
        stated = stated_events.daily_multipliers(forecast_events, sorted({str(s).split("/")[0] for s in series}), days, days.max())
    units = _planned_units(series, groups)
    plan, buckets = capacity_tables(forecast, _group_history(peak_history, groups), limits, units, names, freq, model,
                                    calibration=calibration, stated=stated)
    # A unit of one series: its peak is the unit's own rows (drawn again under the series' name, its P90 differed
    # from the plan's by the draws alone, and the report quoted both for one quantity).
    alone = {members[0]: unit for unit, members in units.items() if len(members) == 1}
    horizon = plan[plan["period"] == "horizon"]
    frames = [horizon.assign(series=horizon["model_group"].map({u: s for s, u in alone.items()}))
              .dropna(subset=["series"])]
    shared = {s: g for s, g in groups.items() if s not in alone}  # a series sharing its group: its own peak
    if shared:
        # Each series against its group's limits: where it crosses before its group, the group does too.
        series_limits = limits.reindex(list(shared.values())).set_axis(list(shared))
        own = peak_history[peak_history["level"] == "series"]
        own = pd.concat([own, predecessors_rows(own, migrations)], ignore_index=True)
        series_plan, series_days = capacity_tables(
            forecast, own, series_limits, {s: [s] for s in shared}, names,
            freq, model, calibration=calibration, metrics={s: planned_metrics(limits, g) for s, g in shared.items()},
            explain=False, stated=stated)
        # A group's busiest minute is at least each member's: its quantiles are floored at theirs.
        plan, buckets = floor_at_members(plan, buckets, series_plan, series_days, units)
        frames.append(series_plan[series_plan["period"] == "horizon"].assign(series=lambda f: f["model_group"]))
    planned = set().union(*(f["series"] for f in frames))
    frames.append(pd.DataFrame({"series": [s for s in series if s not in groups and s not in planned]}))
    unforecast = _live_without_forecast(peak_history, series)
    groups = {**groups, **group_of_series(unforecast["series"].unique(), rate_limits,
                                          ingestion_params.get("model_aliases"))}
    frames.append(unforecast)
    # Typed frames, empty or not: a concat keeps the columns' dtypes (model_group object where no series is in
    # a group, a limits file naming none of the usage's models).
    demand = pd.concat([f.assign(model_group=f["series"].map(groups)).reindex(columns=list(_DEMAND_COLUMNS))
                        .astype(_DEMAND_DTYPES) for f in frames], ignore_index=True)
    return plan, buckets, demand.sort_values("series", kind="stable", ignore_index=True)


LIVE_DAYS = 7  # a series with usage in the history's last days is live: the gateway must route it


def _live_without_forecast(peak_history: pd.DataFrame, forecast_series: list[str]) -> pd.DataFrame:
    """Demand rows (``series, metric, p50, p90, peak_method``) of each series used in the history's last
    ``LIVE_DAYS`` days that the forecast left out (too young for any method): its history's busiest minute per
    metric, ``peak_method`` "history (not forecast)". Left out of the demand, it had no gateway deployment: a
    review's key whose traffic moved to a model two days before the end could not reach that model through the
    config, while the stopped model kept its share."""
    own = peak_history[peak_history["level"] == "series"]
    if own.empty:
        return pd.DataFrame(columns=["series", "metric", "p50", "p90", "peak_method"])
    recent = own[(own["ds"] > own["ds"].max() - pd.Timedelta(days=LIVE_DAYS)) & (own["total"] > 0)]
    live = own[own["unit"].isin(set(recent["unit"]) - set(forecast_series))]
    busiest = live.groupby(["unit", "metric"], as_index=False)["peak"].max()
    return pd.DataFrame({"series": busiest["unit"], "metric": busiest["metric"], "p50": busiest["peak"],
                         "p90": busiest["peak"], "peak_method": "history (not forecast)"})


def _group_history(peak_history: pd.DataFrame, groups: dict[str, str]) -> pd.DataFrame:
    """Peak history per planned unit: the groups', and the series' own for a series in no group."""
    by_series = peak_history[(peak_history["level"] == "series") & ~peak_history["unit"].isin(list(groups))]
    return pd.concat([peak_history[peak_history["level"] == "group"], by_series], ignore_index=True)


def explain_capacity_gaps(forecast: pd.DataFrame, peak_history: pd.DataFrame, rate_limits: pd.DataFrame,
                          usage_buckets: pd.DataFrame, ingestion_params: dict[str, Any]) -> pd.DataFrame:
    """Each model group (or series) and metric the capacity plan leaves out, and why (a limits row no model of
    the usage matches among them); also those planned without some of their drivers. Logged as warnings, so
    the console says it too."""
    aliases = ingestion_params.get("model_aliases")
    groups = group_of_series(usage_buckets["series"].unique(), rate_limits, aliases)
    units = _planned_units(sorted(usage_buckets["series"].unique()), groups)
    gaps = capacity_gaps(forecast, _group_history(peak_history, groups), rate_limits.set_index("model_group"), units)
    unused = unused_limits(rate_limits, usage_buckets["series"].unique(), aliases)
    if len(unused):
        gaps = unused if gaps.empty else pd.concat([gaps, unused], ignore_index=True)
    limits = rate_limits.set_index("model_group")
    unplanned = gaps[~gaps["planned"]].groupby("model_group")["metric"].nunique()
    for row in gaps.itertuples():
        limited = row.model_group in limits.index and np.isfinite(float(limits.loc[row.model_group, row.metric]))
        # A warning where it costs a plan: a limit left unchecked, or a group with nothing planned.
        loud = limited or unplanned.get(row.model_group, 0) == len(planned_metrics(limits, row.model_group))
        logger.log(logging.WARNING if loud else logging.INFO, "capacity %s %s %s: %s",
                   "planned for" if row.planned else "not planned for", row.model_group, row.metric.upper(), row.reason)
    return gaps


def backtest_capacity(backtest_predictions: pd.DataFrame, peak_history: pd.DataFrame, rate_limits: pd.DataFrame,
                      fe_params: dict[str, Any], training_params: dict[str, Any],
                      params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Realised peaks of held-out backtest windows against the peak forecast made at each fold's origin,
    and the correction of the simulated draws (level, shared-error spread) that calibrates the plan."""
    limits = rate_limits.set_index("model_group")
    history = peak_history[peak_history["level"] == "group"]
    members = _members(group_of_series(backtest_predictions["series"].unique(), rate_limits))
    # The plan's own method per series (the selection rule's), on every out-of-sample fold.
    predictions = backtest_predictions[backtest_predictions["method"] == "chosen"]
    return backtest_peaks(predictions, history, limits, members, quantile_columns(training_params["quantiles"]),
                          fe_params["freq"], _peak_model(params))


def build_gateway_config(rate_limits: pd.DataFrame, capacity_series_demand: pd.DataFrame,
                         capacity_plan: pd.DataFrame, params: dict[str, Any],
                         price_providers: dict[str, str] | None = None) -> dict[str, Any]:
    """The LiteLLM proxy config (model_list with per-deployment rpm/itpm/otpm/tpm, router_settings), each
    deployment's limits scaled from its own P90 peak by its group's (the plan's horizon row), and sent to
    its model's own provider as the price lookup finds it (``price_providers``: ``planning.routes.providers``)."""
    gateway = params["gateway"]
    models = sorted({str(s).split("/")[0] for s in capacity_series_demand["series"].dropna()})
    found = {m: model_provider(m, (price_providers or {}).get(m)) for m in models}
    endpoints, notes = deployment_endpoints(found, gateway.get("providers"), gateway.get("provider"),
                                            gateway.get("api_key"))
    for note in notes:
        logger.warning("gateway config: %s", note)
    group_peaks = capacity_plan.loc[capacity_plan["period"] == "horizon", ["model_group", "metric", "p90"]]
    return gateway_config(rate_limits.set_index("model_group"), capacity_series_demand,
                          float(gateway["safety_margin"]), endpoints, gateway.get("model_ids"), group_peaks)


# ---------------------------------------------------------------- routes and ROI


def _routes(params: dict[str, Any], sources: dict[str, str] | None = None) -> tuple[list[Route], str]:
    """The configured routes (``planning.routes.overrides`` applied; ``sources``: where the run set which
    parameter, ``parameter_sources``) and the baseline's name."""
    routes = configured_routes(params["routes"], sources)
    baseline = params["routes"]["baseline"]
    if baseline not in {r.name for r in routes}:
        raise ValueError(f"parameters_planning.yml: planning.routes.baseline {baseline!r} is not a route name "
                         f"(routes: {[r.name for r in routes]})")
    return routes, baseline


def _pricer(price_table: pd.DataFrame, params: dict[str, Any], usage_buckets: pd.DataFrame) -> Pricer:
    """Rates that pay the history's mix of 5-minute and 1-hour cache writes and of long-context
    requests, per model."""
    table = validate_price_table(price_table, price_table.attrs.get("source", "price_table"))
    days = int(params["routes"]["cache_write_share_days"])
    return Pricer(table, params["routes"].get("providers") or {}, one_hour_shares(usage_buckets, days), days,
                  long_context_shares(usage_buckets, days))


def _models(series: pd.Series) -> dict[str, str]:
    return {s: s.split("/")[0] for s in sorted(series.unique())}


def _tiers(usage_buckets: pd.DataFrame) -> dict[str, str]:
    """Service tier per series, where the source has it (e.g. the Admin API grouped by service_tier)."""
    if "service_tier" not in usage_buckets.columns:
        return {}
    return usage_buckets.drop_duplicates("series").set_index("series")["service_tier"].astype(str).to_dict()


def _price_date(params: dict[str, Any]) -> dt.date | None:
    """``planning.routes.price_date``: the one day whose prices every forecast day pays (None: each its own)."""
    chosen = params["routes"].get("price_date")
    return pd.Timestamp(chosen).date() if chosen else None


def price_models(forecast_totals: pd.DataFrame, usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                 params: dict[str, Any]) -> dict[str, UnitPrices | None]:
    """Standard rates per model in force on the first forecast day (or ``planning.routes.price_date``; None: no
    price anywhere), for every model the forecast or the history holds: the rates the report's price table
    shows, and where a model has no price. Costs pay each day's own prices (``route_rates``,
    ``history_rates``); ``price_changes`` lists where those differ from these."""
    when = _price_date(params) or pd.Timestamp(forecast_totals["start"].min()).date()
    pricer = _pricer(price_table, params, usage_buckets)
    models = set(_models(forecast_totals["series"]).values()) | set(_models(usage_buckets["series"]).values())
    return {m: pricer.standard(m, when) for m in sorted(models)}


def find_price_changes(forecast_totals: pd.DataFrame, usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                       params: dict[str, Any]) -> pd.DataFrame:
    """Each list price change inside the forecast horizon, per model, day and token type: the rate before and
    from that day (USD per million tokens, as blended for the model's costs) and its source. Empty where
    ``planning.routes.price_date`` prices every day at one date."""
    horizon = forecast_totals[forecast_totals["period"] == "horizon"]
    if horizon.empty or _price_date(params):
        return pd.DataFrame(columns=list(PRICE_CHANGE_COLUMNS))
    first, last = pd.Timestamp(horizon["start"].min()).date(), pd.Timestamp(horizon["end"].max()).date()
    pricer = _pricer(price_table, params, usage_buckets)
    return price_changes(pricer, sorted(set(_models(forecast_totals["series"]).values())), first, last)


def estimate_costs(forecast_totals: pd.DataFrame, rates: pd.DataFrame, params: dict[str, Any],
                   training_params: dict[str, Any]) -> pd.DataFrame:
    """USD per series and period (months and the whole horizon) on the baseline route (the API as used
    today), each month at the prices in force on its days: ``route_costs``' baseline, per series."""
    _, baseline = _routes(params)
    return cost_by_period(forecast_totals, rates[rates["route"] == baseline],
                          quantile_columns(training_params["quantiles"]))


def compute_route_rates(forecast_totals: pd.DataFrame, usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                        params: dict[str, Any]) -> pd.DataFrame:
    """Effective USD per million tokens per route, series, forecast month and token type."""
    routes, _ = _routes(params)
    months = sorted(p for p in forecast_totals["period"].unique() if p != "horizon")
    return route_rates(routes, _models(forecast_totals["series"]), _tiers(usage_buckets), months,
                       _pricer(price_table, params, usage_buckets), *_days_covered(forecast_totals),
                       _price_date(params))


def _days_covered(forecast_totals: pd.DataFrame) -> tuple[dict[str, dt.date], dict[str, dt.date]]:
    """Each forecast month's first and last day forecast (the first and last months may be partial)."""
    months = forecast_totals[forecast_totals["period"] != "horizon"].groupby("period")
    return ({period: pd.Timestamp(start).date() for period, start in months["start"].min().items()},
            {period: pd.Timestamp(end).date() for period, end in months["end"].max().items()})


def compute_route_costs(forecast_totals: pd.DataFrame, rates: pd.DataFrame,
                        training_params: dict[str, Any]) -> pd.DataFrame:
    """USD per route, model and period (``YYYY-MM`` or ``horizon``) with P10/P50/P90."""
    return route_costs(forecast_totals, rates, quantile_columns(training_params["quantiles"]))


def _route_months(monthly: pd.DataFrame, baseline: str, names: list[str], params: dict[str, Any], growth: float,
                  ratios: dict[str, pd.Series | None] | None = None):
    """Each route's months 1..``planning.roi.months`` from its forecast months (``roi.monthly_route_costs``)."""
    return roi.route_months(monthly, baseline, names, params["roi"]["months"], growth, None,
                            params["roi"].get("max_p90_to_p50"), ratios=ratios)


def _stated_effects(costs: pd.DataFrame, monthly: pd.DataFrame, history_costs: pd.DataFrame,
                    events: pd.DataFrame | None, baseline: str, months: int, median: str) -> dict[str, Any]:
    """The stated events' monthly multipliers per model over the history, forecast and extrapolated months
    (a forecast month over its forecast days only), the baseline's forecast months' deflator, each route's
    extrapolated months' ratios, and the events the fits divide out and the months after multiply in
    (``stated_events``). ``monthly``: ``roi.monthly_route_costs``."""
    forecast = costs[costs["period"] != "horizon"]
    periods = sorted(forecast["period"].unique())
    none = {"multipliers": None, "deflator": None, "ratios": None, "after": [], "forecast_end": None}
    if not periods or monthly.empty:
        return none
    after = [str(pd.Period(periods[-1], "M") + k) for k in range(1, max(months - len(periods), 0) + 1)]
    months_frame = monthly.drop_duplicates("period")
    partial = months_frame[months_frame["buckets"] < months_frame["month_buckets"]]
    spans = {row.period: (row.first_day, row.last_day) for row in partial.itertuples()}
    forecast_end = pd.Timestamp(months_frame["last_day"].max())
    models = sorted(set(forecast["model"]) | set(history_costs.get("model", pd.Series(dtype=str))))
    multipliers = stated_events.monthly_multipliers(events, models, [*history_costs.get("period", []), *periods,
                                                                     *after], spans, forecast_end)
    base = forecast[forecast["route"] == baseline]
    tails = forecast[forecast["period"] == periods[-1]].groupby(["route", "model"])[median].sum()
    ratios = {route: stated_events.extrapolated_ratios(tail.droplevel("route"), periods[-1], multipliers, after)
              for route, tail in tails.groupby(level="route")}
    # The events that move a month after the forecast against the last forecast month: those in or after it.
    named_after = (stated_events.events_in(events, models, periods[-1], after[-1], forecast_end) if after else [])
    return {"multipliers": multipliers, "deflator": stated_events.deflator(base.set_index(["period", "model"])[median],
                                                                          multipliers),
            "ratios": ratios, "after": named_after, "forecast_end": forecast_end}


def _discount_rate_source(settings: dict[str, Any], sources: dict[str, str]) -> tuple[str, bool]:
    """Where the discount rate comes from, as the report says it, and whether that is the demo's assumption: a
    rate the run set (``--params``, ``conf/local``) is the user's, whatever source the shipped file gives."""
    where = sources.get("planning.roi.annual_discount_rate")
    configured = str(settings.get("discount_rate_source", ""))
    if where is not None and "planning.roi.discount_rate_source" not in sources:
        return f"set by you ({where})", False
    return configured, configured.startswith(DEMO_SOURCE)


def compute_roi(costs: pd.DataFrame, forecast_totals: pd.DataFrame, history_costs: pd.DataFrame,
                rates: pd.DataFrame, params: dict[str, Any], training_params: dict[str, Any],
                fe_params: dict[str, Any], events: pd.DataFrame | None = None,
                parameter_sources: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ROI summary (one row per candidate route) and its monthly cash flow against the baseline.

    Usage without token counts (request counts only) has no cost, so both tables are empty.
    ``applies``: whether the route moves any traffic at all (``routes.routes_that_apply``).
    ``events``: the forecast's events calendar; stated effects are divided out of the growth fits
    and multiplied back into the extrapolated months (``planning.stated_events``).
    ``parameter_sources`` (dotted parameter -> where the run set it, ``tokenplan.parameter_sources``): an
    input the user set is labelled theirs (``user_inputs``), not the demo's (``demo_assumptions``).
    """
    sources = parameter_sources or {}
    routes, baseline = _routes(params, sources)
    names = quantile_columns(training_params["quantiles"])
    if costs.empty:
        return (pd.DataFrame(columns=["route", "kind", "one_time_cost_usd",
                                      *[f"{k}_{q}" for k in ("monthly_saving", "payback_month", "npv_12m")
                                        for q in names], "annual_discount_rate"]),
                pd.DataFrame(columns=["route", "month", *[f"saving_{q}" for q in names],
                                      *[f"cumulative_{q}" for q in names], "extrapolated"]))
    settings = params["roi"]
    # The series the plan forecasts only: an ended one's fall is no decline of the plan's usage.
    monthly = roi.monthly_route_costs(costs, forecast_totals, fe_params["freq"], names)
    stated = _stated_effects(costs, monthly, history_costs, events, baseline, settings["months"],
                             names[len(names) // 2])
    history, left_out = roi.planned_history(history_costs, set(forecast_totals["series"]),
                                            settings["growth_history_months"], stated["multipliers"])
    fits = roi.extrapolation_growth(monthly, baseline, names, history, settings.get("min_growth_history_months", 0),
                                    stated["deflator"])
    months, growth = _route_months(monthly, baseline, names, params, fits["used"], stated["ratios"])
    first_fit = history.index[0] if len(history) else monthly["period"].min()
    divided_out = stated_events.events_in(events, sorted(set(costs["model"])), first_fit, monthly["period"].max(),
                                          stated["forecast_end"])
    flow = roi.cashflow(months, baseline, names)
    rate, horizon = settings["annual_discount_rate"], settings["months"]
    applies = routes_that_apply(rates)
    rows = [roi.route_summary(r, flow[flow["route"] == r.name], names, rate, horizon, applies.get(r.name, True))
            for r in routes if r.name != baseline]
    rate_source, demo_rate = _discount_rate_source(settings, sources)
    for row in rows:  # every NPV rests on the discount rate
        row["discount_rate_source"] = rate_source
        if demo_rate:
            row["demo_assumptions"] = "; ".join(filter(None, [row["demo_assumptions"],
                                                              f"a discount rate of {rate:.0%} a year"]))
    # No route but the baseline: an empty table that still has its columns.
    summary = pd.DataFrame(rows, columns=None if rows else ["route"])
    summary = summary.merge(roi.horizon_savings(costs, baseline, names), on="route", how="left").assign(
        growth_after_forecast=growth, growth_fit_with_history=fits["with_history"],
        growth_fit_forecast=fits["forecast"], growth_fit_history_months=fits["history_months"],
        growth_enough_history=fits["enough_history"], growth_fit_left_out=", ".join(left_out),
        growth_stated_events="; ".join(divided_out), stated_events_after_forecast="; ".join(stated["after"]))
    for column in [c for c in summary.columns if c.startswith("payback_month_")]:
        summary[column] = summary[column].astype("Int64")
    return summary, flow.assign(month=flow["month"].astype(int))


def compute_sensitivity(forecast_totals: pd.DataFrame, usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                        roi_summary: pd.DataFrame, params: dict[str, Any], training_params: dict[str, Any],
                        fe_params: dict[str, Any], routes_priced: pd.DataFrame | None = None,
                        events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Tornado table: each candidate route's 12-month NPV (P50) with each input moved down and up.

    ``routes_priced`` and ``events``: the extrapolated months carry the stated events as ``compute_roi``'s do."""
    if roi_summary.empty:  # no costs (no token counts): nothing to move
        return pd.DataFrame()
    routes, baseline = _routes(params)
    names = quantile_columns(training_params["quantiles"])
    base_route = next(r for r in routes if r.name == baseline)
    pricer, series, tiers = (_pricer(price_table, params, usage_buckets), _models(forecast_totals["series"]),
                             _tiers(usage_buckets))
    periods = sorted(p for p in forecast_totals["period"].unique() if p != "horizon")
    settings = params["roi"]
    growth = float(roi_summary["growth_after_forecast"].iloc[0]) if len(roi_summary) else 0.0
    ratios = None
    if routes_priced is not None:
        priced_months = roi.monthly_route_costs(routes_priced, forecast_totals, fe_params["freq"], names)
        ratios = _stated_effects(routes_priced, priced_months, pd.DataFrame(), events, baseline, settings["months"],
                                 names[len(names) // 2])["ratios"]

    def evaluate(route: Route, moved_growth: float | None) -> float:
        rates = route_rates([base_route, route.model_copy(update={"name": f"{route.name} (moved)"})],
                            series, tiers, periods, pricer, *_days_covered(forecast_totals), _price_date(params))
        costs = route_costs(forecast_totals, rates, names)
        monthly = roi.monthly_route_costs(costs, forecast_totals, fe_params["freq"], names)
        moved = None if ratios is None else {**ratios, f"{route.name} (moved)": ratios.get(route.name)}
        months, _ = _route_months(monthly, baseline, names, params, growth if moved_growth is None else moved_growth,
                                  moved)
        flow = roi.cashflow(months, baseline, names)
        return roi.npv(flow[f"saving_{names[len(names) // 2]}"], route.one_time.usd, settings["annual_discount_rate"])

    applies = dict(zip(roi_summary["route"], roi_summary.get("applies", pd.Series(True, index=roi_summary.index)),
                       strict=True))
    tables = [tornado(r, evaluate, growth, settings["sensitivity"]["swing"], settings["sensitivity"]["growth_swing"])
              for r in routes if r.name != baseline and applies.get(r.name, True)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def compute_history_rates(target_series: pd.DataFrame, usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                          params: dict[str, Any]) -> pd.DataFrame:
    """USD per million tokens per series, day of the history and token type: the list prices in force that
    day at that day's own split of 1-hour writes and long context (``tokenplan.planning.recorded_prices``);
    every table that prices history reads them."""
    pricer = Pricer(validate_price_table(price_table, price_table.attrs.get("source", "price_table")),
                    params["routes"].get("providers") or {})
    return recorded_rates(target_series, usage_buckets, pricer, _tiers(usage_buckets))


def price_history(target_series: pd.DataFrame, history_rates: pd.DataFrame) -> pd.DataFrame:
    """The usage history as recorded, each day at its own rates (``history_rates``): USD per series, model and
    month, with ``missing_buckets``, ``covered_share`` (the share of the month's buckets, over every target,
    that were observed) and ``whole_month`` (the history covers the month from its first to last day)."""
    history = history_months(target_series)
    recorded = target_series[target_series["target"].isin(PRICED_TARGETS)]
    usd = recorded["y"].fillna(0.0) * history_rate_lookup(recorded, history_rates)
    per_month = pd.DataFrame({"series": recorded["series"].astype(str),
                              "period": naive_utc(recorded["ds"]).dt.to_period("M").astype(str), "observed": usd})
    priced = per_month[np.isfinite(usd)].groupby(["series", "period"], as_index=False)["observed"].sum()
    priced = priced.assign(model=priced["series"].str.split("/").str[0])
    missing = history.groupby(["series", "period"], as_index=False)[["missing_buckets", "buckets"]].sum()
    priced = priced.merge(missing, on=["series", "period"], how="left")
    covered = 1.0 - priced["missing_buckets"] / priced["buckets"].where(priced["buckets"] > 0)
    return priced.assign(whole_month=priced["period"].isin(whole_months(history)), covered_share=covered.fillna(0.0))[
        ["series", "model", "period", "observed", "missing_buckets", "covered_share", "whole_month"]]


def check_prices(history_costs: pd.DataFrame, billed_costs: pd.DataFrame) -> pd.DataFrame:
    """Priced history vs billed USD per month (empty when no bill was supplied)."""
    billed = validate_billed(billed_costs, billed_costs.attrs.get("source", "billed_costs"))
    return monthly_gap(history_costs, billed)
