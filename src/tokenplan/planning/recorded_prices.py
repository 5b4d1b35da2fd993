"""The history's rates: each day at the list prices in force on it and at its own recorded split.

A forecast cache write is priced at the blend of the 5-minute and 1-hour rates at the
share of 1-hour writes of the history's last days, and each token type at its recent
long-context share (``tokenplan.planning.cache_writes``, ``tokenplan.planning.long_context``):
the forecast does not know which future writes or requests those are. A past day does: its
1-hour writes (``cache_write_1h_tokens``) pay the 1-hour rate and its other writes the
5-minute one, its long-context tokens (``long_context_*``) the long-context tier, at the
prices genai-prices (or the price table) has in force on that day. So a quarter whose
writes moved from 5-minute to 1-hour entries in its last weeks is priced as it was billed,
not at the last weeks' mix, and a model whose price changed in it pays each price on its
own days. A day whose source does not say (no TTL, no context window) pays the 5-minute and
base rates, as a forecast of a model whose usage never says does. A series whose service
tier is ``batch`` pays the Batch API's rates on the days genai-prices has them, as the
baseline route prices it.

Every table that prices history (``history_costs``, the summary's last quarter, the
organisation's recorded spend and its backtest) reads these rates, so no two disagree.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from tokenplan.planning.prices import CACHE_WRITE_1H, PRICED_TARGETS, UnitPrices
from tokenplan.planning.routes import Pricer
from tokenplan.schemas import LONG_CONTEXT_TOKENS, naive_utc

__all__ = ["HISTORY_RATE_COLUMNS", "history_rate_lookup", "recorded_rates"]

HISTORY_RATE_COLUMNS = ["series", "model", "day", "token_type", "usd_per_mtok"]
_LONG_CONTEXT = {whole: part for part, whole in LONG_CONTEXT_TOKENS.items() if whole in PRICED_TARGETS}


def _day_splits(usage_buckets: pd.DataFrame, series: list[str], days: pd.DatetimeIndex) -> pd.DataFrame:
    """Per series and UTC day of ``days``: the share of its cache writes kept for 1 hour (``share_1h``) and of
    each token type in long-context requests (``share_<type>``); 0 where the source does not say."""
    parts = [c for c in (CACHE_WRITE_1H, *_LONG_CONTEXT.values()) if c in usage_buckets.columns]
    wholes = [t for t in PRICED_TARGETS if t in usage_buckets.columns]
    columns = ["share_1h", *(f"share_{t}" for t in _LONG_CONTEXT)]
    grid = pd.MultiIndex.from_product([series, days], names=["series", "day"])
    if not parts or "timestamp" not in usage_buckets.columns:
        return pd.DataFrame(0.0, index=grid, columns=columns).reset_index()
    day = naive_utc(usage_buckets["timestamp"]).dt.floor("D").rename("day")
    sums = usage_buckets[wholes + parts].fillna(0.0).groupby([usage_buckets["series"].astype(str), day]).sum()

    def share(part: str, whole: str) -> np.ndarray:
        if part not in sums or whole not in sums:
            return np.zeros(len(sums))
        return np.where(sums[whole] > 0, sums[part] / sums[whole].where(sums[whole] > 0), 0.0)

    out = pd.DataFrame({"share_1h": share(CACHE_WRITE_1H, "cache_write_tokens"),
                        **{f"share_{t}": share(p, t) for t, p in _LONG_CONTEXT.items()}}, index=sums.index)
    # Every day of the history for every series: a day the usage lacks (interpolated by the organisation's
    # recorded spend, or forecast by a backtest fold before a series' launch) takes the split of the nearest
    # day before it (after it, before the series' first); a series the usage never splits, none.
    out = out.reindex(grid)
    return out.groupby(level="series").ffill().groupby(level="series").bfill().fillna(0.0).reset_index()


def _day_rates(prices: UnitPrices, splits: pd.DataFrame) -> dict[str, np.ndarray]:
    """USD per million tokens of each type on ``splits``' days, at ``prices`` (listed, not blended) and each
    day's own shares: long context first, then the 1-hour share of the writes, as ``Pricer`` blends."""
    base, long_context = prices.usd_per_mtok, prices.long_context_usd_per_mtok

    def tiered(token_type: str, share: np.ndarray) -> np.ndarray:
        rate = base[token_type]
        return (1 - share) * rate + share * long_context.get(token_type, rate)

    lc_share = {t: splits.get(f"share_{t}", pd.Series(0.0, index=splits.index)).to_numpy() for t in PRICED_TARGETS}
    rates = {t: tiered(t, lc_share[t]) for t in PRICED_TARGETS}
    if CACHE_WRITE_1H in base:
        one_hour = tiered(CACHE_WRITE_1H, lc_share["cache_write_tokens"])
        share = splits["share_1h"].to_numpy()
        rates["cache_write_tokens"] = (1 - share) * rates["cache_write_tokens"] + share * one_hour
    return rates


