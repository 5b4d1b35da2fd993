"""Monitor nodes: the month so far against the plan made from the same usage."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tokenplan.forecasting.forecaster import quantile_columns
from tokenplan.organisation.dimensions import series_dimensions
from tokenplan.organisation.monitor import NOT_IN_PLAN, month_to_date
from tokenplan.organisation.monitor_plan import plan_named, plan_of_usage
from tokenplan.pipelines.planning.nodes import compute_history_rates
from tokenplan.planning.prices import UnitPrices
from tokenplan.run_record import written_out

logger = logging.getLogger(__name__)

MONITOR_FILE = "month_to_date.csv"


def recorded_day_rates(usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                       planning_params: dict[str, Any]) -> pd.DataFrame:
    """The usage's days at their own rates (``compute_history_rates`` over the usage just read, whose days the
    saved plan's history does not hold)."""
    days = usage_buckets[["series", "timestamp"]].rename(columns={"timestamp": "ds"})
    return compute_history_rates(days, usage_buckets, price_table, planning_params)


def choose_plan(previous_report: Sequence[Mapping[str, Any]], usage_buckets: pd.DataFrame, usage_is_simulated: bool,
                run_record: dict[str, Any] | None = None) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame,
                                                                   pd.DataFrame]:
    """The newest report folder made from this usage (``tokenplan.organisation.monitor_plan``): which one, its
    per-bucket forecast, its chosen method's backtest and its forecast totals; stops with ``NoPlanError`` when
    none is a plan of it."""
    run = run_record or {}
    plan_command = written_out(run.get("env"), run.get("runtime_params"))  # the plan: this run's settings
    which, forecast, backtest, totals = plan_of_usage(previous_report, usage_buckets, bool(usage_is_simulated),
                                                      plan_command)
    for passed in which["skipped"]:
        logger.info("monitor: report %s passed over: %s", passed["version"], passed["reason"])
    if which["skipped_more"]:
        logger.info("monitor: %d older report folders passed over too", which["skipped_more"])
    logger.info("monitor: compared with the plan of this usage in %s", plan_named(which))
    return which, forecast, backtest, totals


def check_month_to_date(usage_buckets: pd.DataFrame, plan: dict[str, Any], forecast: pd.DataFrame,
                        backtest_predictions: pd.DataFrame, prices: dict[str, UnitPrices | None],
                        params: dict[str, Any], training_params: dict[str, Any],
                        history_rates: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """This run's monitor folder, ``{"month_to_date.csv": table}``: per organisation, team, key and model, recorded
    USD (each day at its own rates, ``history_rates``) vs the plan's P10-P90 over this month's days the plan
    forecast so far, flagged outside it with the largest contributors named (logged as a warning); each row
    names the plan compared with (``plan_report``, ``plan_made``, ``plan_forecast_start``/``_end``)."""
    dims = series_dimensions(usage_buckets, params["team_column"], params.get("key_column"))
    quantiles = training_params["quantiles"]
    table = month_to_date(usage_buckets, forecast, backtest_predictions, prices, dims,
                          quantile_columns(quantiles), quantiles, history_rates)
    table = table.assign(plan_report=plan["report"], plan_made=plan["made"], plan_forecast_start=plan["horizon_start"],
                         plan_forecast_end=plan["horizon_end"])
    if table.empty:
        logger.warning("monitor: the plan has no forecast for the month of the latest usage; run the plan")
        return {MONITOR_FILE: table}
    span = f"{table['first_day'].iloc[0]} to {table['last_day'].iloc[0]}"
    month_start = pd.Timestamp(table["first_day"].iloc[0]).to_period("M").start_time
    if pd.Timestamp(table["first_day"].iloc[0]) > month_start:
        logger.info("monitor: compared over %s, recorded and plan alike: the plan starts %s, so the month's days "
                    "before it have no band", span, table["first_day"].iloc[0])
    new = table[table["status"] == NOT_IN_PLAN]
    flagged = table[~table["status"].isin(["inside", NOT_IN_PLAN])]
    if flagged.empty:
        logger.info("monitor: %s, every team, key and model the plan forecast is inside its P10-P90 plan", span)
    for row in flagged.itertuples():
        unplanned = f"; ${row.not_in_plan_usd:.0f} more on series not in the plan" if row.not_in_plan_usd else ""
        logger.warning("monitor: %s %s is %s its P10-P90 plan (%s: $%.0f recorded, plan $%.0f-$%.0f%s); "
                       "largest contributors: %s", row.level, row.node, row.status, span,
                       row.actual_usd - row.not_in_plan_usd, row.plan_p10, row.plan_p90, unplanned,
                       row.largest_contributors)
    for row in new.itertuples():
        logger.warning("monitor: %s %s is not in the plan (new since it was made): $%.0f recorded %s, no band "
                       "to compare with; the next plan will forecast it", row.level, row.node, row.actual_usd, span)
    return {MONITOR_FILE: table}
