"""Cost of forecast token totals at genai-prices rates, per series and period.

Quantiles of the cost add the token types' quantiles, i.e. assume token types move
together (comonotone) within a model, which holds closely for usage driven by request
volume; it slightly widens the interval if they do not.
"""

from __future__ import annotations

import pandas as pd

from tokenplan.pricing import PRICED_TARGETS, UnitPrices

__all__ = ["cost_by_period"]


def cost_by_period(totals: pd.DataFrame, prices: dict[str, UnitPrices], quantile_names: list[str]) -> pd.DataFrame:
    """USD cost per (series, period) with one column per quantile and the P50 split by token type."""
    priced = totals[totals["target"].isin(PRICED_TARGETS)].copy()
    model = priced["series"].str.split("/").str[0]
    rate = [prices[m].usd_per_mtok[t] / 1e6 for m, t in zip(model, priced["target"], strict=True)]
    for name in quantile_names:
        priced[name] = priced[name] * rate
    keys = ["series", "period", "start", "end", "buckets"]
    cost = priced.groupby(keys, sort=False)[quantile_names].sum()
    median = quantile_names[len(quantile_names) // 2]
    split = priced.pivot_table(index=keys, columns="target", values=median, aggfunc="sum", sort=False)
    split.columns = [f"{median}_{c.removesuffix('_tokens')}" for c in split.columns]
    return cost.join(split).reset_index()
