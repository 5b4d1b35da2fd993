"""Paginated time-bucket reports (Anthropic and OpenAI usage APIs) flattened to one row per group.

Both APIs answer ``{"data": [{<bucket start>, "results": [{<group>, <counts>}]}],
"has_more", "next_page"}``; only the field names differ, so each source module passes
its own bucket-start key, dimension renames and count mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from tokenplan.schemas import InvalidInputError

__all__ = ["as_list", "flatten_buckets", "usage_group_by"]


def as_list(values: Any) -> list:
    """A config value that may be one string, a list or nothing, as a list."""
    if values is None:
        return []
    return [values] if isinstance(values, str) else list(values)


def usage_group_by(group_by: Any) -> list[str]:
    """``group_by`` with ``model`` first: usage is always split by model."""
    return list(dict.fromkeys(["model", *as_list(group_by)]))


def flatten_buckets(
    pages: Iterable[Mapping[str, Any]],
    start_key: str,
    dimensions: Sequence[str],
    dimension_columns: Mapping[str, str],
    counts: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    count_columns: Sequence[str],
    to_timestamps: Callable[[pd.Series], pd.Series],
    end_key: str | None = None,
    bucket_width: str | None = None,
    source: str = "usage API",
) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Rows (``timestamp``, one column per renamed dimension, float ``count_columns``) and
    every bucket start the report listed, with or without results, so a caller can tell
    a quiet bucket from one never reported.

    With ``end_key`` and ``bucket_width`` (``1h``, ``1d``, ``1m``: what was asked for), a
    bucket wider than asked (a day's bucket in an hourly answer) stops with a message:
    read as hours, it would put a day's usage into one hour.
    """
    rows, reported = [], []
    widest = pd.Timedelta(bucket_width.replace("m", "min")) if bucket_width else None
    for page in pages:
        for bucket in page.get("data") or []:
            start = bucket[start_key]
            if widest is not None and end_key and bucket.get(end_key) is not None:
                began, ended = to_timestamps(pd.Series([start, bucket[end_key]], dtype=object))
                if ended - began > widest:
                    raise InvalidInputError(
                        f"{source}: asked for {bucket_width} buckets, but the answer's bucket from {began} to "
                        f"{ended} is {ended - began} wide; set the dataset's bucket_width to what the API "
                        f"returns (ingestion.bucket: auto follows it)")
            reported.append(start)
            for result in bucket.get("results") or []:
                row = {"timestamp": start}
                row.update({dimension_columns.get(d, d): result.get(d) for d in dimensions})
                row.update(counts(result))
                rows.append(row)
    columns = ["timestamp", *(dimension_columns.get(d, d) for d in dimensions), *count_columns]
    frame = pd.DataFrame(rows, columns=columns)
    frame["timestamp"] = to_timestamps(frame["timestamp"])
    for column in count_columns:
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame, pd.DatetimeIndex(to_timestamps(pd.Series(reported, dtype=object)))
