"""Monitor nodes: the month so far against the last saved plan."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from tokenplan.forecasting.forecaster import quantile_columns
from tokenplan.organisation.dimensions import series_dimensions
from tokenplan.organisation.monitor import month_to_date
from tokenplan.pipelines.planning.nodes import compute_history_rates
from tokenplan.planning.prices import UnitPrices

logger = logging.getLogger(__name__)


def recorded_day_rates(usage_buckets: pd.DataFrame, price_table: pd.DataFrame,
                       planning_params: dict[str, Any]) -> pd.DataFrame:
    """The usage's days at their own rates (``compute_history_rates`` over the usage just read, whose days the
    saved plan's history does not hold)."""
    days = usage_buckets[["series", "timestamp"]].rename(columns={"timestamp": "ds"})
    return compute_history_rates(days, usage_buckets, price_table, planning_params)


def check_month_to_date(usage_buckets: pd.DataFrame, forecast: pd.DataFrame, backtest_predictions: pd.DataFrame,
                        prices: dict[str, UnitPrices | None], params: dict[str, Any],
                        training_params: dict[str, Any], history_rates: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per organisation, team, key and model: recorded USD (each day at its own rates, ``history_rates``) vs the
    plan's P10-P90 over this month's days the plan forecast so far, flagged outside it with the largest
    contributors named (logged as a warning)."""
    dims = series_dimensions(usage_buckets, params["team_column"], params.get("key_column"))
    quantiles = training_params["quantiles"]
    table = month_to_date(usage_buckets, forecast, backtest_predictions, prices, dims,
                          quantile_columns(quantiles), quantiles, history_rates)
    if table.empty:
        logger.warning("monitor: the saved plan has no forecast for the month of the latest usage; run the plan")
        return table
    outside = table[table["status"] != "inside"]
    span = f"{table['first_day'].iloc[0]} to {table['last_day'].iloc[0]}"
    month_start = pd.Timestamp(table["first_day"].iloc[0]).to_period("M").start_time
    if pd.Timestamp(table["first_day"].iloc[0]) > month_start:
        logger.info("monitor: compared over %s, recorded and plan alike: the plan starts %s, so the month's days "
                    "before it have no band", span, table["first_day"].iloc[0])
    if outside.empty:
        logger.info("monitor: %s, every team, key and model is inside its P10-P90 plan", span)
    for row in outside.itertuples():
        logger.warning("monitor: %s %s is %s its P10-P90 plan (%s: $%.0f recorded, plan $%.0f-$%.0f); "
                       "largest contributors: %s", row.level, row.node, row.status, span, row.actual_usd,
                       row.plan_p10, row.plan_p90, row.largest_contributors)
    return table
