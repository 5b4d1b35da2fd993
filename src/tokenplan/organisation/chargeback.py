"""Chargeback: each team's share of the organisation's cost per month, flat costs allocated by a stated rule.

Usage cost is the team's reconciled P50 spend in the month. Flat costs (a route's
one-time migration cost, a commitment) are allocated ``by_usage`` (in proportion to
each team's usage cost that month) or ``evenly`` (the same amount to every team with
usage that month).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["ALLOCATION_RULES", "CHARGEBACK_COLUMNS", "allocation_rule_text", "chargeback", "flat_costs"]

CHARGEBACK_COLUMNS = ["team", "period", "usage_cost_usd", "allocated_flat_usd", "total_usd"]
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


def chargeback(team_months: pd.DataFrame, flat: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The ``chargeback`` table: per team and month, usage cost, allocated flat costs and their total.

    ``team_months``: team, period, usage_cost_usd (months only).
    """
    if rule not in ALLOCATION_RULES:
        raise ValueError(f"organisation.chargeback.rule must be one of {ALLOCATION_RULES}, got {rule!r}")
    out = team_months.copy()
    month_flat = flat.groupby("period")["usd"].sum()
    totals = out.groupby("period")["usage_cost_usd"].transform("sum")
    users = out.groupby("period")["usage_cost_usd"].transform(lambda s: int((s > 0).sum()))
    share = out["usage_cost_usd"] / totals.where(totals > 0) if rule == "by_usage" else \
        (out["usage_cost_usd"] > 0) / users.where(users > 0)
    out["allocated_flat_usd"] = out["period"].map(month_flat).fillna(0.0) * share.fillna(0.0)
    out["total_usd"] = out["usage_cost_usd"] + out["allocated_flat_usd"]
    return out[CHARGEBACK_COLUMNS].sort_values(["period", "team"], ignore_index=True)
