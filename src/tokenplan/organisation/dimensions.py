"""Which team, model and API key each series belongs to, and which series came or went.

A series id is ``model/dim1/dim2...`` in the order of ``ingestion.series_dimensions``
(``tokenplan.ingestion.usage_buckets``); ``usage_buckets`` keeps each dimension as a
column, so the mapping is read from there rather than parsed from the id.

A key belongs to one team: the plan's key level is a team's key (``team/api_key``). A key
id the usage shows under two teams (moved in a re-org, or re-assigned to another LiteLLM
team) is planned as one key per team, each with its part of the history; ``shared_keys``
finds them so the log and the report can say so.

A series whose model has no price has no spend in the organisation's tables; ``unpriced_models``
names them per team, so a team none of whose usage is priced is still counted, its budget
named unchecked and its usage charged no cost, each said in words, rather than dropped.
"""

from __future__ import annotations

import pandas as pd

from tokenplan.forecasting.ended_series import ended_since

__all__ = ["NO_TEAM", "series_dimensions", "series_status", "shared_keys", "unpriced_models", "unpriced_text"]

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
    a key issued recently: a short history) and after the history's first week: a series used from the start
    of a history shorter than ``new_days`` is as old as the history (a review's 75-day file called 13 of its
    16 series new, burying the one key issued two weeks before the end). ``ended``: no usage in the last ``gone_days``
    (a key rotated, a team closed; ``tokenplan.forecasting.ended_series``); the plan gives it no future spend.
    """
    counts = [c for c in ("requests", "input_tokens", "output_tokens") if c in usage_buckets.columns]
    used = usage_buckets[usage_buckets[counts].fillna(0).sum(axis=1) > 0]
    start, end = usage_buckets["timestamp"].min(), usage_buckets["timestamp"].max()
    span = used.groupby("series")["timestamp"].agg(first_usage="min", last_usage="max")
    span = span.reindex(sorted(usage_buckets["series"].astype(str).unique()))
    status = pd.Series("active", index=span.index)
    late = span["first_usage"] >= start + pd.Timedelta(days=7)
    status[(span["first_usage"] > end - pd.Timedelta(days=new_days)) & late] = "new"
    # The forecast's rule (``tokenplan.forecasting.ended_series``): the same series end.
    ended = ended_since(used["series"], used["timestamp"], end, gone_days)
    status[span["last_usage"].isna() | span.index.isin(list(ended))] = "ended"
    out = span.assign(status=status).reset_index(names="series")
    for column in ("first_usage", "last_usage"):
        out[column] = pd.to_datetime(out[column]).dt.strftime("%Y-%m-%d")
    return out


def shared_keys(series: pd.DataFrame) -> pd.DataFrame:
    """API keys used by more than one team: ``api_key, team, first_usage, last_usage``, a row per key and team.

    ``series``: ``series, team, api_key, first_usage, last_usage`` (``describe_series``).
    Each team's use of such a key is a key of its own in the plan, so its history is split.
    """
    keyed = series[series["api_key"] != NO_TEAM]
    teams = keyed.groupby("api_key")["team"].nunique()
    shared = keyed[keyed["api_key"].isin(teams[teams > 1].index)]
    uses = shared.groupby(["api_key", "team"], as_index=False).agg(first_usage=("first_usage", "min"),
                                                                   last_usage=("last_usage", "max"))
    return uses.sort_values(["api_key", "first_usage", "team"], ignore_index=True)


def unpriced_models(series: pd.DataFrame, priced_series) -> pd.DataFrame:
    """Per team with a series outside ``priced_series``: ``team, models`` (sorted, ``", "``-joined), ``live`` (one
    of those series has not ended: the forecast plans usage for it) and ``whole_team`` (none of its series priced).

    ``series``: ``series, model, team, status`` (``describe_series``).
    """
    priced = series["series"].isin(set(priced_series))
    out = series[~priced].groupby("team", sort=True).agg(models=("model", lambda m: ", ".join(sorted(set(m)))),
                                                         live=("status", lambda s: bool((s != "ended").any())))
    whole = ~out.index.isin(series.loc[priced, "team"])
    return out.assign(whole_team=whole).reset_index()


def unpriced_text(models: str) -> str:
    """``"its model m has no price"`` (or ``"its models m1, m2 have no price"``) for a team's unpriced models."""
    many = "," in models
    return f"its model{'s' if many else ''} {models} {'have' if many else 'has'} no price"
