"""Sensitivity of a route's 12-month NPV (P50) to its inputs, for a tornado figure.

Each input is moved down and up by a configured swing with the others held, and the
route's NPV is recomputed on the same forecast: FX rate and credit rate (relays), cache
reads per write (caching), eligible share, one-time cost, and traffic growth (the monthly
growth of the months after the forecast, moved by a number of percentage points).

A caching route reads ``eligible_share`` (s) of today's uncached input from the cache and
writes s / ``reads_per_write`` (r) of it, so s x (1 + 1/r) cannot pass 1: a moved input
stops where it would (s at most r / (r + 1), r at least s / (1 - s)).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from tokenplan.planning.routes import Route

__all__ = ["tornado"]

# evaluate(route, growth) -> 12-month NPV at P50 (USD); growth None = the fitted growth.
Evaluate = Callable[[Route, float | None], float]


def _inputs(route: Route, swing: float) -> list[tuple[str, str, object, object]]:
    """(label, field, low value, high value) for each input the route has."""
    rows = []
    if route.kind == "relay":
        rows += [("FX rate", "fx_rate", route.fx_rate * (1 - swing), route.fx_rate * (1 + swing)),
                 ("credit rate", "credit_rate", route.credit_rate * (1 - swing), route.credit_rate * (1 + swing))]
    share_cap = 1.0
    if route.kind == "caching":
        share, reads = route.eligible_share, route.reads_per_write
        share_cap = reads / (reads + 1)
        floor = share / (1 - share) if share < 1 else reads
        rows.append(("cache reads per write", "reads_per_write", max(floor, reads * (1 - swing)), reads * (1 + swing)))
    if route.kind != "official":
        rows.append(("eligible share", "eligible_share", max(0.0, route.eligible_share * (1 - swing)),
                     min(share_cap, route.eligible_share * (1 + swing))))
    cost = route.one_time
    rows.append(("one-time cost", "one_time",
                 cost.model_copy(update={"day_rate_usd": cost.day_rate_usd * (1 - swing),
                                         "other_usd": cost.other_usd * (1 - swing)}),
                 cost.model_copy(update={"day_rate_usd": cost.day_rate_usd * (1 + swing),
                                         "other_usd": cost.other_usd * (1 + swing)})))
    return rows


def _shown(value: object) -> str:
    return f"${value.usd:,.0f}" if hasattr(value, "usd") else f"{value:.4g}"


def tornado(route: Route, evaluate: Evaluate, growth: float, swing: float, growth_swing: float) -> pd.DataFrame:
    """One row per input: ``route, input, low, high, npv_low, npv_high, npv_base`` (USD, P50), widest first."""
    base = evaluate(route, None)
    rows = []
    for label, field, low, high in _inputs(route, swing):
        rows.append({"input": label, "low": _shown(low), "high": _shown(high),
                     "npv_low": evaluate(route.model_copy(update={field: low}), None),
                     "npv_high": evaluate(route.model_copy(update={field: high}), None)})
    rows.append({"input": "traffic growth after the forecast", "low": f"{growth - growth_swing:+.1%}/month",
                 "high": f"{growth + growth_swing:+.1%}/month", "npv_low": evaluate(route, growth - growth_swing),
                 "npv_high": evaluate(route, growth + growth_swing)})
    frame = pd.DataFrame(rows).assign(route=route.name, npv_base=base)
    frame = frame.assign(width=(frame["npv_high"] - frame["npv_low"]).abs()).sort_values("width", ascending=False)
    return frame[["route", "input", "low", "high", "npv_low", "npv_high", "npv_base"]].reset_index(drop=True)
