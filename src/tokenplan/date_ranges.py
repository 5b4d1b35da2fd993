"""Dates as a planner checks them against a calendar: runs of consecutive days, the first few named."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["date_ranges"]


def date_ranges(stamps: Iterable, shown: int = 3) -> str:
    """The days ``stamps`` fall on as runs of consecutive days, ``2026-11-01 to 2026-11-07, 2026-11-20``; past
    ``shown`` runs, ``and N more`` (N runs); '' for none."""
    days = pd.DatetimeIndex(stamps)
    days = (days.tz_localize(None) if days.tz else days).normalize().unique().sort_values()  # wall-clock days
    if days.empty:
        return ""
    starts = np.r_[0, np.flatnonzero(np.diff(days.asi8) != pd.Timedelta(days=1).value) + 1]
    ends = np.r_[starts[1:] - 1, len(days) - 1]
    runs = [f"{days[a]:%Y-%m-%d}" + ("" if a == b else f" to {days[b]:%Y-%m-%d}") for a, b in zip(starts, ends)]
    more = f" and {len(runs) - shown} more" if len(runs) > shown else ""
    return ", ".join(runs[:shown]) + more
