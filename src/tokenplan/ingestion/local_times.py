"""Naive local times in a zone with DST: their UTC offsets, the spans the clocks repeat or skip, and which
pass of a repeated span a request was made in.

A naive ``01:30`` on the night clocks go back happens twice (New York: 05:30 and 06:30 UTC);
the value alone cannot say which. A log written as requests happen runs forward through
the first pass, goes back once, and runs forward through the second: its order tells the
two apart, as pandas' ``ambiguous='infer'`` does for a sorted series (which, unlike a log,
may not hold two equal times or a row slightly out of order). Times in the span clocks
skip (``02:30`` when they go forward) never happen on a clock that follows the zone; they
are read with the offset before the change, as a clock not yet put forward, so the
minutes stay apart and no minute gains an hour's requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["LocalSpan", "changes_of_offset", "repeated_spans", "second_pass_start", "skipped_spans"]

# Every zone changes its clocks on a quarter hour.
GRID = pd.Timedelta(minutes=15)
# A log written when each request ends holds rows a little earlier than the row before
# (a long request logged after shorter ones): that much out of order is still "in order".
OUT_OF_ORDER_MINUTES = 10


@dataclass(frozen=True)
class LocalSpan:
    """Local minutes since 1970 ``[first, end)`` that the clocks repeat or skip, and the UTC offset (minutes)
    its times are read with: the second pass's for a repeated span, the one before the change for a skipped one."""

    first: int
    end: int
    offset: int

    def label(self) -> str:
        start, stop = (pd.Timestamp(m * 60, unit="s") for m in (self.first, self.end))
        return f"{start:%Y-%m-%d %H:%M}-{stop:%H:%M}"


def _grid(local_min: int, local_max: int) -> pd.DatetimeIndex:
    """Quarter hours from the day before the first local minute to the day after the last."""
    first, last = (pd.Timestamp(m * 60, unit="s") for m in (local_min, local_max))
    return pd.date_range(first.floor("D") - pd.Timedelta(days=1), last.ceil("D") + pd.Timedelta(days=1), freq=GRID)


def _offsets(points: pd.DatetimeIndex, zone: str, ambiguous: bool) -> np.ndarray:
    """UTC offset in minutes of each local point; a repeated point as its first (``ambiguous=True``) or second
    pass, a skipped one with the offset before the change."""
    utc = points.tz_localize(zone, ambiguous=np.full(len(points), ambiguous), nonexistent="shift_forward")
    offsets = np.asarray((points - utc.tz_convert("UTC").tz_localize(None)) // pd.Timedelta(minutes=1))
    # shift_forward moves a skipped point to the change; it keeps the offset before it.
    skipped = np.asarray(points.tz_localize(zone, ambiguous=True, nonexistent="NaT").isna())
    before = np.concatenate([[offsets[0]], offsets[:-1]])
    return np.where(skipped, before, offsets)


def changes_of_offset(local_min: int, local_max: int, zone: str) -> pd.Series:
    """UTC offset (minutes) by the local minute it starts at, one entry per change; a repeated span is read as
    its first pass here (its second pass is placed from the log's order)."""
    points = _grid(local_min, local_max)
    offsets = pd.Series(_offsets(points, zone, ambiguous=True), index=points.asi8 // 60_000_000_000)
    return offsets[offsets.ne(offsets.shift())]


def _spans(points: pd.DatetimeIndex, inside: np.ndarray, offsets: np.ndarray) -> list[LocalSpan]:
    minutes = points.asi8 // 60_000_000_000
    starts = np.flatnonzero(inside & ~np.concatenate([[False], inside[:-1]]))
    spans = []
    for start in starts:
        end = start
        while end < len(inside) and inside[end]:
            end += 1
        spans.append(LocalSpan(int(minutes[start]), int(minutes[start]) + (end - start) * 15, int(offsets[start])))
    return spans


def repeated_spans(local_min: int, local_max: int, zone: str) -> list[LocalSpan]:
    """The spans of local time the clocks repeat (DST ends) within the log's local minutes."""
    points = _grid(local_min, local_max)
    inside = np.asarray(points.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward").isna())
    spans = _spans(points, inside, _offsets(points, zone, ambiguous=False))
    return [s for s in spans if s.end > local_min and s.first <= local_max]


def skipped_spans(local_min: int, local_max: int, zone: str) -> list[LocalSpan]:
    """The spans of local time the clocks skip (DST starts) within the log's local minutes."""
    points = _grid(local_min, local_max)
    inside = np.asarray(points.tz_localize(zone, ambiguous=True, nonexistent="NaT").isna())
    spans = _spans(points, inside, _offsets(points, zone, ambiguous=True))
    return [s for s in spans if s.end > local_min and s.first <= local_max]


def second_pass_start(local_minutes: np.ndarray) -> int | None:
    """Position of the first request of the second pass, given the local minutes of a repeated span's requests
    in the log's order; None when that order does not run forward, go back once and run forward again.

    Going back means more than ``OUT_OF_ORDER_MINUTES`` before the latest time seen in the pass.
    """
    def steps_back(minutes: np.ndarray) -> np.ndarray:
        latest = np.maximum.accumulate(minutes)
        return np.flatnonzero(minutes[1:] < latest[:-1] - OUT_OF_ORDER_MINUTES) + 1

    back = steps_back(local_minutes)
    if len(back) == 0:
        return None
    start = int(back[0])
    return None if len(steps_back(local_minutes[start:])) else start
