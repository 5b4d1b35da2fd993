"""Which team, model and API key each series belongs to, and which series came or went.

A series id is ``model/dim1/dim2...`` in the order of ``ingestion.series_dimensions``
(``tokenplan.ingestion.usage_buckets``); ``usage_buckets`` keeps each dimension as a
column, so the mapping is read from there rather than parsed from the id.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["NO_TEAM", "series_dimensions", "series_status"]

# The team of a series when the usage has no team column (one team: the organisation).
NO_TEAM = "(all)"


def series_dimensions(usage_buckets: pd.DataFrame, team_column: str, key_column: str | None) -> pd.DataFrame:
    """One row per series: ``series, model, team, api_key`` (api_key ``(all)`` when the usage has no key column)."""
    first = usage_buckets.drop_duplicates("series").sort_values("series")
    team = first[team_column].astype(str) if team_column in first.columns else NO_TEAM
    key = first[key_column].astype(str) if key_column and key_column in first.columns else NO_TEAM
    return pd.DataFrame({"series": first["series"].astype(str), "model": first["model"].astype(str),
                         "team": team, "api_key": key}).reset_index(drop=True)


def series_status(usage_buckets: pd.DataFrame, new_days: int, gone_days: int) -> pd.DataFrame:
    """Per series: first and last day with usage and ``status``: new, ended (no usage at the end) or active.

    ``new``: its first usage is within ``new_days`` of the history's end (a team created,
    a key issued recently: a short history). ``ended``: no usage in the last ``gone_days``
    (a key rotated, a team closed); the plan gives it no future spend.
    """
    counts = [c for c in ("requests", "input_tokens", "output_tokens") if c in usage_buckets.columns]
    used = usage_buckets[usage_buckets[counts].fillna(0).sum(axis=1) > 0]
    end = usage_buckets["timestamp"].max()
    span = used.groupby("series")["timestamp"].agg(first_usage="min", last_usage="max")
    span = span.reindex(sorted(usage_buckets["series"].astype(str).unique()))
    status = pd.Series("active", index=span.index)
    status[span["first_usage"] > end - pd.Timedelta(days=new_days)] = "new"
    status[span["last_usage"].isna() | (span["last_usage"] < end - pd.Timedelta(days=gone_days))] = "ended"
    out = span.assign(status=status).reset_index(names="series")
    for column in ("first_usage", "last_usage"):
        out[column] = pd.to_datetime(out[column]).dt.strftime("%Y-%m-%d")
    return out
