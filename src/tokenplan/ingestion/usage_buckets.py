"""The canonical ``usage_buckets`` table: one row per (bucket start, series).

A series is a model, optionally split by dimensions such as workspace. Counts are
floats so that a missing bucket is an explicit row of NaN: a gap in the source never
becomes a silent zero, and downstream stages decide how to treat it.
"""

from __future__ import annotations

import logging
import re

import pandas as pd

from tokenplan.date_ranges import date_ranges
from tokenplan.schemas import COUNT_COLUMNS, PART_COLUMNS, PEAK_COLUMNS, SUMMED_COLUMNS, InvalidInputError, where
from tokenplan.sources.quiet_buckets import quiet_rows

logger = logging.getLogger(__name__)

# claude-sonnet-4-5-20250929 (Anthropic), claude-sonnet-4-5@20250929 (Vertex AI).
_DATE_SUFFIX = re.compile(r"[-@]\d{8}$")
_PROVIDER_PREFIX = re.compile(r"^(anthropic|bedrock|vertex_ai|openai)/")
# Bedrock: [us.|eu.|apac.|jp.|global.]anthropic.claude-sonnet-4-5-20250929-v1:0
_BEDROCK = re.compile(r"^(?:(?:us|eu|apac|jp|global)\.)?anthropic\.(claude-.+?)(?:-v\d+(?::\d+)?)?$")
# A router's path before a Claude id: openrouter/anthropic/claude-sonnet-4.5, litellm_proxy/bedrock/...
_ROUTE = re.compile(r"^.*/(?=(?:(?:us|eu|apac|jp|global)\.)?(?:anthropic\.)?claude\b)")
# A Claude id written as a name: "Claude Sonnet 4.5", claude_sonnet_4_5, claude-sonnet-4.5.
_CLAUDE_NAME_SEPARATOR = re.compile(r"[\s_]+|(?<=\d)\.(?=\d)")
MISSING_LABEL = "(none)"

__all__ = ["complete_grid", "deduplicate", "detect_bucket", "finer_rows", "minute_peaks", "normalise_model_id",
           "refuse_coarser_files", "resolve_repeated_rows", "to_buckets", "with_absent_rows_zero"]


def normalise_model_id(model: str, aliases: dict[str, str] | None = None) -> str:
    """Give one id per model: ``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``.

    Vertex AI (``claude-sonnet-4-5@20250929``) and Bedrock
    (``us.anthropic.claude-sonnet-4-5-20250929-v1:0``) ids, a router's
    (``openrouter/anthropic/claude-sonnet-4.5``) and a Claude model's name as people
    write it (``Claude Sonnet 4.5``) become the same id, the one prices and rate limits
    use. The alias map is applied to the raw id first and to the stripped id second, so
    a user can merge or rename series either way.
    """
    aliases = aliases or {}
    name = aliases.get(model, model)
    name = _PROVIDER_PREFIX.sub("", name.strip().lower())
    name = _ROUTE.sub("", name)
    name = _BEDROCK.sub(r"\1", name)
    if name.startswith("claude"):  # other vendors' ids keep their dots (gpt-4.1)
        name = _CLAUDE_NAME_SEPARATOR.sub("-", name)
    name = _DATE_SUFFIX.sub("", name)
    return aliases.get(name, name)


def deduplicate(df: pd.DataFrame, key: list[str], source: str) -> pd.DataFrame:
    """Drop repeated rows by ``key`` (re-downloaded pages, overlapping exports), logging the count."""
    duplicated = df.duplicated(subset=key, keep="last")
    if duplicated.any():
        logger.warning("%s: removed %d duplicate rows by key %s", source, int(duplicated.sum()), key)
    return df.loc[~duplicated].copy()


