"""OpenAI organization completions usage, flattened to canonical usage.

``GET /v1/organization/usage/completions`` (``Authorization: Bearer <admin key>``) lists
time buckets (``start_time`` in unix seconds) with one result per group. OpenAI counts
cached tokens *inside* ``input_tokens``, so:

=========================================  =====================
API field                                  canonical column
=========================================  =====================
``input_tokens - input_cached_tokens``     ``input_tokens``
``input_cached_tokens``                    ``cache_read_tokens``
``output_tokens``                          ``output_tokens``
``num_model_requests``                     ``requests``
=========================================  =====================

There is no cache-write count, so ``cache_write_tokens`` is absent (unknown, not
zero). Grouped dimensions become columns: ``project_id`` -> ``project``,
``api_key_id`` -> ``api_key``, ``user_id`` -> ``user``; ``batch`` and
``service_tier`` keep their names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from tokenplan.sources.bucket_report import as_list, flatten_buckets, usage_group_by

API_NAME = "OpenAI usage API"
DEFAULT_BASE_URL = "https://api.openai.com"
KEY_ENV_VAR = "OPENAI_ADMIN_KEY"
COMPLETIONS_PATH = "/v1/organization/usage/completions"
MAX_BUCKETS_PER_PAGE = {"1d": 31, "1h": 168, "1m": 1440}
DIMENSION_COLUMNS = {"project_id": "project", "api_key_id": "api_key", "user_id": "user"}
USAGE_COUNT_COLUMNS = ["requests", "input_tokens", "cache_read_tokens", "output_tokens"]

__all__ = [
    "API_NAME",
    "COMPLETIONS_PATH",
    "DEFAULT_BASE_URL",
    "KEY_ENV_VAR",
    "USAGE_COUNT_COLUMNS",
    "auth_headers",
    "completions_query",
    "usage_frame",
]


def auth_headers(api_key: str) -> dict[str, str]:
    """Request headers for the organization API."""
    return {"Authorization": f"Bearer {api_key}"}


def completions_query(
    start: pd.Timestamp,
    end: pd.Timestamp,
    bucket_width: str = "1h",
    group_by: Sequence[str] = ("model",),
    filters: Mapping[str, Sequence[Any]] | None = None,
    limit: int | None = None,
) -> list[tuple[str, str]]:
    """Query parameters of ``usage/completions``; arrays repeat their key (``group_by=a&group_by=b``).

    ``filters`` are the API's filters, e.g. ``{"models": [...], "project_ids": [...],
    "batch": false}``.
    """
    if bucket_width not in MAX_BUCKETS_PER_PAGE:
        raise ValueError(f"bucket_width must be one of {list(MAX_BUCKETS_PER_PAGE)}, got {bucket_width!r}")
    query = [("start_time", str(int(start.timestamp()))), ("end_time", str(int(end.timestamp()))),
             ("bucket_width", bucket_width), ("limit", str(limit or MAX_BUCKETS_PER_PAGE[bucket_width]))]
    query += [("group_by", g) for g in usage_group_by(group_by)]
    for name, values in (filters or {}).items():
        values = [values] if isinstance(values, bool) else as_list(values)
        query += [(name, str(v).lower() if isinstance(v, bool) else str(v)) for v in values]
    return query


def usage_frame(pages: Iterable[Mapping[str, Any]], group_by: Sequence[str] = ("model",),
                bucket_width: str | None = None) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """One row per (bucket, group): ``timestamp`` (UTC bucket start), ``model``, dimensions, counts.

    Also returns every bucket start the report covered, with results or not.
    """
    return flatten_buckets(pages, "start_time", usage_group_by(group_by), DIMENSION_COLUMNS, _usage_counts,
                           USAGE_COUNT_COLUMNS, _from_unix_seconds, end_key="end_time", bucket_width=bucket_width,
                           source=f"{API_NAME} completions usage")


def _from_unix_seconds(values: pd.Series) -> pd.Series:
    return pd.to_datetime(pd.to_numeric(values), unit="s", utc=True)


def _usage_counts(result: Mapping[str, Any]) -> dict[str, float | None]:
    total_input = result.get("input_tokens")
    cached = result.get("input_cached_tokens") or 0
    return {
        "requests": result.get("num_model_requests"),
        "input_tokens": None if total_input is None else total_input - cached,
        "cache_read_tokens": cached,
        "output_tokens": result.get("output_tokens"),
    }
