"""The report's "Data read" section: what ingestion decided about the input.

Ingestion keeps its decisions in ``usage_buckets.attrs`` (Parquet stores them): the
source, the bucket width, how many rows a later file of a folder revised or repeated (for a
request log instead: duplicate requests removed, failed requests, naive times DST repeats
or skips), and any implausible values left out (``ingestion.implausible.action: exclude``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tokenplan.date_ranges import date_ranges
from tokenplan.reporting.markdown import BUCKET_NAMES

__all__ = ["data_notes", "missing_values", "observed_days"]


def observed_days(history: pd.DataFrame) -> int:
    """Days the observed buckets (``y`` finite) span, the last bucket's width included, to the nearest day
    (at least 1 when any bucket is observed).

    The one count of "days of history" the report uses (the summary's risks, the figures'
    titles): a partial first or last day is not observed (``y`` NaN) and not counted.
    Calendar dates touched over-count hourly data: 14 days of hours from 02:00 to 01:00
    touch 15 dates.
    """
    observed = pd.DatetimeIndex(history.loc[np.isfinite(history["y"].to_numpy(float)), "ds"]).unique().sort_values()
    if observed.empty:
        return 0
    width = pd.Series(observed).diff().median() if len(observed) > 1 else pd.Timedelta(days=1)
    width = min(width, pd.Timedelta(days=1))
    return max(1, round((observed.max() - observed.min() + width) / pd.Timedelta(days=1)))


def missing_values(history: pd.DataFrame) -> dict[str, int | str]:
    """What the history lacks, counted the ways a reader checks it: ``values`` (series, target and bucket cells
    with no value), ``series_buckets`` (a series' buckets with at least one), ``buckets`` (distinct buckets),
    ``series`` (how many series have one), ``targets`` (the history's targets), ``whole``: buckets in
    which every series with a row lacks every target (a day missing from the export), and ``dates``: the days
    those buckets fall on, as ranges (``2026-11-01 to 2026-11-07, 2026-11-20``), for a planner to check.

    One missing day of 3 series and 5 targets is 15 values; counted as "15 incomplete buckets"
    it read as 15 days.
    """
    gaps = history[history["y"].isna()]
    per_bucket = history.groupby("ds")["y"].apply(lambda y: y.notna().any())
    return {"values": len(gaps), "series_buckets": len(gaps[["series", "ds"]].drop_duplicates()),
            "buckets": int(gaps["ds"].nunique()), "series": int(gaps["series"].nunique()),
            "targets": int(history["target"].nunique()), "whole": int((~per_bucket).sum()),
            "dates": date_ranges(gaps["ds"])}


def data_notes(ingestion: dict[str, Any]) -> str:
    """Markdown bullets (and a table of excluded values) from ``usage_buckets.attrs``; '' if none."""
    if not ingestion.get("bucket"):
        return ""
    name = BUCKET_NAMES.get(ingestion["bucket"], ingestion["bucket"])
    summed = (f"; its rows are typically {ingestion['finer_rows']} apart and were summed to {name} buckets"
              if ingestion.get("finer_rows") else "")
    lines = [f"- Source: {ingestion.get('raw_source', 'raw_usage')}; buckets: {name} "
             f"(`{ingestion['bucket']}`){summed}."]
    if "request_log" in ingestion:
        lines += _request_log_lines(ingestion["request_log"])
    else:
        if ingestion.get("files_read"):
            lines.append(f"- Files read ({len(ingestion['files_read'])}): {_names(ingestion['files_read'])}; "
                         f"others in the folder, not read: {_names(ingestion.get('files_not_read') or ['none'])}.")
        revised = int(ingestion.get("revised_rows") or 0)
        if revised or len(ingestion.get("files_read") or []) > 1:  # one file has no later file to revise it
            lines.append(f"- Rows revised by a later file of the folder (the later file's values used): {revised}.")
        repeated = int(ingestion.get("repeated_rows") or 0)
        lines.append(f"- Rows repeated with the same values (overlapping exports, a file given twice), read once: "
                     f"{repeated}.")
    if "zero_filled_rows" in ingestion:
        lines.append(f"- Buckets the file lists (for another series) without a row for a series, inside its span, "
                     f"read as zero usage for it (an export has rows only where there was usage; "
                     f"`ingestion.absent_rows: missing` reads them as unknown): {int(ingestion['zero_filled_rows'])}.")
    excluded = ingestion.get("excluded_values") or []
    if not excluded:
        lines.append("- Implausible values left out: none.")
        return "\n".join(lines)
    lines += [f"- Implausible values left out (more than `ingestion.implausible.max_ratio` times their "
              f"series' median; the bucket is missing for that column): {len(excluded)}.", "",
              "| where | bucket | series | column | value | series median |", "|---|---|---|---|---|---|"]
    lines += [f"| {e['row']} | {e['timestamp']} | {e['series']} | {e['column']} | {e['value']:.6g} | "
              f"{e['series_median']:.6g} |" for e in excluded]
    return "\n".join(lines)


def _names(names: list[str], ends: int = 3) -> str:
    """``a, b, c, ... (4 more), x, y, z``: a folder of monthly files over years stays one line."""
    if len(names) <= 2 * ends + 1:
        return ", ".join(names)
    return ", ".join([*names[:ends], f"... ({len(names) - 2 * ends} more)", *names[-ends:]])


def _request_log_lines(log: dict[str, Any]) -> list[str]:
    """What a request log held (``usage_buckets.attrs["request_log"]``, written by ``bucket_request_log``)."""
    requests = int(log["requests"])
    if "duplicates_removed" in log:
        read = (f"{int(log['rows']):,} rows, {int(log['duplicates_removed']):,} of them duplicate requests removed "
                f"(by {log['duplicates_by']})")
    else:
        read = f"{int(log['rows']):,} rows, duplicates not looked for (`deduplicate: false`)"
    lines = [f"- Request log: {read}; {requests:,} requests aggregated."]
    if "failed_requests" in log:
        failed = int(log["failed_requests"])
        tokens = ("their tokens counted too (`failed_tokens: true`)" if log["failed_tokens_counted"]
                  else "their tokens not counted (`failed_tokens: false`)")
        lines.append(f"- Failed requests: {failed:,} of {requests:,} ({failed / requests:.1%}), counted in "
                     f"requests and peak_rpm (they were sent and use rate limit); {tokens}.")
    else:
        lines.append("- Failed requests: the log has no status column, so every request is counted as succeeded.")
    if log.get("repeated_hour_requests"):
        lines.append(f"- Requests at naive local times the clocks repeat when DST ends, placed in the first or "
                     f"second pass by the log's order: {int(log['repeated_hour_requests']):,} "
                     f"({int(log['second_pass_requests']):,} in the second).")
    if log.get("skipped_time_requests"):
        lines.append(f"- Requests at naive local times the clocks skip when DST starts, read with the offset "
                     f"before the change: {int(log['skipped_time_requests']):,}.")
    return lines