def resolve_repeated_rows(df: pd.DataFrame, key: list[str], source: str, first_line: int | None = None,
                          labels: list[str] | None = None,
                          same_id: dict[str, dict[str, str]] | None = None) -> tuple[pd.DataFrame, int, int]:
    """(rows without repeats, how many rows a later file revised, how many exact repeats were dropped).

    A row repeated with the same values (a re-downloaded page, overlapping exports) is
    dropped, and the count logged and returned (the report lists it: a planner whose
    folder holds one month twice sees it was read once). Rows of one file with the same
    ``key`` and different values stop the run naming both. Across the files of a folder
    source (a ``file`` index level) the later file (in name order) revises the earlier:
    its rows replace the earlier file's rows of the same key, and the count of revised
    rows is returned and logged.

    A ``labels`` column of the key (one that is neither the time nor a series column) that
    a file does not have, or leaves blank throughout (a ``service_tier`` added to later
    exports), is one that file does not say, not a different value: across files, rows
    are matched on the key columns every file gives, and a row is an exact repeat when it
    agrees with the replacing file's row on every column both files give. Otherwise each
    hour of an overlap would be counted twice, once per file.

    ``same_id`` maps a key column's spellings to the id they stand for (the model id:
    ``Claude Sonnet 4.5`` and ``claude-sonnet-4-5-20250929``). Files are matched on the
    id, so one export's spelling does not make its overlap new usage; inside one file two
    spellings stay two rows (two routes' traffic in one hour, summed later).
    """
    files = _file_names(df)
    df, repeated = _within_files(df, key, files, source, first_line)
    if files is None:
        return df, 0, repeated
    files = _file_names(df)
    matched = df.assign(**{column: df[column].map(ids) for column, ids in (same_id or {}).items()})
    given = df.notna().groupby(files.to_numpy(), sort=False).any()  # file x column: does the file give it?
    shared_key = [c for c in key if c not in (labels or ()) or given[c].all() or not given[c].any()]
    order = pd.Series(pd.factorize(files)[0], index=df.index)  # files come in name order
    latest = order.groupby([matched[c] for c in shared_key], dropna=False, sort=False).transform("max")
    superseded = (order < latest).to_numpy()
    if not superseded.any():
        return df, 0, repeated
    same = _agrees_with_kept(matched.loc[superseded], matched.loc[~superseded], files, latest[superseded], given)
    across = int(same.sum())
    revised = int((~same).sum())
    if across:
        logger.warning("%s: removed %d duplicate rows repeated across files by key %s", source, across, shared_key)
    if revised:
        logger.warning("%s: %d rows revised by a later file (the later file's values are used)", source, revised)
    return df.loc[~superseded].copy(), revised, repeated + across


def _file_names(df: pd.DataFrame) -> pd.Index | None:
    return df.index.get_level_values("file") if "file" in (df.index.names or []) else None


def _within_files(df: pd.DataFrame, key: list[str], files: pd.Index | None, source: str,
                  first_line: int | None) -> tuple[pd.DataFrame, int]:
    """``df`` without rows repeated inside one file, and their count; InvalidInputError for a key given twice
    with different values in one file."""
    framed = df if files is None else df.assign(_file=files)
    scope = key if files is None else [*key, "_file"]
    if not framed.duplicated(subset=scope, keep=False).any():
        return df, 0
    exact = framed.duplicated(keep="last")
    if exact.any():
        logger.warning("%s: removed %d duplicate rows by key %s", source, int(exact.sum()), key)
    clash = framed.loc[~exact]
    clash = clash[clash.duplicated(subset=scope, keep=False)]
    if not clash.empty:
        rows = next(iter(clash.groupby(scope, sort=False, dropna=False).groups.values()))[:2]
        shown = ", ".join(f"{k} {clash.loc[rows[0], k]}" for k in key if k in ("timestamp", "model"))
        values = [c for c in df.columns if c not in key]
        raise InvalidInputError(
            f"{source}: {where(list(rows), first_line)} have the same {shown} but different values "
            f"({clash.loc[rows, values].to_dict('records')}): remove one, or add the column that tells them "
            f"apart to ingestion.series_dimensions")
    return df.loc[~exact].copy(), int(exact.sum())  # a frame of its own: callers assign columns to it


