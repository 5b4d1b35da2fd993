"""The share of each model's cache writes kept for 1 hour, measured on the usage history.

A 1-hour cache write costs more than a 5-minute one (Anthropic: 2x input against
1.25x), and the forecast has one ``cache_write_tokens`` target for both. So the price
of a forecast cache write is the blend of the two rates at the share of 1-hour writes
in the recent history (``tokenplan.planning.prices.with_cache_write_share``). Only
sources that say the TTL (the Console export's current layout, the Admin API, a usage
file with ``cache_write_1h_tokens``) give a share; without one, writes are priced at the
5-minute rate.
"""

from __future__ import annotations

import pandas as pd

from tokenplan.planning.prices import CACHE_WRITE_1H
from tokenplan.planning.recent_history import recent_rows_by_model

__all__ = ["one_hour_shares"]


def one_hour_shares(usage_buckets: pd.DataFrame, days: int) -> dict[str, float]:
    """Per model, 1-hour cache-write tokens / all cache-write tokens over the ``days`` days ending on its
    last day with cache writes whose TTL is known; a model whose usage never says is left out."""
    if CACHE_WRITE_1H not in usage_buckets.columns:
        return {}
    known = usage_buckets[(usage_buckets["cache_write_tokens"] > 0) & usage_buckets[CACHE_WRITE_1H].notna()]
    return {model: float(recent[CACHE_WRITE_1H].sum() / recent["cache_write_tokens"].sum())
            for model, recent in recent_rows_by_model(known, days)}
