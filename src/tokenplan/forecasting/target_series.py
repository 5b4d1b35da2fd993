"""Forecast targets: ``usage_buckets`` resampled to the forecast frequency, in long form.

One row per (series, target, ds) with ``y`` the bucket total. A bucket whose source
coverage is incomplete (an outage, a missing export hour) gets ``y = NaN``: a partial
day is not a low day, and training must not learn it as one.
"""

from __future__ import annotations

import pandas as pd

from tokenplan.schemas import COUNT_COLUMNS

__all__ = ["SEASON_LENGTHS", "resample_targets", "season_length"]

# Steps per week at each forecast frequency: the seasonal-naive period and feature window.
SEASON_LENGTHS = {"D": 7, "h": 168}


def season_length(freq: str) -> int:
    """Steps per weekly cycle for ``freq`` ('D' or 'h')."""
    try:
        return SEASON_LENGTHS[freq]
    except KeyError:
        raise ValueError(f"forecast frequency must be one of {list(SEASON_LENGTHS)}, got {freq!r}") from None


def resample_targets(
    usage_buckets: pd.DataFrame, freq: str, targets: list[str], min_observed_fraction: float = 1.0
) -> pd.DataFrame:
    """Long table ``series, target, ds, y`` at ``freq`` with incomplete buckets as NaN."""
    season_length(freq)
    usage = usage_buckets.copy()
    usage["ds"] = usage["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor(freq)
    base_step = usage.groupby("series")["timestamp"].diff().min()
    expected = pd.Timedelta(1, unit=freq.lower()) / (base_step if pd.notna(base_step) else pd.Timedelta(1, "h"))
    present = [t for t in targets if t in usage.columns and usage[t].notna().any()]
    if not present:
        raise ValueError(f"usage_buckets has none of the forecast targets {targets}")
    frames = []
    for target in present:
        grouped = usage.groupby(["series", "ds"])[target]
        frame = pd.DataFrame({"y": grouped.sum(min_count=1), "observed": grouped.count()}).reset_index()
        frame.loc[frame["observed"] < min_observed_fraction * expected, "y"] = float("nan")
        frame["target"] = target
        frames.append(frame[["series", "target", "ds", "y"]])
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["series", "target", "ds"]).reset_index(drop=True)


DEFAULT_TARGETS = list(COUNT_COLUMNS)