def _agrees_with_kept(dropped: pd.DataFrame, kept: pd.DataFrame, files: pd.Index, latest: pd.Series,
                      given: pd.DataFrame) -> pd.Series:
    """Per dropped row: whether the file that replaced it has a row with its values, on the columns both give."""
    names = pd.unique(files)
    dropped_files = dropped.index.get_level_values("file")
    kept_files = kept.index.get_level_values("file")
    same = pd.Series(False, index=dropped.index)
    for (earlier, later), rows in dropped.groupby([dropped_files, names[latest.to_numpy()]], sort=False):
        both = [c for c in dropped.columns if given.at[earlier, c] and given.at[later, c]]
        replacing = pd.util.hash_pandas_object(kept.loc[kept_files == later, both], index=False)
        same.loc[rows.index] = pd.util.hash_pandas_object(rows[both], index=False).isin(replacing).to_numpy()
    return same


def detect_bucket(usage: pd.DataFrame, series_columns: list[str], requested: str, source: str) -> str:
    """The bucket width of ``usage_buckets``: the input's own (``D`` or ``h``), or ``requested``.

    The input's width is the most common positive spacing between a series' distinct
    timestamps: a day or more gives ``D``, less gives ``h`` (finer rows are summed to
    hours). ``requested`` is ``auto`` (use the input's), or a width that must not be
    finer than the input's: a daily input is never spread onto an hourly grid.
    """
    spacing = _typical_spacing(usage, series_columns)
    detected = "D" if spacing is not None and spacing >= pd.Timedelta(days=1) else "h"
    if requested == "auto":
        logger.info("%s: bucket width detected from the data: %s (rows typically %s apart per series)",
                    source, {"D": "daily", "h": "hourly"}[detected],
                    "?" if spacing is None else _spacing_text(spacing))
        return detected
    if detected == "D" and pd.Timedelta(pd.tseries.frequencies.to_offset(requested)) < pd.Timedelta(days=1):
        raise InvalidInputError(
            f"{source}: ingestion.bucket is {requested!r} but the data is daily (its rows are typically "
            f"{_spacing_text(spacing)} apart per series): a daily input cannot be spread onto a finer grid; "
            f"set ingestion.bucket: auto (or D)")
    return requested


def finer_rows(usage: pd.DataFrame, series_columns: list[str], bucket: str) -> str | None:
    """How far apart the input's rows typically are (``30 minutes``) where that is finer than ``bucket``: its rows
    are summed to the bucket, and the report says so. None where they are a bucket apart or more."""
    spacing = _typical_spacing(usage, series_columns)
    if spacing is None or spacing >= pd.Timedelta(pd.tseries.frequencies.to_offset(bucket)):
        return None
    minutes = spacing / pd.Timedelta(minutes=1)
    return f"{minutes:g} minutes" if minutes < 60 else _spacing_text(spacing)


def refuse_coarser_files(usage: pd.DataFrame, series_columns: list[str], requested: str, source: str) -> None:
    """InvalidInputError naming a file of a folder whose rows are daily when the folder is read in hours.

    One month exported daily among hourly files would put each day's total in its first
    hour and leave 23 missing hours after it: the whole month would be read as gaps.
    Finer files on a coarser grid are fine (hours are summed to days).
    """
    files = _file_names(usage)
    if files is None or files.nunique() < 2:
        return
    grid = requested if requested != "auto" else ("D" if (_typical_spacing(usage, series_columns) or pd.Timedelta(0))
                                                  >= pd.Timedelta(days=1) else "h")
    if pd.Timedelta(pd.tseries.frequencies.to_offset(grid)) >= pd.Timedelta(days=1):
        return
    spacings = {name: _typical_spacing(rows, series_columns) for name, rows in usage.groupby(files, sort=False)}
    coarser = {name: spacing for name, spacing in spacings.items()
               if spacing is not None and spacing >= pd.Timedelta(days=1)}
    if coarser:
        name, spacing = next(iter(coarser.items()))
        others = f" (also: {list(coarser)[1:]})" if len(coarser) > 1 else ""
        raise InvalidInputError(
            f"{source}: {name} has daily rows (typically {_spacing_text(spacing)} apart per series) but the folder "
            f"is read in hours: its days cannot be spread onto hours. Export that file hourly like the others, or "
            f"read the whole folder in days with ingestion.bucket: D{others}")