def recorded_rates(history: pd.DataFrame, usage_buckets: pd.DataFrame, pricer: Pricer,
                   series_tiers: dict[str, str] | None = None) -> pd.DataFrame:
    """USD per million tokens per series, UTC day of the history and token type (``HISTORY_RATE_COLUMNS``):
    the listed rates in force that day at that day's recorded split in ``usage_buckets`` (module docstring).
    ``history``: ``target_series`` (its series, and its ``ds`` from first to last day). A model with no
    price on a day has no rows for it; callers price it at nothing and the report names it."""
    if history.empty:
        return pd.DataFrame(columns=HISTORY_RATE_COLUMNS)
    ds = naive_utc(history["ds"]).dt.floor("D")
    days = pd.date_range(ds.min(), ds.max(), freq="D")
    splits = _day_splits(usage_buckets, sorted(history["series"].astype(str).unique()), days)
    splits["model"] = splits["series"].astype(str).str.split("/").str[0]
    frames = []
    for (series, model), rows in splits.groupby(["series", "model"], sort=True):
        batch = (series_tiers or {}).get(series) == "batch"
        days = rows["day"].dt.date
        first, last = days.min(), days.max()
        # Where the tier is batch, a day pays the Batch API's rate when genai-prices has one then.
        changes = sorted({*pricer.change_days(model, first, last), *(pricer.change_days(model, first, last, True)
                                                                        if batch else ())})
        for start, end in zip([first, *changes], [*(d - dt.timedelta(days=1) for d in changes), last], strict=True):
            prices = (batch and pricer.listed(model, start, True)) or pricer.listed(model, start)
            if prices is None:
                continue
            span = rows[(days >= start).to_numpy() & (days <= end).to_numpy()]
            for token_type, rate in _day_rates(prices, span).items():
                frames.append(pd.DataFrame({"series": series, "model": model, "day": span["day"].to_numpy(),
                                            "token_type": token_type, "usd_per_mtok": rate}))
    if not frames:
        return pd.DataFrame(columns=HISTORY_RATE_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(["series", "day", "token_type"], ignore_index=True)


def history_rate_lookup(frame: pd.DataFrame, rates: pd.DataFrame, time_column: str = "ds") -> np.ndarray:
    """USD per token for each row of ``frame`` (``series``, ``target``, ``time_column``) on its UTC day
    (``recorded_rates``); NaN for targets without a price (requests) and days or models without one."""
    day = naive_utc(frame[time_column]).dt.floor("D")
    keys = pd.MultiIndex.from_arrays([frame["series"].astype(str), day, frame["target"].astype(str)])
    table = rates.assign(series=rates["series"].astype(str), day=pd.to_datetime(rates["day"])).set_index(
        ["series", "day", "token_type"])["usd_per_mtok"]
    return table.reindex(keys).to_numpy(dtype=float) / 1e6
