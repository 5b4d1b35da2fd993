"""A bucket an API reported without a series' usage is a zero, not a gap.

Usage APIs list every time bucket of the requested window and, inside it, one result
per group (model, workspace, ...) that had usage. A group missing from a bucket the
API did report had no usage there; ``usage_buckets`` would otherwise read it as a
missing bucket (NaN) and a quiet night hour of a small model would void its whole day.
A bucket the API did not list at all stays missing. Zeros are added from a series' first
row to the last reported bucket: a model launched mid-window does not gain a history of
zeros before it existed, while one that stopped mid-window has zeros after its last row
(its traffic moved to another model or key; read as missing, the forecast had carried its
old level on from its last row, and a review's team that moved models six days before the
end was planned on both at once, its budget "over" at >99%).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["add_quiet_buckets", "quiet_rows"]


def quiet_rows(
    usage: pd.DataFrame, reported: pd.DatetimeIndex, label_columns: list[str], count_columns: list[str]
) -> pd.DataFrame:
    """A zero row per (reported bucket, series) from each series' first row to the last reported bucket where
    ``usage`` has none."""
    reported = pd.DatetimeIndex(reported).unique().sort_values()
    keys = usage[label_columns].astype(object).where(usage[label_columns].notna(), None)
    frames = []
    for _, rows in usage.groupby([keys[c] for c in label_columns], sort=False, dropna=False):
        inside = reported[reported >= rows["timestamp"].min()]
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
    """``usage`` plus a zero row per (reported bucket, series) from each series' first row on."""
    if usage.empty:
        return usage
    zeros = quiet_rows(usage, reported, label_columns, count_columns)
    out = pd.concat([usage, zeros], ignore_index=True) if len(zeros) else usage
    return out.sort_values(["timestamp", *label_columns], kind="stable", na_position="first").reset_index(drop=True)
