"""Planning nodes: short adapters from catalog data to ``tokenplan.planning``."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

# capacity ---------------------------------------------------------------------------
from tokenplan.forecaster import quantile_columns
from tokenplan.planning.capacity import PeakModel, capacity_tables
from tokenplan.planning.capacity_backtest import backtest_peaks, calibration_factors
from tokenplan.planning.capacity_plots import capacity_figures
from tokenplan.planning.gateway import gateway_config
from tokenplan.planning.peaks import forecast_bucket_peaks, usage_peaks
from tokenplan.planning.rate_limits import LIMIT_COLUMNS, group_of_series, limits_from_file


def _peak_model(params: dict[str, Any]) -> PeakModel:
    return PeakModel(**{k: params[k] for k in ("n_draws", "error_correlation", "ratio_weeks", "seed",
                                                 "extrapolate_days") if k in params})


def _members(groups: dict[str, str]) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for series, group in sorted(groups.items()):
        members.setdefault(group, []).append(series)
    return members


def build_rate_limits(rate_limits_raw: pd.DataFrame) -> pd.DataFrame:
    """The validated limits table (a limits file's rows, or the Admin API dataset's table)."""
    if list(rate_limits_raw.columns) == list(LIMIT_COLUMNS):
        return rate_limits_raw.reset_index(drop=True)
    return limits_from_file(rate_limits_raw)


def build_peak_history(usage_buckets: pd.DataFrame, rate_limits: pd.DataFrame, ingestion_params: dict[str, Any],
                       fe_params: dict[str, Any], params: dict[str, Any]) -> pd.DataFrame:
    """Per model group and series, metric and forecast bucket of history: total, busiest minute, ratio."""
    groups = group_of_series(usage_buckets["series"].unique(), rate_limits, ingestion_params.get("model_aliases"))
    reads = dict(zip(rate_limits["model_group"], rate_limits["itpm_counts_cache_reads"], strict=True))
    usage_freq, assumed = ingestion_params["bucket"], params["assumed_peak_to_mean"]
    factor = float(assumed.get(usage_freq, assumed.get("h")))
    by_group = usage_peaks(usage_buckets, groups, reads, usage_freq, factor)
    by_series = usage_peaks(usage_buckets, {s: s for s in usage_buckets["series"].unique()},
                            {s: reads.get(g, False) for s, g in groups.items()}, usage_freq, factor)
    return pd.concat([forecast_bucket_peaks(by_group, usage_freq, fe_params["freq"]).assign(level="group"),
                      forecast_bucket_peaks(by_series, usage_freq, fe_params["freq"]).assign(level="series")],
                     ignore_index=True)


def plan_capacity(forecast: pd.DataFrame, peak_history: pd.DataFrame, rate_limits: pd.DataFrame,
                  capacity_calibration: dict[str, Any], ingestion_params: dict[str, Any], fe_params: dict[str, Any],
                  training_params: dict[str, Any],
                  params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The capacity plan, the per-day peak forecast per group, and each series' horizon peak demand."""
    groups = group_of_series(forecast["series"].unique(), rate_limits, ingestion_params.get("model_aliases"))
    limits = rate_limits.set_index("model_group")
    names, model, freq = quantile_columns(training_params["quantiles"]), _peak_model(params), fe_params["freq"]
    calibration = capacity_calibration if params.get("calibrate", True) else None
    plan, buckets = capacity_tables(forecast, peak_history[peak_history["level"] == "group"], limits,
                                    _members(groups), names, freq, model, calibration=calibration)
    series_limits = pd.DataFrame({"itpm_counts_cache_reads": [bool(limits.loc[g, "itpm_counts_cache_reads"])
                                                             for g in groups.values()]}, index=list(groups))
    series = sorted(forecast["series"].unique())
    series_plan, _ = capacity_tables(forecast, peak_history[peak_history["level"] == "series"], series_limits,
                                     {s: [s] for s in series}, names, freq, model, calibration=calibration)
    demand = series_plan[series_plan["period"] == "horizon"].rename(columns={"model_group": "series"})
    demand = demand.assign(model_group=demand["series"].map(groups))[["model_group", "series", "metric", "p50",
                                                                        "p90", "peak_method"]]
    unmatched = [s for s in series if s not in groups and s not in set(demand["series"])]
    if unmatched:
        demand = pd.concat([demand, pd.DataFrame({"series": unmatched})], ignore_index=True)
    return plan, buckets, demand.reset_index(drop=True)


def backtest_capacity(backtest_predictions: pd.DataFrame, peak_history: pd.DataFrame, rate_limits: pd.DataFrame,
                      fe_params: dict[str, Any], training_params: dict[str, Any],
                      params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Realised peaks of held-out backtest windows against the peak forecast made at each fold's origin,
    and the P50/P90 multipliers per window kind that calibrate the plan."""
    limits = rate_limits.set_index("model_group")
    history = peak_history[peak_history["level"] == "group"]
    members = _members(group_of_series(backtest_predictions["series"].unique(), rate_limits))
    predictions = backtest_predictions[backtest_predictions["method"] == "xgboost"]
    rows = backtest_peaks(predictions, history, limits, members, quantile_columns(training_params["quantiles"]),
                          fe_params["freq"], _peak_model(params))
    return rows, calibration_factors(rows)


def build_gateway_config(rate_limits: pd.DataFrame, capacity_series_demand: pd.DataFrame,
                         params: dict[str, Any]) -> dict[str, Any]:
    """The LiteLLM proxy config (model_list with per-deployment rpm/itpm/otpm, router_settings)."""
    gateway = params["gateway"]
    return gateway_config(rate_limits.set_index("model_group"), capacity_series_demand,
                          float(gateway["safety_margin"]), gateway["api_key"], gateway["provider"],
                          gateway.get("model_ids"))


def plot_capacity(capacity_peak_forecast: pd.DataFrame, peak_history: pd.DataFrame,
                  params: dict[str, Any]) -> dict[str, Figure]:
    """One figure per model group: recent daily peaks, the P50/P90 peak forecast and each limit."""
    return capacity_figures(capacity_peak_forecast, peak_history[peak_history["level"] == "group"],
                            int(params["history_days_shown"]))
