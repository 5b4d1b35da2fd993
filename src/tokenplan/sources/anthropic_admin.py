"""Anthropic Admin API usage and cost reports, flattened to tables.

``GET /v1/organizations/usage_report/messages`` lists time buckets, each with one
result per group (``group_by[]``: model, workspace_id, service_tier, ...). A result
maps to canonical usage as:

=================================================  =======================
API field                                          canonical column
=================================================  =======================
``uncached_input_tokens``                          ``input_tokens``
``cache_creation.ephemeral_5m_input_tokens`` +
``cache_creation.ephemeral_1h_input_tokens``       ``cache_write_tokens``
``cache_creation.ephemeral_1h_input_tokens``       ``cache_write_1h_tokens``
``cache_read_input_tokens``                        ``cache_read_tokens``
``output_tokens``                                  ``output_tokens``
=================================================  =======================

``cache_write_1h_tokens`` is the part of the writes billed at the 1-hour rate; a flat
``cache_creation_input_tokens`` total does not say, so it is left blank (unknown).

The report has **no request count**: the ``requests`` column is absent (per-minute
request rates come from request-level logs). Grouped dimensions become columns:
``workspace_id`` -> ``workspace`` (null = the default workspace), ``api_key_id`` ->
``api_key``; others keep their names.

``GET /v1/organizations/cost_report`` (daily buckets) gives ``amount`` as a decimal
string in **cents**; :func:`cost_frame` turns it into ``amount_usd``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from tokenplan.sources.bucket_report import as_list, flatten_buckets, usage_group_by
from tokenplan.sources.time_window import rfc3339

API_NAME = "Anthropic Admin API"
DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
KEY_ENV_VAR = "ANTHROPIC_ADMIN_KEY"
USAGE_REPORT_PATH = "/v1/organizations/usage_report/messages"
COST_REPORT_PATH = "/v1/organizations/cost_report"
RATE_LIMITS_PATH = "/v1/organizations/rate_limits"
# Most buckets one page may hold, per bucket width (the API's maxima).
MAX_BUCKETS_PER_PAGE = {"1d": 31, "1h": 168, "1m": 1440}
COST_BUCKET_WIDTH = "1d"
DIMENSION_COLUMNS = {"workspace_id": "workspace", "api_key_id": "api_key"}
USAGE_COUNT_COLUMNS = ["input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "cache_read_tokens",
                       "output_tokens"]
ONE_HOUR_WRITES = "ephemeral_1h_input_tokens"
COST_COLUMNS = ["date", "model", "cost_type", "token_type", "service_tier", "context_window",
                "description", "amount_usd", "currency"]

__all__ = [
    "API_NAME",
    "COST_REPORT_PATH",
    "RATE_LIMITS_PATH",
    "DEFAULT_BASE_URL",
    "KEY_ENV_VAR",
    "USAGE_COUNT_COLUMNS",
    "USAGE_REPORT_PATH",
    "auth_headers",
    "cost_frame",
    "cost_report_query",
    "rate_limits_query",
    "usage_frame",
    "usage_report_query",
]


def auth_headers(api_key: str) -> dict[str, str]:
    """Request headers for the Admin API."""
    return {"x-api-key": api_key, "anthropic-version": API_VERSION}


def usage_report_query(
    start: pd.Timestamp,
    end: pd.Timestamp,
    bucket_width: str = "1h",
    group_by: Sequence[str] = ("model",),
    filters: Mapping[str, Sequence[str]] | None = None,
    limit: int | None = None,
) -> list[tuple[str, str]]:
    """Query parameters of ``usage_report/messages``; array parameters get the ``[]`` suffix.

    ``model`` is always among ``group_by``. ``filters`` are the API's array filters
    without the suffix, e.g. ``{"models": [...], "workspace_ids": [...], "service_tiers": [...]}``.
    """
    if bucket_width not in MAX_BUCKETS_PER_PAGE:
        raise ValueError(f"bucket_width must be one of {list(MAX_BUCKETS_PER_PAGE)}, got {bucket_width!r}")
    query = [("starting_at", rfc3339(start)), ("ending_at", rfc3339(end)), ("bucket_width", bucket_width),
             ("limit", str(limit or MAX_BUCKETS_PER_PAGE[bucket_width]))]
    query += [("group_by[]", g) for g in usage_group_by(group_by)]
    for name, values in (filters or {}).items():
        query += [(f"{name.removesuffix('[]')}[]", str(v)) for v in as_list(values)]
    return query


def usage_frame(pages: Iterable[Mapping[str, Any]], group_by: Sequence[str] = ("model",),
                bucket_width: str | None = None) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """One row per (bucket, group): ``timestamp`` (UTC bucket start), ``model``, dimensions, tokens.

    Also returns every bucket start the report covered, with results or not. With
    ``bucket_width`` (the width asked for), a wider bucket in the answer stops the load.
    """
    return flatten_buckets(pages, "starting_at", usage_group_by(group_by), DIMENSION_COLUMNS, _usage_counts,
                           USAGE_COUNT_COLUMNS, lambda values: pd.to_datetime(values, utc=True),
                           end_key="ending_at", bucket_width=bucket_width, source=f"{API_NAME} {USAGE_REPORT_PATH}")


def _usage_counts(result: Mapping[str, Any]) -> dict[str, Any]:
    cache_write, one_hour = _cache_writes(result)
    return {
        "input_tokens": result.get("uncached_input_tokens"),
        "cache_write_tokens": cache_write,
        "cache_write_1h_tokens": one_hour,
        "cache_read_tokens": result.get("cache_read_input_tokens"),
        "output_tokens": result.get("output_tokens"),
    }


def _cache_writes(result: Mapping[str, Any]) -> tuple[Any, Any]:
    """(all cache writes, those kept for 1 hour): None where the result does not say."""
    cache_creation = result.get("cache_creation")
    if not isinstance(cache_creation, Mapping):  # a flat total, as the Messages API's own usage block has it
        return result.get("cache_creation_input_tokens"), None
    parts = [v for v in cache_creation.values() if v is not None]
    if not parts:
        return None, None
    # A null part next to a filled one is zero (as in the Console export); no 1-hour field at all is unknown.
    return sum(parts), (cache_creation.get(ONE_HOUR_WRITES) or 0) if ONE_HOUR_WRITES in cache_creation else None


# ---------------------------------------------------------------------- cost report


def cost_report_query(
    start: pd.Timestamp,
    end: pd.Timestamp,
    group_by: Sequence[str] = ("description",),
    limit: int | None = None,
) -> list[tuple[str, str]]:
    """Query parameters of ``cost_report``: daily buckets; ``description`` splits by model and token type."""
    query = [("starting_at", rfc3339(start)), ("ending_at", rfc3339(end)), ("bucket_width", COST_BUCKET_WIDTH),
             ("limit", str(limit or MAX_BUCKETS_PER_PAGE[COST_BUCKET_WIDTH]))]
    return query + [("group_by[]", g) for g in as_list(group_by)]


def cost_frame(pages: Iterable[Mapping[str, Any]], group_by: Sequence[str] = ("description",),
               source: str = API_NAME) -> pd.DataFrame:
    """One row per (day, cost line): ``date`` (UTC midnight), labels, ``amount_usd``, ``currency``.

    ``amount`` arrives in cents as a decimal string; it is converted exactly (Decimal)
    and then to float dollars. A currency other than USD is refused rather than mislabelled.
    Model, cost and token types are filled only when grouped by ``description``; a
    ``workspace`` column is added when grouped by ``workspace_id``.
    """
    by_workspace = "workspace_id" in as_list(group_by)
    rows = []
    for page in pages:
        for bucket in page.get("data") or []:
            for result in bucket.get("results") or []:
                currency = result.get("currency") or "USD"
                if currency != "USD":
                    raise ValueError(f"{source}: cost_report returned currency {currency!r}; "
                                     f"amount_usd needs USD amounts")
                row = {"date": bucket["starting_at"], "amount_usd": _cents_to_dollars(result.get("amount"), source),
                       "currency": currency}
                row.update({c: result.get(c) for c in ("model", "cost_type", "token_type", "service_tier",
                                                       "context_window", "description")})
                if by_workspace:
                    row["workspace"] = result.get("workspace_id")
                rows.append(row)
    columns = COST_COLUMNS + (["workspace"] if by_workspace else [])
    frame = pd.DataFrame(rows, columns=columns)
    frame["date"] = pd.to_datetime(frame["date"], utc=True).dt.floor("D")
    frame["amount_usd"] = frame["amount_usd"].astype(float)
    return frame


def _cents_to_dollars(amount: Any, source: str) -> float:
    try:
        return float(Decimal(str(amount)) / 100)
    except (InvalidOperation, ValueError):
        raise ValueError(f"{source}: cost_report amount is not a decimal number of cents: {amount!r}") from None



# ---------------------------------------------------------------------- rate limits


def rate_limits_query(limit: int | None = None) -> list[tuple[str, str]]:
    """Query parameters of ``rate_limits``: the per-model-group limits (RPM, ITPM, OTPM, ...)."""
    return [("group_type", "model_group"), *([("limit", str(limit))] if limit else [])]
