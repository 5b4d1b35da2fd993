"""Isolated spikes, clipped from the history the replaying candidates read.

Hourly (or finer) traffic has spikes shorter than a day: a retry storm, a news event, a
script that ran for an hour. MSTL and the lag model read the history as it was and
give a spike back the next day: MSTL's daily season takes a share of it, and the lag
model's lags of yesterday carry it. On Twitter AAPL's mentions, 68,745 in the hour
before midnight on 2015-04-14 (about 1,000 usual) put the next evening's ensemble P50
at 9,751 with the spike read as demand.

So those two candidates read a copy of the history, cut at their origin, where each
bucket of an isolated spike is replaced by its usual value. Nothing else changes: the
examples' labels, the backtest's errors, the intervals and the period totals keep every
spike as recorded (a spike is demand, and its volume belongs in the totals and the
risk: on AAPL spikes like these are 15% of the mentions). A spike is not predictable in
time, so a point forecast should not repeat it at the same hour; the intervals carry it.

A **spike** (``_spike_mask``): a run of at most an eighth of a day of buckets (three hours
of hours), each above ``spike_ratio`` times both the highest value at the same time of
day on up to three days before (two at least) and after, and the median bucket of the
day before it, and beyond four times the noise of day-over-day changes and four Poisson
standard deviations; an observed bucket follows the run and is not one. The days after
keep a new daily pattern from being a spike (its peaks come back); a new level makes
a run that does not end. The origin's last bucket, with nothing after it, is never
clipped. Daily data is not checked (a day far above its weekdays is an outage-table
burst, ``tokenplan.forecasting.outages``). ``training.guard.spike_ratio: null`` turns it off.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import median_abs_deviation

from tokenplan.forecasting.outages import _same_phase

__all__ = ["clip_spikes"]

_SIGMAS = 4.0
_NEIGHBOURS = 3
_BUCKETS_PER_DAY = {"h": 24}  # the layout's bucket widths below a day (tokenplan.forecasting.target_series)


def clip_spikes(history: pd.DataFrame, freq: str, spike_ratio: float | None, origin: pd.Timestamp) -> pd.DataFrame:
    """``history`` (``series, target, ds, y``) up to ``origin`` with each isolated spike's ``y`` replaced
    by its usual value; each series and target judged on its own buckets, and only on what
    precedes ``origin``.

    Where nothing is checked (daily data, ``spike_ratio`` None) ``history`` itself comes
    back, not cut: its readers cut it at the origin themselves.
    """
    cycle = _BUCKETS_PER_DAY.get(freq, 1)
    if spike_ratio is None or cycle < 2:
        return history
    history = history[history["ds"] <= origin]
    observed = history[history["y"].notna()]
    if observed.empty:
        return history
    wide = observed.pivot_table(index="ds", columns=["series", "target"], values="y", aggfunc="first",
                                observed=True)
    wide = wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq=freq))
    if len(wide) <= 2 * cycle:
        return history
    flagged, usual = _spike_mask(np.log1p(wide.to_numpy(dtype=float).T), cycle, float(spike_ratio))
    if not flagged.any():
        return history
    keys, steps = np.nonzero(flagged)
    fixes = pd.DataFrame({"ds": wide.index[steps], "_usual": np.expm1(usual[keys, steps])})
    fixes[["series", "target"]] = pd.DataFrame(list(wide.columns[keys]), index=fixes.index)
    merged = history.merge(fixes.astype({"series": history["series"].dtype, "target": history["target"].dtype}),
                           on=["series", "target", "ds"], how="left")
    out = history.copy()
    out["y"] = np.where(merged["_usual"].notna().to_numpy(), merged["_usual"].to_numpy(), history["y"].to_numpy())
    return out


def _spike_mask(z: np.ndarray, cycle: int, spike_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Flagged spike buckets of ``z`` (keys x steps, ``log1p``) and their usual values (``log1p``: the
    median at the same time of day on the days around)."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        before = _same_phase(z, cycle, _NEIGHBOURS, -1)
        around = np.concatenate([before, _same_phase(z, cycle, _NEIGHBOURS, +1)])
        same_time = np.nanmax(around, axis=0)
        same_time[np.isfinite(before).sum(axis=0) < 2] = np.nan
        day_before = pd.DataFrame(z.T).shift(1).rolling(cycle, min_periods=cycle // 2).median().to_numpy().T
        noise = median_abs_deviation(z[:, cycle:] - z[:, :-cycle], axis=1, scale="normal", nan_policy="omit")
        jump = np.fmax(np.log(spike_ratio), _SIGMAS * np.nan_to_num(noise, nan=np.inf))[:, None]
        expected = np.expm1(np.fmax(same_time, day_before))
        candidate = ((z > same_time + jump) & (z > day_before + jump)
                     & (np.expm1(z) - expected > _SIGMAS * np.sqrt(np.clip(expected, 0, None))))
        # The value put in its place: the median at the same time of day around it (the
        # highest, the threshold's reference, runs high on noise).
        usual = np.where(np.isfinite(same_time), np.nanmedian(around, axis=0), day_before)
    flagged = np.zeros_like(candidate)
    longest = max(1, cycle // 8)
    for key in np.flatnonzero(candidate.any(axis=1)):
        row = candidate[key]
        starts = np.flatnonzero(row & ~np.r_[False, row[:-1]])
        ends = np.flatnonzero(row & ~np.r_[row[1:], False]) + 1
        for start, end in zip(starts, ends):
            if end - start <= longest and end < row.size and np.isfinite(z[key, end]):
                flagged[key, start:end] = True
    return flagged, usual
