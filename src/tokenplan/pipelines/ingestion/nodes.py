"""Ingestion nodes: raw sources in, validated canonical tables out."""

from __future__ import annotations

from typing import Any

import pandas as pd
from ibis.expr.types import Table

from tokenplan.request_logs import RequestLogConfig, bucket_request_log, is_request_log
from tokenplan.schemas import COUNT_COLUMNS, PEAK_COLUMNS, validate_events, validate_usage
from tokenplan.source_labels import source_of
from tokenplan.usage_buckets import complete_grid, deduplicate, normalise_model_id, to_buckets


def build_usage_buckets(raw_usage: pd.DataFrame | Table, params: dict[str, Any]) -> pd.DataFrame:
    """Raw usage -> canonical ``usage_buckets`` (UTC, one id per model, gaps as NaN).

    A pandas frame is already-bucketed usage; an Ibis table is a request-level log,
    aggregated where it lives (``ingestion.request_log`` maps its columns).
    """
    source = source_of(raw_usage, "raw_usage")
    dimensions = list(params.get("series_dimensions") or [])
    if is_request_log(raw_usage):
        usage = bucket_request_log(
            raw_usage, RequestLogConfig.from_params(params.get("request_log")), timezone=params["timezone"],
            bucket=params["bucket"], series_dimensions=dimensions, model_aliases=params.get("model_aliases"),
            source=source,
        )
        usage = validate_usage(usage, source=source, series_columns=("model", *dimensions))
    else:
        usage = _bucketed_usage(raw_usage, params, source, dimensions)
    buckets = to_buckets(usage, params["bucket"], ["model", *dimensions])
    return complete_grid(buckets, params["bucket"])


def _bucketed_usage(raw_usage: pd.DataFrame, params: dict[str, Any], source: str,
                    dimensions: list[str]) -> pd.DataFrame:
    usage = validate_usage(raw_usage, timezone=params["timezone"], source=source,
                           series_columns=("model", *dimensions))
    # Duplicates are repeated source rows (re-downloaded pages, overlapping exports): the
    # key is every column that is not a count, so rows that differ in any label (the raw
    # model id, a service tier that is not a series dimension) are distinct usage.
    usage = deduplicate(usage, [c for c in usage.columns if c not in (*COUNT_COLUMNS, *PEAK_COLUMNS)], source)
    usage["model"] = usage["model"].map(lambda m: normalise_model_id(m, params.get("model_aliases")))
    return usage


def build_events_calendar(raw_events: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Validated events calendar with UTC times and normalised model scopes."""
    source = source_of(raw_events, "raw_events")
    events = validate_events(raw_events, timezone=params["timezone"], source=source)
    aliases = params.get("model_aliases")
    events["scope"] = events["scope"].map(lambda s: normalise_model_id(s, aliases) if s else "")
    events = deduplicate(events, ["start", "end", "name", "kind", "scope"], source)
    return events.sort_values("start").reset_index(drop=True)
