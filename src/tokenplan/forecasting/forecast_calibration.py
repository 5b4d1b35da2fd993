"""Which backtest errors calibrate the forecast's intervals when the folds could not fit what the forecast fits.

Conformal intervals are honest when the errors they are read from are like the forecast's
errors. On a short history they are not: a fold's history before its origin can be too short
for a season the whole history supports (two weeks of days give MSTL the week; a fold with
13 days of history has none, and the seasonal mean there has one week to average), so at
those folds the candidates, and the ensemble of them, are weaker methods than the ones that
forecast. Where that happens at a backtest fold (**some series' history before some backtest
fold's origin supports fewer of the layout's seasons than its history at the forecast
origin**), the forecast's widths of each method are read differently; everywhere else they
are as before. Tuning folds alone do not count: they are the earliest folds, their errors
weigh least (``conformal.recency_weights``), and on M4's hourly series, where 169 of 414
series' tuning folds lack the weekly season and no backtest fold does, reading the widths
this way moved the coverage from 79.1% to 76.9%. Where it applies:

- **Per series, from the folds like the forecast**: the folds whose history supported every
  season the forecast's does, where the series has any (on three weeks of days, the folds
  from two weeks on); a series with none keeps all its folds, as there is nothing better.
- **Pooled over the series that use the method** (Mondrian conformal prediction, the
  taxonomy being the method each series' folds chose): a series' own errors are few here
  (two- or three-day folds), so its width is mostly its target's pooled one, and a method's
  errors on the series that rejected it describe series it will not forecast. On two weeks
  of M4's hours summed to days, the ensemble's errors on the smooth, trending series MSTL
  won (each some 15 of their noise units: the ensemble of that fold was in effect the
  seasonal naive, which misses a trend) set the ensemble's width for the noisy series that
  kept it, and 99% of those series' held-out days fell inside their P10-P90; inside the folds
  too, 99% of theirs, against 62% for MSTL's series.

A target whose users' errors are fewer than ``min_rows`` pools all its series, as before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.forecasting.layout import supported_seasons
from tokenplan.forecasting.row_keys import RowKeys

__all__ = ["folds_like_forecast", "forecast_calibration_rows"]


def _season_count(steps: np.ndarray, freq: str, seasons: list[int]) -> np.ndarray:
    """Per value of ``steps`` (history length in buckets) how many of ``seasons`` it supports."""
    distinct, inverse = np.unique(steps, return_inverse=True)
    counts = np.array([sum(p in supported_seasons(freq, int(n)) for p in seasons if p > 1) for n in distinct])
    return counts[inverse] if len(counts) else np.zeros(len(steps), int)


def folds_like_forecast(points: pd.DataFrame, series: pd.DataFrame, freq: str, seasons: list[int],
                        end: pd.Timestamp) -> np.ndarray:
    """Per fold row of ``points`` whether its history before the fold origin supported as many of
    ``seasons`` as its series' history up to ``end`` (the forecast origin) does.

    A series' history starts at its first observed bucket, as MSTL's does (``mstl_later``).
    """
    observed = series[np.isfinite(series["y"].to_numpy(dtype=float))]
    first = observed.groupby(["series", "target"], observed=True)["ds"].min()
    index = pd.MultiIndex.from_arrays([points["series"], points["target"]])
    start = pd.to_datetime(first.reindex(index).to_numpy())
    unit = pd.Timedelta(1, unit=freq.lower())
    origin = pd.to_datetime(points["origin"].to_numpy())
    fold_steps = np.nan_to_num((origin - start) / unit, nan=-1).astype(int) + 1
    forecast_steps = np.nan_to_num((pd.Timestamp(end) - start) / unit, nan=-1).astype(int) + 1
    return _season_count(fold_steps, freq, seasons) >= _season_count(forecast_steps, freq, seasons)


def forecast_calibration_rows(keys: RowKeys, like: np.ndarray, uses: np.ndarray,
                              min_rows: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """(The rows that calibrate each series' own width, the rows that set its target's pooled width),
    as positions, for one method's errors (module docstring).

    ``keys``: the errors' keys; ``like``: whether each error's fold is like the forecast
    (``folds_like_forecast``); ``uses``: whether its series' forecast uses this method.
    """
    has_like = np.bincount(keys.key[like], minlength=len(keys.keys)) > 0
    own = like | ~has_like[keys.key]
    pool = own & uses
    short = np.bincount(keys.target[pool], minlength=len(keys.targets)) < min_rows
    pool |= own & short[keys.target]
    return np.flatnonzero(own), np.flatnonzero(pool)
