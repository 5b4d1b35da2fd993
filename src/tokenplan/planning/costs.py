"""Cost of forecast token totals, per series and period (today's table) and per route.

Quantiles of a cost add the token types' quantiles, i.e. assume the token types of a
model, and the models, move together (comonotone). That is how ``forecast_totals``
builds its intervals (one backtested scale per period for every series and target), so
the sum is the cost's own quantile there; if token types moved independently, the
interval would be somewhat narrower.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tokenplan.planning.prices import PRICED_TARGETS, UnitPrices

__all__ = ["cost_by_period", "flat_rates", "route_costs"]


def cost_by_period(totals: pd.DataFrame, rates: pd.DataFrame, quantile_names: list[str]) -> pd.DataFrame:
    """USD cost per (series, period) with one column per quantile and the P50 split by token type.

    ``rates``: one route's USD per million tokens per series, month and token type (``route_rates``), so
    each month pays the prices in force in it and the horizon the months' rates weighted by their P50
    tokens, as ``route_costs`` prices it (the baseline route's rates give its costs to the cent). Series
    without rates (a model with no price) are left out; the report lists them.
    """
    keys = ["series", "period", "start", "end", "buckets"]
    median = quantile_names[len(quantile_names) // 2]
    tokens = totals[totals["target"].isin(PRICED_TARGETS)].rename(columns={"target": "token_type"})
    if tokens.empty or rates.empty:  # no token counts (e.g. request counts only) or no priced model
        return pd.DataFrame(columns=[*keys, *quantile_names])
    all_rates = pd.concat([rates, _horizon_rates(rates, totals, median)], ignore_index=True)
    priced = tokens.merge(all_rates[["series", "period", "token_type", "usd_per_mtok"]],
                          on=["series", "period", "token_type"], sort=False)
    for name in quantile_names:
        priced[name] = priced[name].fillna(0) * priced["usd_per_mtok"] / 1e6
    cost = priced.groupby(keys, sort=False)[quantile_names].sum()
    split = priced.pivot_table(index=keys, columns="token_type", values=median, aggfunc="sum", sort=False)
    split.columns = [f"{median}_{c.removesuffix('_tokens')}" for c in split.columns]
    return cost.join(split).reset_index()


def flat_rates(prices: Mapping[str, UnitPrices | None], totals: pd.DataFrame) -> pd.DataFrame:
    """``route_rates``-shaped rates at one price per model for every series and month of ``totals``
    (a table whose days all pay one price, as the monitor's days of one month)."""
    months = totals.loc[totals["period"] != "horizon", ["series", "period"]].drop_duplicates()
    models = months["series"].astype(str).str.split("/").str[0]
    rows = [{"route": "list price", "series": series, "model": model, "period": period, "token_type": t,
             "usd_per_mtok": prices[model].usd_per_mtok[t]}
            for series, model, period in zip(months["series"], models, months["period"], strict=True)
            if prices.get(model) is not None for t in PRICED_TARGETS if t in prices[model].usd_per_mtok]
    return pd.DataFrame(rows, columns=["route", "series", "model", "period", "token_type", "usd_per_mtok"])


def _horizon_rates(rates: pd.DataFrame, totals: pd.DataFrame, median: str) -> pd.DataFrame:
    """Rates for the whole horizon: monthly rates weighted by each month's P50 tokens."""
    months = totals[totals["period"] != "horizon"].rename(columns={"target": "token_type"})
    weighted = rates.merge(months[["series", "token_type", "period", median]], on=["series", "token_type", "period"])
    weighted["weight"] = weighted[median].clip(lower=0) + 1e-12  # equal weights when a type has no tokens
    weighted["cost"] = weighted["usd_per_mtok"] * weighted["weight"]
    keys = ["route", "series", "model", "token_type"]
    out = weighted.groupby(keys, as_index=False)[["cost", "weight"]].sum()
    return out.assign(period="horizon", usd_per_mtok=out["cost"] / out["weight"])[[*keys, "period", "usd_per_mtok"]]


def route_costs(totals: pd.DataFrame, rates: pd.DataFrame, quantile_names: list[str],
                by_series: bool = False) -> pd.DataFrame:
    """USD per route, model and period (months ``YYYY-MM`` and ``horizon``) with one column per quantile;
    ``by_series``: per route, series, model and period.

    Quantiles add over token types and series (comonotone, see the module docstring).
    """
    keys = ["route", "series", "model", "period"] if by_series else ["route", "model", "period"]
    median = quantile_names[len(quantile_names) // 2]
    all_rates = pd.concat([rates, _horizon_rates(rates, totals, median)], ignore_index=True)
    tokens = totals[totals["target"].isin(PRICED_TARGETS)].rename(columns={"target": "token_type"})
    priced = all_rates.merge(tokens[["series", "token_type", "period", *quantile_names]],
                             on=["series", "token_type", "period"])
    for name in quantile_names:
        priced[name] = priced[name].fillna(0) * priced["usd_per_mtok"] / 1e6
    cost = priced.groupby(keys, sort=False, as_index=False)[quantile_names].sum()
    cost[quantile_names] = np.sort(cost[quantile_names].to_numpy(), axis=1)
    order = {route: i for i, route in enumerate(dict.fromkeys(rates["route"]))}  # routes as configured
    return cost.sort_values(["route", "period", *keys[1:-1]], kind="stable",
                            key=lambda c: c.map(order) if c.name == "route" else c).reset_index(drop=True)
