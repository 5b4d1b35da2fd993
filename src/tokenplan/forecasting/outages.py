"""Suspected outages: buckets far below the same phase of the seasons both before and after.

An outage, a partial export or a logging gap leaves buckets far below their usual
value. Read as demand, such a bucket drags the level of every method that reads the
days after it, and it widens every interval calibrated on a fold that contains it (on
Wikipedia's daily page views a 6-day drop to 15-45% of normal in June 2015 made one
fold's late-horizon errors 0.8 in log space, against 0.1-0.25 for the others). A
stated outage (the calendar's ``outage`` kind) is already a gap; this finds the ones
nobody stated and treats them the same way: ``y`` is missing for the forecast (the
history the report shows and the costs of past usage keep the recorded values), and
the report lists every one, so a planner can confirm it or turn the check off.

The rule, per series and target, on ``log1p(y)``:

- **Reference:** the *lower* of two medians, of the same phase in up to
  ``neighbours`` seasons before and in up to ``neighbours`` seasons after (each side
  needs at least one). The lower one, because a step change (usage moved off a model)
  is low against the weeks before but not against the weeks after: it is not an
  outage, and it is not flagged. The last season of the history has no "after" and is
  never flagged, so a drop in progress at the origin is left for the planner to read.
- **Flag:** the bucket is below the reference by more than ``-log(max_ratio)`` (half,
  by default) *and* by more than ``sigmas`` times the series' noise (the robust
  standard deviation of season-over-season log changes, as the intervals use).
- **Never flagged:** a bucket a calendar event covers, or a public holiday: the
  calendar explains those, and the holiday features learn them.

On the real series in ``../shared/realdata`` this flags two hours in each Twitter
volume (2015-03-11 07:00-08:00, in all four at once: the collector's gap) and the
Wikipedia drops; nothing in the demo, ELB or Taylor.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.features import bucket_shares

__all__ = ["mask_outages", "outage_runs", "suspected_outages"]

_COLUMNS = ["series", "target", "ds", "y", "expected"]


def _same_phase_median(z: np.ndarray, season: int, neighbours: int, direction: int) -> np.ndarray:
    """Median of ``z`` at ``t + direction * k * season`` for ``k = 1..neighbours`` (NaN where none)."""
    n = len(z)
    shifted = np.full((neighbours, n), np.nan)
    for k in range(1, neighbours + 1):
        lag = k * season
        if lag >= n:
            break
        if direction < 0:
            shifted[k - 1, lag:] = z[:n - lag]
        else:
            shifted[k - 1, :n - lag] = z[lag:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no neighbour on that side
        return np.nanmedian(shifted, axis=0)


def _noise(z: np.ndarray, season: int) -> float:
    change = z[season:] - z[:-season] if len(z) > season else np.array([])
    change = change[np.isfinite(change)]
    if len(change) < 2:
        return np.inf
    return float(1.4826 * np.median(np.abs(change - np.median(change))))


def _explained(times: pd.DatetimeIndex, freq: str, events: pd.DataFrame, holidays: set) -> np.ndarray:
    """Buckets a calendar event covers, or that fall on a public holiday."""
    covered = np.zeros(len(times), dtype=bool)
    if len(events):
        for _, share in bucket_shares(events, times, freq):
            covered |= share > 0
    if holidays:
        covered |= np.asarray(times.floor("D").isin(pd.DatetimeIndex(sorted(holidays))))
    return covered


def suspected_outages(series: pd.DataFrame, freq: str, season: int, events: pd.DataFrame, holidays: set,
                      params: dict[str, Any] | None) -> pd.DataFrame:
    """Flagged buckets ``series, target, ds, y, expected`` (see the module docstring); empty when off.

    ``series`` is the long ``series, target, ds, y`` table at ``freq``; ``season`` the
    layout's season in steps; ``events`` the forecast's calendar; ``holidays`` naive
    dates; ``params`` ``{max_ratio, sigmas, neighbours}`` or None (off).
    """
    if not params or season < 1:
        return pd.DataFrame(columns=_COLUMNS)
    max_ratio, sigmas, neighbours = float(params["max_ratio"]), float(params["sigmas"]), int(params["neighbours"])
    if not 0 < max_ratio < 1:
        raise ValueError(f"feature_engineering.outages.max_ratio must be between 0 and 1, got {max_ratio!r}")
    frames = []
    for (name, target), group in series.groupby(["series", "target"], sort=True):
        observed = group.set_index("ds")["y"].sort_index()
        observed = observed.reindex(pd.date_range(observed.index.min(), observed.index.max(), freq=freq))
        z = np.log1p(observed.to_numpy(dtype=float))
        before = _same_phase_median(z, season, neighbours, -1)
        after = _same_phase_median(z, season, neighbours, +1)
        reference = np.fmin(before, after)
        reference[np.isnan(before) | np.isnan(after)] = np.nan
        drop = np.maximum(-np.log(max_ratio), sigmas * _noise(z, season))
        with np.errstate(invalid="ignore"):
            flagged = (z < reference - drop) & ~_explained(observed.index, freq, events, holidays)
        if flagged.any():
            frames.append(pd.DataFrame({"series": name, "target": target, "ds": observed.index[flagged],
                                        "y": observed.to_numpy()[flagged],
                                        "expected": np.expm1(reference[flagged])}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_COLUMNS)


def mask_outages(series: pd.DataFrame, outages: pd.DataFrame) -> pd.DataFrame:
    """``series`` with ``y`` missing (NaN) at every flagged bucket."""
    if outages.empty:
        return series
    keys = ["series", "target", "ds"]
    flagged = series[keys].merge(outages[keys].assign(_flag=True), on=keys, how="left")["_flag"]
    out = series.copy()
    out.loc[flagged.notna().to_numpy(), "y"] = np.nan
    return out


def outage_runs(outages: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Consecutive flagged buckets of a series grouped into runs: ``series, first, last, buckets,
    targets, headline, recorded, expected``: recorded and expected are summed over the run for
    its ``headline`` target (requests where flagged, else the first target flagged)."""
    if outages.empty:
        return pd.DataFrame(columns=["series", "first", "last", "buckets", "targets", "headline", "recorded",
                                     "expected"])
    step = pd.Timedelta(1, unit=freq.lower())
    rows = []
    for name, group in outages.groupby("series", sort=True):
        stamps = pd.DatetimeIndex(sorted(group["ds"].unique()))
        run = np.concatenate([[0], np.cumsum(np.diff(stamps.asi8) != step.value)])
        headline = "requests" if (group["target"] == "requests").any() else sorted(group["target"])[0]
        first_target = group[group["target"] == headline].set_index("ds")
        for k in np.unique(run):
            inside = stamps[run == k]
            values = first_target.reindex(inside)
            rows.append({"series": name, "first": inside[0], "last": inside[-1], "buckets": len(inside),
                         "targets": ", ".join(sorted(group.loc[group["ds"].isin(inside), "target"].unique())),
                         "headline": headline, "recorded": float(values["y"].sum()),
                         "expected": float(values["expected"].sum())})
    return pd.DataFrame(rows)
