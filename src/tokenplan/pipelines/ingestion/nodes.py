"""Ingestion nodes: raw sources in, validated canonical tables out."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tokenplan.schemas import COUNT_COLUMNS, PEAK_COLUMNS, validate_events, validate_usage
from tokenplan.usage_buckets import complete_grid, deduplicate, normalise_model_id, to_buckets


def build_usage_buckets(raw_usage: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Validated raw usage -> canonical ``usage_buckets`` (UTC, one id per model, gaps as NaN)."""
    source = raw_usage.attrs.get("source", "raw_usage")
    dimensions = list(params.get("series_dimensions") or [])
    usage = validate_usage(raw_usage, timezone=params["timezone"], source=source,
                           series_columns=("model", *dimensions))
    # Duplicates are repeated source rows (re-downloaded pages, overlapping exports): the
    # key is every column that is not a count, so rows that differ in any label (the raw
    # model id, a service tier that is not a series dimension) are distinct usage.
    usage = deduplicate(usage, [c for c in usage.columns if c not in (*COUNT_COLUMNS, *PEAK_COLUMNS)], source)
    usage["model"] = usage["model"].map(lambda m: normalise_model_id(m, params.get("model_aliases")))
    buckets = to_buckets(usage, params["bucket"], ["model", *dimensions])
    return complete_grid(buckets, params["bucket"])


def build_events_calendar(raw_events: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Validated events calendar with UTC times and normalised model scopes."""
    source = raw_events.attrs.get("source", "raw_events")
    events = validate_events(raw_events, timezone=params["timezone"], source=source)
    aliases = params.get("model_aliases")
    events["scope"] = events["scope"].map(lambda s: normalise_model_id(s, aliases) if s else "")
    events = deduplicate(events, ["start", "end", "name", "kind", "scope"], source)
    return events.sort_values("start").reset_index(drop=True)
