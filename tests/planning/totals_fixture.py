"""A small ``forecast_totals`` table with known numbers, for the planning tests."""

from __future__ import annotations

import pandas as pd

TOKENS = {"input_tokens": 2e8, "cache_write_tokens": 1e7, "cache_read_tokens": 5e7, "output_tokens": 3e7}
SPREAD = (0.9, 1.0, 1.2)  # P10, P50, P90 as multiples of P50: one common scale, as forecast_totals has


def forecast_totals(series: tuple[str, ...] = ("claude-sonnet-4-5",),
                    months: tuple[str, ...] = ("2026-11", "2026-12"), growth: float = 0.0) -> pd.DataFrame:
    """Whole calendar months of daily forecast, then the horizon (the months' sums)."""
    rows = []
    for k, month in enumerate(months):
        period = pd.Period(month, "M")
        start, end = period.start_time, period.end_time.normalize()
        for s in series:
            for target, tokens in {**TOKENS, "requests": 1e6}.items():
                p50 = tokens * (1 + growth) ** k
                rows.append({"series": s, "target": target, "period": month, "start": start, "end": end,
                             "buckets": period.days_in_month,
                             **{q: p50 * m for q, m in zip(("p10", "p50", "p90"), SPREAD, strict=True)}})
    frame = pd.DataFrame(rows)
    horizon = frame.groupby(["series", "target"], as_index=False)[["p10", "p50", "p90", "buckets"]].sum()
    horizon = horizon.assign(period="horizon", start=frame["start"].min(), end=frame["end"].max())
    return pd.concat([frame, horizon[frame.columns]], ignore_index=True)
