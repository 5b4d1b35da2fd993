"""Ingestion nodes: raw sources in, validated canonical tables out."""

from __future__ import annotations

from typing import Any

import pandas as pd
from ibis.expr.types import Table

from tokenplan.ingestion.context_windows import with_long_context_parts
from tokenplan.ingestion.implausible_values import ImplausibleRule, screen_implausible
from tokenplan.ingestion.request_logs import RequestLogConfig, bucket_request_log, is_request_log, with_quiet_buckets
from tokenplan.schemas import PEAK_COLUMNS, SUMMED_COLUMNS, first_line_of, validate_events, validate_usage
from tokenplan.ingestion.source_labels import first_line_of_source, source_of
from tokenplan.ingestion.usage_columns import read_usage_columns
from tokenplan.ingestion.usage_buckets import (
    complete_grid,
    deduplicate,
    detect_bucket,
    finer_rows,
    normalise_model_id,
    refuse_coarser_files,
    resolve_repeated_rows,
    to_buckets,
    with_absent_rows_zero,
)

# A request log is finer than any bucket: ``auto`` aggregates it to hours.
REQUEST_LOG_BUCKET = "h"


def build_usage_buckets(raw_usage: pd.DataFrame | Table, params: dict[str, Any]) -> pd.DataFrame:
    """Raw usage -> canonical ``usage_buckets`` (UTC, one id per model, gaps as NaN).

    A pandas frame is already-bucketed usage; an Ibis table is a request-level log,
    aggregated where it lives (``ingestion.request_log`` maps its columns). The bucket
    width is the input's own with ``ingestion.bucket: auto``; it is also in
    ``usage_buckets.attrs["bucket"]`` and recoverable from the timestamps.
    """
    source = source_of(raw_usage, "raw_usage")
    dimensions = list(params.get("series_dimensions") or [])
    series_columns = ["model", *dimensions]
    rule = ImplausibleRule.from_params(params.get("implausible"))
    revised = repeated = 0
    log_notes: dict[str, Any] = {}
    if is_request_log(raw_usage):
        bucket = REQUEST_LOG_BUCKET if params["bucket"] == "auto" else params["bucket"]
        usage = bucket_request_log(
            raw_usage, RequestLogConfig.from_params(params.get("request_log")), timezone=params["timezone"],
            bucket=bucket, series_dimensions=dimensions, model_aliases=params.get("model_aliases"),
            source=source, first_line=first_line_of_source(raw_usage),
        )
        log_notes = {"request_log": usage.attrs["request_log"]}  # what the log held, for the report
        usage = with_quiet_buckets(usage, series_columns, bucket)
        usage = validate_usage(usage, source=source, series_columns=tuple(series_columns))
        usage, excluded = screen_implausible(usage, series_columns, rule, source, source_rows=False)
    else:
        usage, revised, repeated = _bucketed_usage(raw_usage, params, source, dimensions)
        usage, excluded = screen_implausible(usage, series_columns, rule, source, first_line_of(raw_usage))
        bucket = detect_bucket(usage, series_columns, params["bucket"], source)
        if finer := finer_rows(usage, series_columns, bucket):
            log_notes = {"finer_rows": finer}  # rows summed to the bucket, for the report
    bucketed = to_buckets(usage, bucket, series_columns)
    if not is_request_log(raw_usage) and params.get("absent_rows", "zero") == "zero":
        bucketed, zeros = with_absent_rows_zero(bucketed, series_columns)
        log_notes["zero_filled_rows"] = zeros + int(getattr(raw_usage, "attrs", {}).get("zero_filled_rows", 0))
    buckets = complete_grid(bucketed, bucket)
    # Parquet keeps attrs: the report and notebooks read what ingestion decided.
    buckets.attrs = {"bucket": bucket, "raw_source": source, "revised_rows": revised, "repeated_rows": repeated,
                     "excluded_values": excluded, **log_notes}
    if isinstance(raw_usage, pd.DataFrame) and "zero_filled_rows" in raw_usage.attrs and "zero_filled_rows" \
            not in buckets.attrs:
        buckets.attrs["zero_filled_rows"] = int(raw_usage.attrs["zero_filled_rows"])
    if isinstance(raw_usage, pd.DataFrame) and "files" in raw_usage.attrs:  # a folder: which files were read
        buckets.attrs["files_read"] = list(raw_usage.attrs["files"])
        buckets.attrs["files_not_read"] = list(raw_usage.attrs.get("files_not_read", []))
    return buckets


def _bucketed_usage(raw_usage: pd.DataFrame, params: dict[str, Any], source: str,
                    dimensions: list[str]) -> tuple[pd.DataFrame, int, int]:
    raw_usage = read_usage_columns(raw_usage, source, kept=tuple(dimensions),
                                   unused=tuple(params.get("unused_columns") or ()))
    usage = validate_usage(raw_usage, timezone=params["timezone"], source=source,
                           series_columns=("model", *dimensions), timestamp_format=params.get("timestamp_format"))
    refuse_coarser_files(usage, ["model", *dimensions], params["bucket"], source)
    usage = with_long_context_parts(usage, source, first_line_of(raw_usage))
    # Once per distinct id: a log of millions of rows names a handful of models.
    ids = {m: normalise_model_id(m, params.get("model_aliases")) for m in usage["model"].unique()}
    # The key is every column that is not a count, so rows that differ in any label (the
    # raw model id, a service tier that is not a series dimension) are distinct usage inside
    # a file; across files the id, not its spelling, matches rows, and a label one file lacks
    # is not a difference.
    key = [c for c in usage.columns if c not in (*SUMMED_COLUMNS, *PEAK_COLUMNS)]
    labels = [c for c in key if c not in ("timestamp", "model", *dimensions)]
    usage, revised, repeated = resolve_repeated_rows(usage, key, source, first_line_of(raw_usage), labels,
                                                     same_id={"model": ids})
    usage["model"] = usage["model"].map(ids)
    return usage, revised, repeated


def build_events_calendar(raw_events: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Validated events calendar with UTC times and normalised model scopes."""
    source = source_of(raw_events, "raw_events")
    events = validate_events(raw_events, timezone=params["timezone"], source=source,
                             timestamp_format=params.get("timestamp_format"))
    aliases = params.get("model_aliases")
    events["scope"] = events["scope"].map(lambda s: normalise_model_id(s, aliases) if s else "")
    events = deduplicate(events, ["start", "end", "name", "kind", "scope"], source)
    return events.sort_values("start").reset_index(drop=True)
