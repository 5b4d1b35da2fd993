"""The rate limits in force per model group: requests and tokens per minute.

Anthropic pools limits by model group (all Sonnet 4.x share one), three per group:
RPM, ITPM and OTPM. ITPM counts uncached input plus cache writes, not cache reads,
except on a few older models, which a group marks with ``itpm_counts_cache_reads``.
OpenAI sets two per model: RPM and TPM, which counts every token of a request, input
(cached input included) and output together.

Two sources give the same table (:data:`LIMIT_COLUMNS`):

- a limits file (CSV) with columns ``model_group, models, rpm, itpm, otpm`` and,
  optionally, ``tpm``, ``itpm_counts_cache_reads`` (true/false) and ``as_of`` (the date
  the limits were read). ``models`` lists the group's series ids separated by spaces; an
  empty limit means the group has none of that kind;
- the Admin API, ``GET /v1/organizations/rate_limits`` (:func:`limits_from_admin_pages`;
  Anthropic's, so never a TPM).

:func:`planned_metrics` says which of them a group is planned against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.schemas import InvalidInputError

METRICS: tuple[str, ...] = ("rpm", "itpm", "otpm", "tpm")
# Planned for a group without a TPM limit (Anthropic's limits, or none given).
SPLIT_METRICS: tuple[str, ...] = ("rpm", "itpm", "otpm")
METRIC_NAMES = {"rpm": "requests per minute", "itpm": "input tokens per minute",
                "otpm": "output tokens per minute", "tpm": "total tokens per minute"}
LIMIT_COLUMNS: tuple[str, ...] = ("model_group", "models", *METRICS, "itpm_counts_cache_reads", "as_of", "source")
REQUIRED_FILE_COLUMNS: tuple[str, ...] = ("model_group", "models", *SPLIT_METRICS)
# Admin API limit type -> (metric, whether cache reads count toward it).
ADMIN_LIMIT_TYPES = {
    "requests_per_minute": ("rpm", False),
    "input_tokens_per_minute_cache_aware": ("itpm", False),
    "input_tokens_per_minute": ("itpm", True),
    "output_tokens_per_minute": ("otpm", False),
}
# A snapshot's date: claude-sonnet-4-5-20250929, claude-sonnet-4-5@20250929 (Vertex AI), gpt-4o-mini-2024-07-18.
_SNAPSHOT_DATE = re.compile(r"(?:[-@]\d{8}|-\d{4}-\d{2}-\d{2})$")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}

__all__ = [
    "ADMIN_LIMIT_TYPES",
    "LIMIT_COLUMNS",
    "METRICS",
    "METRIC_NAMES",
    "SPLIT_METRICS",
    "group_of_series",
    "groups_without_series",
    "limits_from_admin_pages",
    "limits_from_file",
    "planned_metrics",
    "undated_model_id",
    "unused_limits",
]


def _bad(source: str, column: str, row: int, value: Any, reason: str) -> InvalidInputError:
    return InvalidInputError(f"{source}: column '{column}' has an invalid value at row {row}: {value!r} ({reason})")


def _limit_value(value: Any, source: str, column: str, row: int) -> float:
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return np.nan
    try:
        number = float(str(value).replace(",", "").replace("_", ""))
    except ValueError:
        raise _bad(source, column, row, value, "a limit must be a number, or empty for none") from None
    if not np.isfinite(number) or number <= 0:
        raise _bad(source, column, row, value, "a limit must be a positive number, or empty for none")
    return number


def _flag(value: Any, source: str, column: str, row: int) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _bad(source, column, row, value, "expected true or false")


def limits_from_file(raw: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """The validated limits table from a limits file's rows (one row per model group).

    Raises InvalidInputError naming the file, column, row (1-based data row) and value.
    """
    source = source or raw.attrs.get("source", "rate_limits")
    missing = [c for c in REQUIRED_FILE_COLUMNS if c not in raw.columns]
    if missing:
        raise InvalidInputError(f"{source}: required column '{missing[0]}' is missing "
                                f"(columns found: {list(raw.columns)})")
    rows, seen_models = [], {}
    for i, record in enumerate(raw.to_dict("records"), start=1):
        group = str(record["model_group"] if pd.notna(record["model_group"]) else "").strip()
        if not group:
            raise _bad(source, "model_group", i, record["model_group"], "every row needs a group name")
        models = str(record["models"] if pd.notna(record["models"]) else "").split()
        if not models:
            raise _bad(source, "models", i, record["models"], "list the group's series ids, separated by spaces")
        for model in models:
            if model in seen_models:
                raise _bad(source, "models", i, model, f"already in group {seen_models[model]!r}")
            seen_models[model] = group
        as_of = record.get("as_of")
        rows.append({
            "model_group": group, "models": " ".join(models),
            **{m: _limit_value(record.get(m), source, m, i) for m in METRICS},
            "itpm_counts_cache_reads": _flag(record.get("itpm_counts_cache_reads"), source,
                                             "itpm_counts_cache_reads", i),
            "as_of": str(as_of).strip() if as_of is not None and pd.notna(as_of) else "",
            "source": source,
        })
    if not rows:
        raise InvalidInputError(f"{source}: the limits file has no rows")
    table = pd.DataFrame(rows, columns=list(LIMIT_COLUMNS))
    duplicated = table["model_group"].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0]) + 1
        raise _bad(source, "model_group", row, table["model_group"].iloc[row - 1], "a group appears twice")
    return table


def limits_from_admin_pages(pages: Iterable[Mapping[str, Any]], source: str, as_of: str) -> pd.DataFrame:
    """The limits table from ``rate_limits`` pages (``group_type=model_group``).

    ``input_tokens_per_minute_cache_aware`` (cache reads do not count) is preferred
    over ``input_tokens_per_minute`` (they do) when a group has both. Limit types with
    no per-minute meaning here (``tokens_per_day``, ...) are ignored.
    """
    rows = []
    for page in pages:
        for entry in page.get("data") or []:
            group = entry.get("group") or {}
            name = group.get("display_name") or group.get("id") or entry.get("id")
            limits: dict[str, tuple[float, bool]] = {}
            for limit in entry.get("limits") or []:
                kind = ADMIN_LIMIT_TYPES.get(limit.get("type"))
                if kind is None or limit.get("value") is None:
                    continue
                metric, counts_reads = kind
                if metric == "itpm" and "itpm" in limits and counts_reads:
                    continue  # the cache-aware limit is already there
                limits[metric] = (float(limit["value"]), counts_reads)
            rows.append({
                "model_group": str(name), "models": " ".join(str(m) for m in entry.get("models") or []),
                **{m: limits.get(m, (np.nan, False))[0] for m in METRICS},
                "itpm_counts_cache_reads": limits.get("itpm", (np.nan, False))[1],
                "as_of": as_of, "source": source,
            })
    return pd.DataFrame(rows, columns=list(LIMIT_COLUMNS))


def planned_metrics(limits: pd.DataFrame, unit: str) -> tuple[str, ...]:
    """The metrics ``unit`` is planned against (``limits`` indexed by model group).

    RPM, ITPM and OTPM, unless its group sets a TPM limit: then RPM, TPM and whichever of
    ITPM and OTPM it sets as well. A TPM limit counts input and output together, so an
    ITPM or OTPM peak beside it, with no limit of its own, would only invite a reader to
    hold it against the TPM limit.
    """
    if unit not in limits.index or "tpm" not in limits.columns or not np.isfinite(float(limits.loc[unit, "tpm"])):
        return SPLIT_METRICS
    split = [m for m in ("itpm", "otpm") if m in limits.columns and np.isfinite(float(limits.loc[unit, m]))]
    return ("rpm", *split, "tpm")


def undated_model_id(model: str) -> str:
    """A model id without its snapshot date: ``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``,
    ``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``; an id without one is returned as is."""
    return _SNAPSHOT_DATE.sub("", str(model))


def group_of_series(series: Iterable[str], limits: pd.DataFrame,
                    model_aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """Series id -> model group, for the series whose model the limits list.

    A series ``model/workspace`` belongs to its model's group. A snapshot and its undated
    alias match either way round: a dated id in the limits (``claude-sonnet-4-5-20250929``)
    matches the undated series id, as ingestion merges them, and a dated series id
    (``gpt-4o-mini-2024-07-18``: OpenAI's usage keeps the snapshot's date) matches a row
    naming its undated alias, whose limit OpenAI applies to its snapshots too. An exact id
    wins over an alias; two rows naming snapshots of one alias leave the alias to neither.
    ``model_aliases`` (ingestion's) map other raw ids to series ids.
    """
    from tokenplan.ingestion.usage_buckets import normalise_model_id

    aliases = dict(model_aliases or {})
    exact: dict[str, str] = {}
    undated: dict[str, set[str]] = {}
    for group, models in zip(limits["model_group"], limits["models"], strict=True):
        for model in str(models).split():
            exact[normalise_model_id(model, aliases)] = group
            exact.setdefault(model, group)
            undated.setdefault(undated_model_id(normalise_model_id(model, aliases)), set()).add(group)
    by_alias = {alias: next(iter(groups)) for alias, groups in undated.items() if len(groups) == 1}
    out = {}
    for name in series:
        model = str(name).split("/")[0]
        group = exact.get(model) or exact.get(undated_model_id(model))
        group = group or (by_alias.get(model) if undated_model_id(model) == model else None)
        if group is not None:
            out[name] = group
    return out


def groups_without_series(limits: pd.DataFrame, series: Iterable[str],
                          model_aliases: Mapping[str, str] | None = None) -> list[str]:
    """The model groups of ``limits`` (a row each) that no series of the usage belongs to: a row whose
    ``models`` are misspelt, or name models the usage does not have."""
    matched = set(group_of_series(series, limits, model_aliases).values())
    return [g for g in limits["model_group"] if g not in matched]


def unused_limits(limits: pd.DataFrame, series: Iterable[str],
                  model_aliases: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Each limit of a row that no series of the usage belongs to: ``model_group, metric, planned`` (False)
    and ``reason``, naming the row's models and the usage's. Such a limit binds nothing, so the plan must say
    so rather than list it as planned against."""
    series = list(series)
    indexed = limits.set_index("model_group")
    models = ", ".join(sorted({str(s).split("/")[0] for s in series})) or "none"
    rows = []
    for group in groups_without_series(limits, series, model_aliases):
        reason = (f"its limits row lists {indexed.loc[group, 'models']}, which no model of the usage matches "
                  f"(the usage's models: {models}); list a model as the usage names it, or its undated alias")
        rows += [{"model_group": group, "metric": m, "planned": False, "reason": reason}
                 for m in planned_metrics(indexed, group) if np.isfinite(float(indexed.loc[group, m]))]
    return pd.DataFrame(rows, columns=["model_group", "metric", "planned", "reason"]).astype({"planned": bool})
