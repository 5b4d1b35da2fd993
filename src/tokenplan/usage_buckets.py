"""The canonical ``usage_buckets`` table: one row per (bucket start, series).

A series is a model, optionally split by dimensions such as workspace. Counts are
floats so that a missing bucket is an explicit row of NaN: a gap in the source never
becomes a silent zero, and downstream stages decide how to treat it.
"""

from __future__ import annotations

import logging
import re

import pandas as pd

from tokenplan.schemas import COUNT_COLUMNS, PEAK_COLUMNS

logger = logging.getLogger(__name__)

_DATE_SUFFIX = re.compile(r"-\d{8}$")
_PROVIDER_PREFIX = re.compile(r"^(anthropic|bedrock|vertex_ai|openai)/")
MISSING_LABEL = "(none)"

__all__ = ["complete_grid", "deduplicate", "minute_peaks", "normalise_model_id", "to_buckets"]


def normalise_model_id(model: str, aliases: dict[str, str] | None = None) -> str:
    """Give one id per model: ``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``.

    The alias map is applied to the raw id first and to the stripped id second, so a
    user can merge or rename series either way.
    """
    aliases = aliases or {}
    name = aliases.get(model, model)
    name = _PROVIDER_PREFIX.sub("", name.strip().lower())
    name = _DATE_SUFFIX.sub("", name)
    return aliases.get(name, name)


def deduplicate(df: pd.DataFrame, key: list[str], source: str) -> pd.DataFrame:
    """Drop repeated rows by ``key`` (re-downloaded pages, overlapping exports), logging the count."""
    duplicated = df.duplicated(subset=key, keep="last")
    if duplicated.any():
        logger.warning("%s: removed %d duplicate rows by key %s", source, int(duplicated.sum()), key)
    return df.loc[~duplicated].copy()


# Per-minute peak column -> the counts whose per-minute sum it is (ITPM: uncached input + cache writes).
PEAK_SOURCES = {"peak_rpm": ("requests",), "peak_itpm": ("input_tokens", "cache_write_tokens"),
                "peak_otpm": ("output_tokens",)}


def minute_peaks(df: pd.DataFrame, series_columns: list[str]) -> pd.DataFrame:
    """Per-minute rows (e.g. the Admin API's ``bucket_width: 1m``) with their own counts as peak columns.

    Rows of the same minute and series are summed first. Coarser rows, or rows that
    already carry peak columns, are returned unchanged.
    """
    if df.empty or all(c in df.columns for c in PEAK_SOURCES):
        return df
    keys = ["timestamp", *series_columns]
    steps = df[keys].drop_duplicates().sort_values(keys[::-1]).groupby(series_columns, dropna=False)["timestamp"].diff()
    if steps.dropna().empty or steps.dropna().min() > pd.Timedelta(minutes=1):
        return df
    counts = [c for c in COUNT_COLUMNS if c in df.columns]
    out = df.groupby(keys, sort=True, dropna=False)[counts].sum(min_count=1).reset_index()
    for peak, parts in PEAK_SOURCES.items():
        if peak not in df.columns and all(p in out.columns for p in parts):
            out[peak] = out[list(parts)].sum(axis=1, min_count=len(parts))
    return out


def to_buckets(df: pd.DataFrame, freq: str, series_columns: list[str]) -> pd.DataFrame:
    """Sum counts and take the max of per-minute peaks per (bucket start, series).

    Per-minute source rows give the peaks themselves (:func:`minute_peaks`).
    """
    out = minute_peaks(df, series_columns)
    out["timestamp"] = out["timestamp"].dt.floor(freq)
    # A null dimension is a real split (the Admin API's default workspace has workspace_id
    # null), so it gets a label rather than being dropped by groupby.
    out[series_columns] = out[series_columns].astype(object).where(out[series_columns].notna(), MISSING_LABEL)
    counts = [c for c in COUNT_COLUMNS if c in out.columns]
    peaks = [c for c in PEAK_COLUMNS if c in out.columns]
    groups = out.groupby(["timestamp", *series_columns], sort=True)
    grouped = pd.concat([groups[counts].sum(min_count=1), groups[peaks].max()], axis=1).reset_index()
    grouped["series"] = grouped[series_columns].astype(str).agg("/".join, axis=1)
    return grouped


def complete_grid(df: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Reindex every series on its full bucket grid; missing buckets become NaN rows."""
    frames = []
    for series, group in df.groupby("series", sort=True):
        grid = pd.date_range(group["timestamp"].min(), group["timestamp"].max(), freq=freq, name="timestamp")
        full = group.set_index("timestamp").reindex(grid)
        constant = [c for c in group.columns if c not in (*COUNT_COLUMNS, *PEAK_COLUMNS, "timestamp")]
        full[constant] = group[constant].iloc[0].to_numpy()
        frames.append(full.reset_index())
    out = pd.concat(frames, ignore_index=True)
    for column in (*COUNT_COLUMNS, *PEAK_COLUMNS):
        if column not in out.columns:
            out[column] = float("nan")
        out[column] = out[column].astype(float)
    missing = int(out[list(COUNT_COLUMNS)].isna().all(axis=1).sum())
    if missing:
        logger.info("usage_buckets: %d missing buckets kept as NaN rows", missing)
    ordered = ["timestamp", "series", *[c for c in out.columns if c not in ("timestamp", "series")]]
    return out[ordered]
