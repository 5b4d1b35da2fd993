"""Month to date against the plan of the same usage: which teams, keys and models are outside their P10-P90 path.

The days compared are the current month's days the plan forecast and the usage has
recorded: from the month's first day, or the plan's first day when the plan began
within the month (its days before were history to the plan, with no band), to the last
whole day of usage. Recorded spend and the plan's band cover exactly those days
(``first_day`` to ``last_day`` in the table). The plan's band is the saved
forecast's total over those days, with intervals from the backtest folds'
errors of totals over the same steps after the origin
(``tokenplan.forecasting.totals.period_totals``), priced per series. A team, key or
model adds its series' P10s and P90s (comonotone, as the cost tables do) and is flagged
when its recorded spend so far lies outside them; the series that moved it most
(recorded minus P50) are named.

A series the plan does not forecast (a model or key new since the plan was made) has no
band: its spend is counted in ``not_in_plan_usd``, left out of its team's, key's and
the organisation's comparison (which set a band of the plan's series against spend it
never planned), and a node made only of such series has status ``not in the plan``
(a band of $0-$0 read "above").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tokenplan.forecasting.totals import period_totals
from tokenplan.organisation.daily_costs import daily_costs
from tokenplan.planning.costs import cost_by_period, flat_rates
from tokenplan.planning.prices import UnitPrices

__all__ = ["MONITOR_COLUMNS", "NOT_IN_PLAN", "compared_days", "month_to_date", "observed_days"]

MONITOR_COLUMNS = ["level", "node", "first_day", "last_day", "actual_usd", "plan_p10", "plan_p50", "plan_p90",
                   "status", "largest_contributors", "not_in_plan_usd"]
NOT_IN_PLAN = "not in the plan"
_NODES = {"organisation": lambda d: pd.Series("organisation", index=d.index), "team": lambda d: d["team"],
          "key": lambda d: d["team"] + "/" + d["api_key"], "model": lambda d: d["model"]}
_CONTRIBUTORS = 3


def observed_days(usage_buckets: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(First day of the current month, last whole day of usage), naive UTC days."""
    stamps = usage_buckets["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    width = stamps.drop_duplicates().sort_values().diff().min()
    end = (stamps.max() + (width if pd.notna(width) else pd.Timedelta(hours=1))).floor("D")  # exclusive
    last = end - pd.Timedelta(days=1)
    return last.to_period("M").start_time, last


def compared_days(usage_buckets: pd.DataFrame, plan_days: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(First, last) day both recorded this month and forecast by the plan (naive UTC days; first > last: none).

    A plan that began mid-month has no band for the month's earlier days: comparing them
    too set the whole month's spend against a fortnight's plan and flagged every team above.
    """
    month_start, last = observed_days(usage_buckets)
    return max(month_start, plan_days.min().floor("D")), min(last, plan_days.max().floor("D"))


def month_to_date(usage_buckets: pd.DataFrame, forecast: pd.DataFrame, backtest_predictions: pd.DataFrame,
                  prices: Mapping[str, UnitPrices | None], dims: pd.DataFrame,
                  quantile_names: list[str], quantiles: list[float],
                  history_rates: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per organisation, team, key and model: recorded USD vs the plan's P10/P50/P90 over the same days,
    this month's days the plan forecast up to the last whole day of usage (``first_day`` to ``last_day``).
    ``actual_usd`` is all the node recorded; its status compares the part on series the plan forecast (all but
    ``not_in_plan_usd``) with the band, and is ``not in the plan`` (no band) when the plan has none of its series.

    ``history_rates``: the recorded days' own rates (``tokenplan.planning.recorded_prices``), as every table
    of recorded spend prices them; without them, ``prices``."""
    days = forecast["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    first, last = compared_days(usage_buckets, days)
    plan_rows = forecast[(days >= first) & (days < last + pd.Timedelta(days=1))]
    if plan_rows.empty or first > last:
        return pd.DataFrame(columns=MONITOR_COLUMNS)
    chosen = backtest_predictions[backtest_predictions["method"] == "chosen"]
    totals = period_totals(plan_rows, chosen, quantiles, method="chosen")
    totals = totals[totals["period"] == "horizon"].assign(period="month_to_date")
    plan = cost_by_period(totals, flat_rates(prices, totals), quantile_names)[["series", *quantile_names]]
    model_of = dict(zip(dims["series"], dims["model"], strict=True))
    recorded = usage_buckets.copy()
    recorded["day"] = recorded["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D")
    recorded = recorded[(recorded["day"] >= first) & (recorded["day"] <= last)]
    targets = [c for c in ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")
               if c in recorded.columns]
    long = recorded.melt(id_vars=["series", "day"], value_vars=targets, var_name="target", value_name="count")
    actual = daily_costs(long.rename(columns={"day": "ds"}), prices if history_rates is None else history_rates,
                         ["count"], ["series"], model_of).rename(columns={"count": "actual_usd"})
    per_series = dims.merge(plan, on="series", how="left").merge(actual, on="series", how="left")
    per_series[[*quantile_names, "actual_usd"]] = per_series[[*quantile_names, "actual_usd"]].fillna(0.0)
    per_series["in_plan"] = per_series["series"].isin(set(forecast["series"].astype(str)))
    p10, p50, p90 = quantile_names[0], quantile_names[len(quantile_names) // 2], quantile_names[-1]
    rows = []
    for level, node_of in _NODES.items():
        members = per_series.assign(node=node_of(per_series))
        for node, group in members.groupby("node", sort=True):
            planned = group[group["in_plan"]]
            actual_usd = float(group["actual_usd"].sum())
            not_in_plan = float(group.loc[~group["in_plan"], "actual_usd"].sum())
            if planned.empty:
                band, status = (np.nan, np.nan, np.nan), NOT_IN_PLAN
                contributors = _contributors(group.assign(**{p50: 0.0}), p50, "above")
            else:
                compared = float(planned["actual_usd"].sum())
                band = tuple(float(planned[c].sum()) for c in (p10, p50, p90))
                status = "above" if compared > band[2] else "below" if compared < band[0] else "inside"
                contributors = _contributors(planned, p50, status)
            rows.append({"level": level, "node": node, "first_day": first.strftime("%Y-%m-%d"),
                         "last_day": last.strftime("%Y-%m-%d"), "actual_usd": actual_usd, "plan_p10": band[0],
                         "plan_p50": band[1], "plan_p90": band[2], "status": status,
                         "largest_contributors": contributors, "not_in_plan_usd": not_in_plan})
    return pd.DataFrame(rows, columns=MONITOR_COLUMNS)


def _contributors(group: pd.DataFrame, p50: str, status: str) -> str:
    """The series whose recorded spend moved furthest from their P50 in the node's direction."""
    if status == "inside":
        return ""
    gap = group["actual_usd"] - group[p50]
    gap = gap if status == "above" else -gap
    top = group.assign(gap=gap).sort_values("gap", ascending=False).head(_CONTRIBUTORS)
    top = top[top["gap"] > 0]
    sign = "+" if status == "above" else "-"
    return "; ".join(f"{row.series} ({sign}${abs(row.gap):,.0f})" for row in top.itertuples())


