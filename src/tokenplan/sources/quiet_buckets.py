"""A bucket an API reported without a series' usage is a zero, not a gap.

Usage APIs list every time bucket of the requested window and, inside it, one result
per group (model, workspace, ...) that had usage. A group missing from a bucket the
API did report had no usage there; ``usage_buckets`` would otherwise read it as a
missing bucket (NaN) and a quiet night hour of a small model would void its whole day.
A bucket the API did not list at all stays missing. Zeros are added only between a
series' first and last row, so a model launched mid-window does not gain a history of
zeros before it existed.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["add_quiet_buckets", "quiet_rows"]


def quiet_rows(
    usage: pd.DataFrame, reported: pd.DatetimeIndex, label_columns: list[str], count_columns: list[str]
) -> pd.DataFrame:
    """A zero row per (reported bucket, series) inside each series' span where ``usage`` has none."""
    reported = pd.DatetimeIndex(reported).unique().sort_values()
    keys = usage[label_columns].astype(object).where(usage[label_columns].notna(), None)
    frames = []
    for _, rows in usage.groupby([keys[c] for c in label_columns], sort=False, dropna=False):
        first, last = rows["timestamp"].min(), rows["timestamp"].max()
        inside = reported[(reported >= first) & (reported <= last)]
        quiet = inside.difference(pd.DatetimeIndex(rows["timestamp"]))
        if quiet.empty:
            continue
        zeros = pd.DataFrame({"timestamp": quiet})
        for column in label_columns:
            zeros[column] = rows[column].iloc[0]
        for column in count_columns:
            zeros[column] = 0.0
        frames.append(zeros)
    return pd.concat(frames, ignore_index=True) if frames else usage.iloc[:0][["timestamp", *label_columns,
                                                                                 *count_columns]]


def add_quiet_buckets(
    usage: pd.DataFrame, reported: pd.DatetimeIndex, label_columns: list[str], count_columns: list[str]
) -> pd.DataFrame:
    """``usage`` plus a zero row per (reported bucket, series) inside each series' span."""
    if usage.empty:
        return usage
    zeros = quiet_rows(usage, reported, label_columns, count_columns)
    out = pd.concat([usage, zeros], ignore_index=True) if len(zeros) else usage
    return out.sort_values(["timestamp", *label_columns], kind="stable", na_position="first").reset_index(drop=True)