def _spacing_text(spacing: pd.Timedelta) -> str:
    hours = spacing / pd.Timedelta(hours=1)
    value, unit = (hours / 24, "day") if hours >= 24 else (hours, "hour")
    return f"{value:g} {unit}" + ("" if value == 1 else "s")


def _typical_spacing(usage: pd.DataFrame, series_columns: list[str]) -> pd.Timedelta | None:
    keys = usage[series_columns].astype(object).where(usage[series_columns].notna(), MISSING_LABEL)
    stamps = usage[["timestamp"]].assign(**{f"_k{i}": keys[c] for i, c in enumerate(series_columns)})
    stamps = stamps.drop_duplicates().sort_values([*stamps.columns[1:], "timestamp"])
    steps = stamps.groupby(list(stamps.columns[1:]), sort=False)["timestamp"].diff()
    steps = steps[steps > pd.Timedelta(0)]
    return None if steps.empty else steps.mode().iloc[0]


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
    counts = [c for c in SUMMED_COLUMNS if c in df.columns]
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
    counts = [c for c in SUMMED_COLUMNS if c in out.columns]
    peaks = [c for c in PEAK_COLUMNS if c in out.columns]
    groups = out.groupby(["timestamp", *series_columns], sort=True)
    grouped = pd.concat([groups[counts].sum(min_count=1), groups[peaks].max()], axis=1).reset_index()
    grouped["series"] = grouped[series_columns].astype(str).agg("/".join, axis=1)
    return grouped


def with_absent_rows_zero(buckets: pd.DataFrame, series_columns: list[str]) -> tuple[pd.DataFrame, int]:
    """``to_buckets``' result plus a zero row for every bucket the file has (for any series) from a series' first
    row on where that series has none, and how many were added.

    A usage export has rows only where there was usage: a weekday service has no weekend rows while the other
    teams' rows show the file covers the weekend, and reading those days as unknown planned its weekends at its
    weekday level (a review's billing team, its January 46% high). A bucket no series has stays missing (an
    export gap); before a series' first row none are added, after its last row up to the file's last bucket they
    are (a series that stopped: ``sources.quiet_buckets``). A gap of one series that is an outage rather than
    idleness reads as zeros, which the outage check then finds.
    """
    counts = [c for c in (*SUMMED_COLUMNS, *PEAK_COLUMNS) if c in buckets.columns]
    zeros = quiet_rows(buckets, pd.DatetimeIndex(buckets["timestamp"]), [*series_columns, "series"], counts)
    if zeros.empty:
        return buckets, 0
    out = pd.concat([buckets, zeros], ignore_index=True).sort_values(["timestamp", *series_columns], kind="stable")
    return out.reset_index(drop=True), len(zeros)


def complete_grid(df: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Reindex every series on its full bucket grid; missing buckets become NaN rows."""
    frames = []
    for series, group in df.groupby("series", sort=True):
        grid = pd.date_range(group["timestamp"].min(), group["timestamp"].max(), freq=freq, name="timestamp")
        full = group.set_index("timestamp").reindex(grid)
        constant = [c for c in group.columns if c not in (*SUMMED_COLUMNS, *PEAK_COLUMNS, "timestamp")]
        full[constant] = group[constant].iloc[0].to_numpy()
        frames.append(full.reset_index())
    out = pd.concat(frames, ignore_index=True)
    for column in (*COUNT_COLUMNS, *PEAK_COLUMNS):
        if column not in out.columns:
            out[column] = float("nan")
        out[column] = out[column].astype(float)
    for part in (p for p in PART_COLUMNS if p in out.columns):  # a part the source lacks stays absent: unknown
        out[part] = out[part].astype(float)
    missing = out[list(COUNT_COLUMNS)].isna().all(axis=1)
    if missing.any():
        logger.info("usage_buckets: %d missing buckets kept as NaN rows, on %s", int(missing.sum()),
                    date_ranges(out.loc[missing, "timestamp"]))
    ordered = ["timestamp", "series", *[c for c in out.columns if c not in ("timestamp", "series")]]
    return out[ordered]
