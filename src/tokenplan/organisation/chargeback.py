"""Chargeback: each team's share of the organisation's cost per month, flat costs allocated by a stated rule.

Usage cost is the team's spend in the whole calendar month, as its budgets count it: what
was recorded in the month before the forecast starts (``recorded_usd``) plus the
P50 of the forecast's days (its series added up). A month charged on the forecast's days alone
disagreed with the budget table's figure for the same month. Flat costs (a route's
one-time migration cost, a commitment) are allocated ``by_usage`` (in proportion to
each team's usage cost that month) or ``evenly`` (the same amount to every team with
usage that month, priced or not). A team whose models have no price (``unpriced_models``)
has a row: its usage cost leaves those models out, and it shares flat costs evenly when
it used them that month.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ALLOCATION_RULES", "CHARGEBACK_COLUMNS", "allocation_rule_text", "chargeback", "flat_costs", "team_months"]

CHARGEBACK_COLUMNS = ["team", "period", "recorded_usd", "usage_cost_usd", "unpriced_models", "allocated_flat_usd",
                      "total_usd"]
ALLOCATION_RULES = ("by_usage", "evenly")


def flat_costs(items: Sequence[Mapping[str, Any]], route_one_time_usd: Mapping[str, float],
               months: list[str]) -> pd.DataFrame:
    """``name, period, usd`` per flat cost and month.

    An item is ``{name, usd, period}`` (one month), ``{name, usd_per_month}`` (every
    forecast month) or ``{name, route, period}`` (the route's one-time cost from the
    planning parameters, in that month).
    """
    rows = []
    for item in items:
        name = str(item["name"])
        if "usd_per_month" in item:
            rows += [{"name": name, "period": m, "usd": float(item["usd_per_month"])} for m in months]
            continue
        if "route" in item:
            if item["route"] not in route_one_time_usd:
                raise ValueError(f"organisation.chargeback.flat_costs: {name!r} names route {item['route']!r}, "
                                 f"which has no one-time cost (routes: {sorted(route_one_time_usd)})")
            usd = float(route_one_time_usd[item["route"]])
        else:
            usd = float(item["usd"])
        period = str(item.get("period", months[0]))
        rows.append({"name": name, "period": period, "usd": usd})
    return pd.DataFrame(rows, columns=["name", "period", "usd"])


def allocation_rule_text(rule: str) -> str:
    """The allocation rule in words, for the report."""
    return {"by_usage": "in proportion to each team's usage cost that month",
            "evenly": "in equal parts to every team with usage that month"}[rule]


def team_months(team_daily: pd.DataFrame, recorded: pd.DataFrame, unpriced: pd.DataFrame) -> pd.DataFrame:
    """Per team and forecast month: ``team, period, recorded_usd, usage_cost_usd, unpriced_models, has_usage``.

    ``team_daily``: team, ds, p50 (the plan, its series added up, USD a day); ``recorded``: team, ds,
    usd (priced history); ``unpriced``: ``tokenplan.organisation.dimensions.unpriced_models``.
    ``usage_cost_usd`` adds the month's spend recorded before the forecast starts to the
    forecast's days. ``has_usage``: a priced cost, or a live unpriced series (the forecast
    plans its usage every month).
    """
    start = team_daily["ds"].min()
    month_start = start.to_period("M").start_time
    plan = team_daily.assign(period=team_daily["ds"].dt.to_period("M").astype(str)).groupby(
        ["team", "period"], as_index=False)["p50"].sum()
    before = recorded[(recorded["ds"] >= month_start) & (recorded["ds"] < start)].groupby("team")["usd"].sum()
    first = plan["period"] == str(start.to_period("M"))
    plan["recorded_usd"] = np.where(first, plan["team"].map(before).fillna(0.0), 0.0)
    plan["usage_cost_usd"] = plan["p50"] + plan["recorded_usd"]
    months = sorted(plan["period"].unique())
    whole = unpriced[unpriced["whole_team"] & ~unpriced["team"].isin(plan["team"])]
    none_priced = pd.DataFrame([{"team": t, "period": m, "recorded_usd": 0.0, "usage_cost_usd": 0.0}
                                for t in whole["team"] for m in months])
    out = pd.concat([plan.drop(columns="p50"), none_priced], ignore_index=True)
    models, live = (unpriced.set_index("team")[c] for c in ("models", "live"))
    out["unpriced_models"] = out["team"].map(models).fillna("")
    out["has_usage"] = (out["usage_cost_usd"] > 0) | out["team"].map(live).eq(True)
    return out.sort_values(["period", "team"], ignore_index=True)


def chargeback(team_months: pd.DataFrame, flat: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The ``chargeback`` table: per team and month, usage cost, allocated flat costs and their total.

    ``team_months``: team, period, usage_cost_usd (months only), and optionally
    ``recorded_usd``, ``unpriced_models`` and ``has_usage`` (``team_months``; without it, a
    team has usage when its usage cost is above 0).
    """
    if rule not in ALLOCATION_RULES:
        raise ValueError(f"organisation.chargeback.rule must be one of {ALLOCATION_RULES}, got {rule!r}")
    out = team_months.copy()
    out = out.assign(**{c: d for c, d in (("recorded_usd", 0.0), ("unpriced_models", "")) if c not in out.columns})
    used = out["has_usage"].astype(bool) if "has_usage" in out.columns else out["usage_cost_usd"] > 0
    month_flat = flat.groupby("period")["usd"].sum()
    totals = out.groupby("period")["usage_cost_usd"].transform("sum")
    users = used.groupby(out["period"]).transform("sum")
    share = out["usage_cost_usd"] / totals.where(totals > 0) if rule == "by_usage" else used / users.where(users > 0)
    out["allocated_flat_usd"] = out["period"].map(month_flat).fillna(0.0) * share.fillna(0.0)
    out["total_usd"] = out["usage_cost_usd"] + out["allocated_flat_usd"]
    return out[CHARGEBACK_COLUMNS].sort_values(["period", "team"], ignore_index=True)
