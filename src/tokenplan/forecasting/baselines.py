"""Baseline forecasts the model must beat."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from tokenplan.forecasting.engine import statistical_forecast_later
from tokenplan.forecasting.layout import supported_seasons
from tokenplan.forecasting.target_series import SEASON_LENGTHS

__all__ = ["fill_season", "log_filled", "mstl", "mstl_later", "seasonal_fill", "seasonal_naive"]

_MIN_OBSERVED = 8  # statsforecast's AutoETS refuses fewer ("tiny datasets": 7 points with a damped trend)


def seasonal_naive(examples: pd.DataFrame) -> np.ndarray:
    """Weekly seasonal naive: each step repeats the last observed value one week earlier in phase.

    Reads the ``seasonal_naive`` column that ``tokenplan.forecasting.features.make_examples`` builds
    from the history up to each origin (the raw series: a baseline knows no events), so
    it sees exactly the history the model sees.
    """
    return examples["seasonal_naive"].to_numpy()


def seasonal_fill(values: pd.Series, season: int) -> pd.Series:
    """Gaps filled as R's ``forecast::na.interp`` fills a seasonal series: the seasonally
    adjusted series interpolated linearly, plus the gap's seasonal index.

    The index is the per-phase median deviation from a centred one-season moving average
    (of the series interpolated plainly, for that estimate only), centred on zero. Plain
    linear interpolation carries the neighbours' level into a gap whatever its phase: a
    missing last Saturday became Friday's value, and MSTL's level rose with it. With
    under two seasons observed, plain interpolation.
    """
    if not values.isna().any() or not values.notna().any():
        return values
    if season < 2 or values.notna().sum() < 2 * season:
        return values.interpolate(limit_direction="both")
    rough = values.interpolate(limit_direction="both")
    trend = rough.rolling(season, center=True, min_periods=1).mean()
    phase = np.arange(len(values)) % season
    index = (values - trend).groupby(phase).median()
    index = (index - index.mean()).reindex(range(season)).fillna(0.0)
    seasonal = pd.Series(index.to_numpy()[phase], index=values.index)
    adjusted = (values - seasonal).interpolate(limit_direction="both")
    return values.fillna(adjusted + seasonal)


def log_filled(history: pd.DataFrame, season: int) -> pd.Series:
    """``log1p(y)`` of a long ``unique_id, y`` table, each series' gaps filled by ``seasonal_fill``.

    Only the series with a gap are filled one by one (a call per series cost seconds per
    fit at thousands of series); the others are the same ``log1p(y)`` a call returns.
    """
    logged = np.log1p(history["y"])
    gaps = logged.isna().groupby(history["unique_id"]).transform("any").to_numpy(dtype=bool)
    if gaps.any():
        logged[gaps] = logged[gaps].groupby(history["unique_id"][gaps]).transform(lambda s: seasonal_fill(s, season))
    return logged


def fill_season(seasons, freq: str) -> int:
    """The season ``seasonal_fill`` fills gaps with: the longest of ``seasons`` up to a week (1: none)."""
    return max([p for p in seasons if p <= SEASON_LENGTHS[freq]] or [1])


def mstl(series: pd.DataFrame, origin: pd.Timestamp, horizon: int, freq: str,
         quantiles: list[float], seasons: list[int] | None = None, undamped_steps: int | None = None) -> pd.DataFrame:
    """MSTL (statsforecast) fitted on log1p(y) up to ``origin``: ``series, target, ds, p..`` for each step
    (``mstl_later``, waited for)."""
    return mstl_later(series, origin, horizon, freq, quantiles, seasons, undamped_steps)()


def mstl_later(series: pd.DataFrame, origin: pd.Timestamp, horizon: int, freq: str, quantiles: list[float],
               seasons: list[int] | None = None, undamped_steps: int | None = None) -> Callable[[], pd.DataFrame]:
    """MSTL (statsforecast) fitted on log1p(y) up to ``origin``: ``series, target, ds, p..`` for each step.

    Seasonal periods: those of ``seasons`` (by default weekly for daily data, daily and
    weekly for hourly data) that each series' own history up to ``origin`` supports
    (``tokenplan.forecasting.layout.supported_seasons``): a fold early in a five-week
    history gets the daily cycle, the final forecast the weekly one too. The trend is forecast
    by AutoETS without seasonality (AutoETS alone when no season is supported); for a series
    observed fewer than ``undamped_steps`` steps, no trend or a damped one, never an undamped
    one (``tokenplan.forecasting.ets_trend``; None: no restriction), else AutoETS chooses
    among no trend, damped and undamped by AICc. Gaps are filled first
    (statsforecast would silently misalign the seasons), in log1p, by ``seasonal_fill`` with the
    longest season up to a week. Intervals are statsforecast's
    central ``level`` intervals for the outermost quantiles, so they are only symmetric
    pairs (e.g. P10/P90), and the middle quantile is the point forecast.

    The fits start on the run's workers now (``tokenplan.forecasting.engine``); the returned
    function gives the frame, waiting for them: the caller can work meanwhile.
    """
    from tokenplan.forecasting.forecaster import quantile_columns

    history = series[series["ds"] <= origin].copy()
    wanted = [s for s in (seasons or {"D": [7], "h": [24, 168]}[freq]) if s > 1]
    history["unique_id"] = history["series"].astype(str) + "|" + history["target"].astype(str)
    # A series starts at its first observation (nothing is filled in before a model was
    # used), and one observed fewer than _MIN_OBSERVED times gets no MSTL forecast (the
    # other candidates stand in): statsforecast stops the whole run on a gap it cannot
    # fill ("cannot handle missing values") or a series AutoETS finds too short.
    by_id = history.groupby("unique_id")["y"]
    history = history[history["y"].notna().groupby(history["unique_id"]).cummax().to_numpy(dtype=bool)
                      & (by_id.transform("count") >= _MIN_OBSERVED)].copy()
    names = quantile_columns(quantiles)
    if history.empty:
        empty = pd.DataFrame(columns=["ds", *names, "series", "target"])
        return lambda: empty
    # Each series gets the seasons its own history supports (a model adopted ten days
    # ago has no weekly season even when its neighbours have years), and no trend or a
    # damped one when it is short: one statsforecast call per such group.
    span = history.groupby("unique_id")["y"].transform("size")
    own = {steps: tuple(p for p in wanted if p in supported_seasons(freq, steps)) for steps in span.unique()}
    history["seasons"] = span.map(own)
    history["damped"] = (span < undamped_steps) if undamped_steps else False
    level = round(100 * (quantiles[-1] - quantiles[0]))
    pending = []
    for (group_seasons, damped), part in history.groupby(["seasons", "damped"], sort=False):
        fill = fill_season(group_seasons, freq)
        part = part.assign(y=log_filled(part, fill))
        pending.append(_fit_mstl(part, list(group_seasons), freq, horizon, level, damped=bool(damped)))

    def result() -> pd.DataFrame:
        forecast = pd.concat([fits() for fits in pending], ignore_index=True)
        out = forecast[["unique_id", "ds"]].copy()
        columns = {names[0]: f"mstl-lo-{level}", names[-1]: f"mstl-hi-{level}"} if level > 0 else {}
        for name in names:
            out[name] = np.clip(np.expm1(forecast[columns.get(name, "mstl")].to_numpy()), 0, None)
        out[["series", "target"]] = out["unique_id"].str.split("|", n=1, expand=True)
        return out.drop(columns="unique_id")

    return result


def _fit_mstl(history: pd.DataFrame, seasons: list[int], freq: str, horizon: int, level: int,
              damped: bool) -> Callable[[], pd.DataFrame]:
    """One statsforecast forecast for every series of ``history``, started (every core, or Spark: ``engine``)."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    if damped:
        from tokenplan.forecasting.ets_trend import NoOrDampedTrendETS  # statsforecast stays a lazy import

        trend = NoOrDampedTrendETS(model="ZZN", alias="mstl")
    else:
        trend = AutoETS(model="ZZN", alias="mstl")
    model = MSTL(season_length=seasons, trend_forecaster=trend, alias="mstl") if seasons else trend
    return statistical_forecast_later(StatsForecast(models=[model], freq=freq), history[["unique_id", "ds", "y"]],
                                      h=horizon, level=[level] if level > 0 else None)
