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
  won (many of their noise units, which measure the spread around a steady week-on-week rise:
  the ensemble of those folds was in effect the seasonal naive, which misses the rise; the
  pooled 80% quantile was 8.5 units) set the ensemble's width for the noisy series that kept
  it, and 99% of those series' held-out days fell inside their P10-P90. Inside the folds
  too, the ensemble's intervals held 99% of their days and 62% of those of MSTL's series.

Each only where there are enough such errors to read a width from (``min_rows`` of a
target's): a series keeps all its folds unless the series that use the method have that
many errors at folds like the forecast, and the pool is all series unless the users have
that many errors. A single model's three weeks of days have six like the forecast (two
3-day folds): on the real series cut to 21 days, one model to a run, a width read off two
folds' level errors held 72% of the held-out days against 76% before (Taylor's 86% fell to
67%); now such a run is read as before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.forecasting.layout import supported_seasons
from tokenplan.forecasting.row_keys import RowKeys, series_target_codes

__all__ = ["folds_like_forecast", "forecast_calibration_rows"]


def _season_count(steps: np.ndarray, freq: str, seasons: list[int]) -> np.ndarray:
    """Per value of ``steps`` (history lengths in buckets, any shape) how many of ``seasons`` it supports."""
    distinct, inverse = np.unique(steps, return_inverse=True)
    counts = np.array([sum(p in supported_seasons(freq, int(n)) for p in seasons if p > 1) for n in distinct])
    return counts[inverse].reshape(np.shape(steps))


def folds_like_forecast(points: pd.DataFrame, series: pd.DataFrame, freq: str, seasons: list[int],
                        end: pd.Timestamp) -> np.ndarray:
    """Per fold row of ``points`` whether its history before the fold origin supported as many of
    ``seasons`` as its series' history up to ``end`` (the forecast origin) does.

    A series' history starts at its first observed bucket, as MSTL's does (``mstl_later``). Read
    on the grid of keys and origins, not per row (a fold table at 1,000 series has millions).
    """
    key, keys = series_target_codes(points)
    origin, origins = pd.factorize(points["origin"])
    observed = series[np.isfinite(series["y"].to_numpy(dtype=float))]
    first = observed.groupby([observed["series"].astype(str) + "|" + observed["target"].astype(str)])["ds"].min()
    start = pd.to_datetime(first.reindex(keys).to_numpy())
    unit = pd.Timedelta(1, unit=freq.lower())

    def steps(until: pd.DatetimeIndex) -> np.ndarray:  # keys x origins
        span = (until.to_numpy()[None, :] - start.to_numpy()[:, None]) / unit
        return np.nan_to_num(span, nan=-1).astype(int) + 1

    fold_seasons = _season_count(steps(pd.DatetimeIndex(origins)), freq, seasons)
    forecast_seasons = _season_count(steps(pd.DatetimeIndex([pd.Timestamp(end)])), freq, seasons)
    return (fold_seasons >= forecast_seasons)[key, origin]


def forecast_calibration_rows(keys: RowKeys, like: np.ndarray, uses: np.ndarray,
                              min_rows: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """(The rows that calibrate each series' own width, the rows that set its target's pooled width),
    as positions, for one method's errors (module docstring).

    ``keys``: the errors' keys; ``like``: whether each error's fold is like the forecast
    (``folds_like_forecast``); ``uses``: whether its series' forecast uses this method. Each
    reading needs ``min_rows`` errors of a target to go on (module docstring).
    """
    def enough(rows: np.ndarray) -> np.ndarray:  # per row: its target has min_rows of ``rows``
        return (np.bincount(keys.target[rows], minlength=len(keys.targets)) >= min_rows)[keys.target]

    has_like = np.bincount(keys.key[like], minlength=len(keys.keys)) > 0
    own = like | ~has_like[keys.key] | ~enough(like & uses)
    pool = own & uses
    pool |= own & ~enough(pool)
    return np.flatnonzero(own), np.flatnonzero(pool)
