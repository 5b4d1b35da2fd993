"""The price model checked against the bill: the history priced per month beside what was billed.

Billed costs come from the Anthropic Admin API's cost report
(``AnthropicCostDataset``: ``date, model, ..., amount_usd``) or any CSV with at least
``date`` and ``amount_usd`` (USD) per row. Only months present in both are compared.
"""

from __future__ import annotations

import pandas as pd

from tokenplan.planning.prices import PRICED_TARGETS
from tokenplan.schemas import InvalidInputError, naive_utc, require_columns

__all__ = ["BILLED_COLUMNS", "history_months", "monthly_gap", "validate_billed", "whole_months"]

BILLED_COLUMNS = ["date", "amount_usd"]


def validate_billed(billed: pd.DataFrame, source: str = "billed_costs") -> pd.DataFrame:
    """Billed costs with a parsed ``date`` and numeric ``amount_usd``; one clear error for a bad row."""
    require_columns(billed, tuple(BILLED_COLUMNS), source)
    out = billed.reset_index(drop=True).copy()
    for column, parse in (("date", lambda s: pd.to_datetime(s, errors="coerce", utc=True)),
                          ("amount_usd", lambda s: pd.to_numeric(s, errors="coerce"))):
        parsed = parse(out[column])
        bad = parsed.isna() & out[column].notna() | out[column].isna()
        if bad.any():
            rows = bad[bad].index.tolist()[:5]
            raise InvalidInputError(f"{source}: column '{column}' has invalid values at rows {rows}: "
                                    f"{out.loc[rows, column].tolist()} (expected a date / a number of USD)")
        out[column] = parsed
    return out


def history_months(target_series: pd.DataFrame) -> pd.DataFrame:
    """Observed tokens per series, token type and calendar month (``YYYY-MM``, UTC), shaped like
    ``forecast_totals`` with one quantile column ``observed``, and the count of missing buckets."""
    history = target_series[target_series["target"].isin(PRICED_TARGETS)]
    ds = naive_utc(history["ds"])
    month = ds.dt.to_period("M").astype(str)
    grouped = history.assign(period=month, ds=ds).groupby(["series", "target", "period"], as_index=False)
    return grouped.agg(observed=("y", "sum"), missing_buckets=("y", lambda y: int(y.isna().sum())),
                       buckets=("y", "size"), first=("ds", "min"), last=("ds", "max"))


def whole_months(history: pd.DataFrame) -> list[str]:
    """Months of ``history_months`` whose buckets run from the month's first to its last day."""
    span = history.groupby("period").agg(first=("first", "min"), last=("last", "max"))
    starts = pd.PeriodIndex(span.index, freq="M")
    whole = (span["first"].dt.normalize() == starts.start_time) & (span["last"].dt.normalize()
                                                                   == starts.end_time.normalize())
    return sorted(span.index[whole.to_numpy()])


def monthly_gap(history_costs: pd.DataFrame, billed: pd.DataFrame) -> pd.DataFrame:
    """Priced vs billed USD per month present in both: ``period, priced_usd, billed_usd, gap_usd,
    gap_share`` (gap = billed - priced, as a share of billed), the days the bill covers, whether the
    history covers the whole month, and its ``missing_buckets``: a gap in a partly covered month may
    be coverage, not price.

    ``history_costs``: ``period, model, observed`` (USD), ``missing_buckets`` and ``whole_month``.
    """
    columns = ["period", "priced_usd", "billed_usd", "gap_usd", "gap_share", "billed_days", "whole_month",
               "missing_buckets"]
    if billed.empty:
        return pd.DataFrame(columns=columns)
    day = billed["date"].dt.tz_convert(None).dt.normalize()
    bill = billed.assign(period=day.dt.to_period("M").astype(str), day=day).groupby("period").agg(
        billed_usd=("amount_usd", "sum"), billed_days=("day", "nunique"))
    ours = history_costs.groupby("period").agg(priced_usd=("observed", "sum"), missing_buckets=("missing_buckets", "sum"),
                                               whole_month=("whole_month", "all"))
    out = pd.concat([ours, bill], axis=1, join="inner").reset_index(names="period")
    out["gap_usd"] = out["billed_usd"] - out["priced_usd"]
    out["gap_share"] = out["gap_usd"] / out["billed_usd"].where(out["billed_usd"] != 0)
    return out[columns].sort_values("period").reset_index(drop=True)
