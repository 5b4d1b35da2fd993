"""The time window a usage report covers, in UTC, on whole buckets.

A window is either absolute (``starting_at`` / ``ending_at``, RFC 3339 strings, dates
or timestamps; naive values are UTC) or a look-back of ``lookback_days`` ending at
``ending_at``. Without ``ending_at`` the window ends at the start of the current
bucket, so a half-finished hour or day never looks like a quiet one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

# API bucket width -> pandas frequency of one bucket.
BUCKET_FREQUENCIES = {"1m": "min", "1h": "h", "1d": "D"}

__all__ = ["BUCKET_FREQUENCIES", "bucket_frequency", "report_window", "rfc3339", "to_utc"]


def bucket_frequency(bucket_width: str) -> str:
    """The pandas frequency of an API ``bucket_width`` ('1m', '1h' or '1d')."""
    try:
        return BUCKET_FREQUENCIES[bucket_width]
    except KeyError:
        raise ValueError(f"bucket_width must be one of {list(BUCKET_FREQUENCIES)}, got {bucket_width!r}") from None


def to_utc(value: Any, name: str) -> pd.Timestamp:
    """``value`` as a tz-aware UTC timestamp (naive = UTC), or ValueError naming ``name``."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a date or RFC 3339 timestamp: {value!r}") from None
    if pd.isna(stamp):
        raise ValueError(f"{name} is not a date or RFC 3339 timestamp: {value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def report_window(
    starting_at: Any = None,
    ending_at: Any = None,
    lookback_days: float | None = None,
    bucket_width: str = "1h",
    now: pd.Timestamp | None = None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` in UTC: start inclusive, end exclusive."""
    freq = bucket_frequency(bucket_width)
    if ending_at is None:
        end = (now if now is not None else pd.Timestamp.now(tz="UTC")).tz_convert("UTC").floor(freq)
    else:
        end = to_utc(ending_at, "ending_at")
    if starting_at is not None:
        start = to_utc(starting_at, "starting_at")
    elif lookback_days is not None:
        start = end - pd.Timedelta(days=float(lookback_days))
    else:
        raise ValueError("the report window needs starting_at or lookback_days")
    if start >= end:
        raise ValueError(f"starting_at ({rfc3339(start)}) must be before ending_at ({rfc3339(end)})")
    return start, end


def rfc3339(stamp: pd.Timestamp) -> str:
    """``2026-01-01T00:00:00Z``: an RFC 3339 UTC timestamp to whole seconds."""
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
