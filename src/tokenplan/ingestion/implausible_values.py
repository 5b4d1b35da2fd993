"""Values far outside a series' own range: a typo or a unit slip, not usage.

One cell of 1e15 tokens in a year of millions would widen every interval of the
forecast. The rule is robust (a median is not moved by the cell it judges): a count
is implausible when it is more than ``max_ratio`` times the median of the same
column's positive values in the same series, judged only where the series has at
least ``min_values`` positive values. The default ratio (1000) is far beyond daily
cycles, bursts, campaigns and a year of growth; a real 1000-fold jump (a batch job on
a model that is otherwise idle) needs a higher ``ingestion.implausible.max_ratio``.

``action: stop`` (the default) stops the run naming the rows; ``action: exclude``
blanks those cells (the bucket becomes missing for that column) and returns them, so
the report can list them.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from tokenplan.schemas import COUNT_COLUMNS, PART_COLUMNS, InvalidInputError, where

logger = logging.getLogger(__name__)

__all__ = ["ImplausibleRule", "screen_implausible"]

ACTIONS = ("stop", "exclude")


class ImplausibleRule:
    """``ingestion.implausible``: ``max_ratio`` (times the series' median), ``min_values``, ``action``."""

    def __init__(self, max_ratio: float = 1000.0, min_values: int = 10, action: str = "stop") -> None:
        if action not in ACTIONS:
            raise ValueError(f"ingestion.implausible.action must be one of {list(ACTIONS)}, got {action!r}")
        self.max_ratio, self.min_values, self.action = float(max_ratio), int(min_values), action

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> ImplausibleRule:
        return cls(**(params or {}))


def screen_implausible(usage: pd.DataFrame, series_columns: list[str], rule: ImplausibleRule, source: str,
                       first_line: int | None = None, source_rows: bool = True,
                       ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """(usage, excluded cells): raise naming the rows, or blank them, per ``rule.action``.

    ``source_rows``: the rows of ``usage`` are the source's own rows (named by line);
    else they are aggregated buckets, named by time and series.
    """
    columns = [c for c in COUNT_COLUMNS if c in usage.columns]
    keys = [usage[c].astype(object).where(usage[c].notna(), "") for c in series_columns]
    flagged = pd.DataFrame(False, index=usage.index, columns=columns)
    medians = pd.DataFrame(index=usage.index, columns=columns, dtype=float)
    for column in columns:
        positive = usage[column].where(usage[column] > 0)
        grouped = positive.groupby(keys, sort=False, dropna=False)
        median = grouped.transform("median")
        enough = grouped.transform("count") >= rule.min_values
        flagged[column] = enough & (usage[column] > rule.max_ratio * median)
        medians[column] = median
    if not flagged.to_numpy().any():
        return usage, []
    if rule.action == "stop":
        column = next(c for c in columns if flagged[c].any())
        rows = list(usage.index[flagged[column]])
        median = medians.loc[rows[0], column]
        buckets = ", ".join(f"{usage.loc[r, 'timestamp']} {'/'.join(str(usage.loc[r, c]) for c in series_columns)}"
                            for r in rows[:5])
        at = f"{where(rows[:5], first_line)} ({buckets})" if source_rows else f"buckets {buckets}"
        raise InvalidInputError(
            f"{source}: column '{column}' has implausible values at {at}: "
            f"{usage.loc[rows[:5], column].tolist()} (more than {rule.max_ratio:g} times the series' median "
            f"of {median:g}; fix the value, or set ingestion.implausible.action: exclude to leave it out, or "
            f"raise ingestion.implausible.max_ratio)")
    out = usage.copy()
    excluded = []
    for column in columns:
        for row in usage.index[flagged[column]]:
            excluded.append({"row": where([row], first_line) if source_rows else "", "timestamp": str(usage.loc[row, "timestamp"]),
                             "series": "/".join(str(usage.loc[row, c]) for c in series_columns),
                             "column": column, "value": float(usage.loc[row, column]),
                             "series_median": float(medians.loc[row, column])})
        out.loc[flagged[column], column] = float("nan")
    for part, whole in PART_COLUMNS.items():  # the part of an excluded count would outgrow it once summed
        if part in out.columns and whole in columns:
            out.loc[flagged[whole], part] = float("nan")
    logger.warning("%s: %d implausible values excluded (more than %g times their series' median): %s",
                   source, len(excluded), rule.max_ratio, excluded[:5])
    return out, excluded
