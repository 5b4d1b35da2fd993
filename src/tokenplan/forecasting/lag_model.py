"""The lag model: one XGBoost across all series on each series' own recent values (mlforecast).

The ``xgboost`` candidate (``tokenplan.forecasting.forecaster``) is direct and anchored at
the origin: it sees the history only through a handful of summaries (level, growth, the
seasonal profile). This candidate is its complement, the global autoregressive model
of the M4 and M5 competitions' strongest entries: mlforecast's ``MLForecast`` with an
``XGBRegressor`` on ``log1p(y)`` differenced at the series' shortest cycle (a day of hours,
a week of days), whose features are the series' own lags (the last three buckets, the
same phase one, two and three cycles back and its neighbours, and the longer season's),
a rolling mean of the last cycle, and the hour and weekday. It forecasts recursively,
one step at a time, from the origin.

Differencing at the cycle lets a tree model, which cannot extrapolate a level, follow a
level that moved: it learns how this bucket differs from the same bucket one cycle back,
pooled over every series. On the M4 hourly training series (last 48 hours held out,
``benchmarks/m4_hourly.py``'s validation) it alone scored MASE 1.05 against the daily
naive's 1.20, MSTL's 1.20 and the direct model's 1.19, and the plan's MASE went from
0.907 to 0.836 with it among the candidates; it is a candidate like any
other, combined or chosen on its fold errors (``tokenplan.forecasting.method_choice``) and
held inside the plausibility envelope like the rest (a recursive model can compound a
growth it learned; the guard drops it then).

Its forecast's change from one cycle to the next is damped (``damping``, ``phi``): the
change of the ``k``-th cycle ahead over the one before is scaled by ``phi ** (k - 1)``, the
damped trend of exponential smoothing applied per cycle, so a level the history moved
is followed but a rise is not compounded without end. Undamped, fourteen days of Twitter
GOOG's hours a week ahead carried the last two days' rise from a day mean of 311 to 1,704
(the realised week stayed at 200-500), inside the guard's envelope, and took the median
with it (MASE 1.58 against the seasonal naive's 0.59).

On levels (``differenced=False``) the same model is the plain autoregressive XGBoost; it
is a candidate only where the history is too short to train the direct model, and there
it reads the level off the last buckets where the differenced one replays yesterday.

A series joins from its first observation, with gaps filled as MSTL's are
(``tokenplan.forecasting.baselines.seasonal_fill``); one observed fewer than two cycles
and a bucket gets no lag-model forecast (the other candidates stand in).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from tokenplan.forecasting.baselines import fill_season, log_filled
from tokenplan.forecasting.settings import FromParams

__all__ = ["LagModelSettings", "lag_model_points", "lags_for"]


@dataclass(frozen=True)
class LagModelSettings(FromParams):
    """The lag model's XGBoost (``training.lag_model``); ``enabled: false`` drops the candidate."""

    section: ClassVar[str] = "training.lag_model"

    enabled: bool = True
    n_estimators: int = 300
    learning_rate: float = 0.05
    max_depth: int = 7
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    seed: int = 0
    # The change of the k-th forecast cycle over the one before is scaled by damping ** (k - 1)
    # (1: undamped; see the module docstring).
    damping: float = 0.6


def lags_for(seasons: list[int], steps: int | None = None) -> tuple[int, list[int]]:
    """The differencing cycle and the lags for the layout's ``seasons`` (cycle 1 with none).

    With ``steps`` (the longest history to train on), a lag beyond the cycle's neighbours
    is kept only when ``steps`` leave three cycles of training rows after it: on a few
    days of hours the model learns from the last buckets and yesterday, rather than not
    at all (a lag of three days and the differencing would leave no row to train on).
    """
    periods = sorted(p for p in seasons if p > 1)
    cycle = periods[0] if periods else 1
    near = {1, 2, 3, cycle - 1, cycle, cycle + 1}
    lags = near | {2 * cycle, 3 * cycle, *periods[1:2]}
    if steps is not None:
        lags = {lag for lag in lags if lag in near or lag + 3 * cycle <= steps}
    return cycle, sorted(lag for lag in lags if lag >= 1)


def _history(series: pd.DataFrame, origin: pd.Timestamp, freq: str, cycle: int, longest: int) -> pd.DataFrame:
    """``unique_id, ds, y`` (log1p, gaps filled) up to ``origin`` for the series long enough to model."""
    from utilsforecast.preprocessing import fill_gaps

    history = series[(series["ds"] <= origin) & series["y"].notna()]
    history = history.assign(unique_id=history["series"].astype(str) + "|" + history["target"].astype(str))
    counts = history.groupby("unique_id")["y"].transform("size")
    history = history.loc[counts >= 2 * cycle + 1, ["unique_id", "ds", "y"]]
    if history.empty:
        return history
    history = fill_gaps(history, freq=freq, start="per_serie", end="per_serie")
    fill = fill_season([cycle, longest], freq)
    return history.assign(y=log_filled(history, fill))


def lag_model_points(series: pd.DataFrame, origin: pd.Timestamp, horizon: int, freq: str, seasons: list[int],
                     settings: LagModelSettings | None = None, differenced: bool = True) -> pd.DataFrame:
    """The lag model fitted on every series up to ``origin``: ``series, target, ds, point`` per step.

    Series whose last observation is before ``origin`` (a suspected outage on the last day
    is missing for the forecast) are forecast from their own last bucket, far enough ahead
    to cover the ``horizon`` steps after ``origin`` when they are at most ``horizon`` behind
    (rows at or before ``origin``, and past its horizon, drop out where merged). Forecast
    only ``horizon`` steps from their own last bucket, such a series' plan lost its last
    day: on M4's series summed to days, one whose last day read as an outage had six of
    seven days, and the lag model, chosen for it, left the seventh unplanned.
    ``differenced`` False: the same model on the levels themselves (no differencing at the
    cycle), the plain autoregressive XGBoost, which stands in for the direct model where
    the history is too short to train it (``tokenplan.forecasting.candidates``).
    """
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.target_transforms import Differences
    settings = settings or LagModelSettings()
    empty = pd.DataFrame(columns=["series", "target", "ds", "point"])
    cycle, lags = lags_for(seasons)
    history = _history(series, origin, freq, cycle, max(lags))
    if not settings.enabled or history.empty:
        return empty
    steps = int(history.groupby("unique_id").size().max())
    _, lags = lags_for(seasons, steps)
    # Training rows need every lag and the differencing: with no series that long, no model.
    if steps <= max(lags) + (cycle if differenced else 0):
        return empty
    model = _step_regressor()(n_estimators=settings.n_estimators, learning_rate=settings.learning_rate,
                              max_depth=settings.max_depth, subsample=settings.subsample,
                              colsample_bytree=settings.colsample_bytree, random_state=settings.seed)
    dates = ["hour", "dayofweek"] if freq == "h" else ["dayofweek"]
    forecaster = MLForecast(models={"point": model}, freq=freq, lags=lags,
                            lag_transforms={1: [RollingMean(window_size=cycle)]},
                            target_transforms=[Differences([cycle])] if differenced else None,
                            date_features=dates)
    with warnings.catch_warnings():
        # A series too short for the longest lag and the differencing has no training row; the
        # global model still forecasts it from the lags it has, so mlforecast's warning that it
        # dropped the series tells a user nothing to act on.
        warnings.filterwarnings("ignore", message="The following series were dropped completely",
                                category=UserWarning)
        forecaster.fit(history, static_features=[])
    with warnings.catch_warnings():
        # A series shorter than the longest lag has no value there: XGBoost reads it as missing.
        warnings.filterwarnings("ignore", message="Found null values", category=UserWarning)
        steps = horizon + _behind(history, origin, freq, horizon)
        damped = differenced and settings.damping < 1
        predicted = forecaster.predict(min(steps, _damped_cycles(settings.damping) * cycle) if damped else steps)
    if damped:
        predicted = _repeated_last_cycle(_damped(predicted, cycle, settings.damping), cycle, steps, freq)
    out = predicted.assign(point=np.clip(np.expm1(predicted["point"].to_numpy()), 0, None))
    out[["series", "target"]] = out["unique_id"].str.split("|", n=1, expand=True)
    return out[["series", "target", "ds", "point"]]


@functools.cache
def _step_regressor() -> type:
    """``XGBRegressor`` predicting through the booster's ``inplace_predict`` on the rows' values.

    A recursive forecast calls ``predict`` once a step on a handful of rows (one per series), and
    the scikit-learn wrapper's checks of a pandas frame cost more than the trees: 8.6 ms a call
    against 3.3 ms for one row of 12 features and 300 trees (measured 2026-12-07, a loaded 2-core
    machine), with the same predictions (the booster reads both as float32, missing values as NaN).
    The columns arrive in the order the model was fitted on: mlforecast builds both frames alike.
    """
    from xgboost import XGBRegressor

    class StepRegressor(XGBRegressor):
        def predict(self, X, **kwargs):  # noqa: N803 - scikit-learn's name
            if kwargs:
                return super().predict(X, **kwargs)
            return self.get_booster().inplace_predict(np.asarray(X, dtype=np.float32), missing=np.nan)

    return StepRegressor


def _behind(history: pd.DataFrame, origin: pd.Timestamp, freq: str, horizon: int) -> int:
    """The most steps any series' last bucket lies before ``origin``, at most ``horizon``."""
    last = history.groupby("unique_id")["ds"].max()
    steps = (origin - last) // pd.Timedelta(1, unit=freq.lower())
    return int(np.clip(steps, 0, horizon).max()) if len(steps) else 0


# A change damped below this share of itself (summed over every later cycle) is not forecast.
_NEGLIGIBLE = 1e-5


def _damped_cycles(phi: float) -> int:
    """How many cycles ahead a change still moves the damped forecast by more than ``_NEGLIGIBLE`` of
    itself: later cycles' changes together weigh ``phi ** k / (1 - phi)`` after ``k`` cycles."""
    return int(np.ceil(np.log(_NEGLIGIBLE * (1 - phi)) / np.log(phi))) + 1 if 0 < phi < 1 else 1


def _damped(predicted: pd.DataFrame, cycle: int, phi: float) -> pd.DataFrame:
    """``predicted`` (``unique_id, ds, point`` in log1p, each series' steps in order) with the change
    of the ``k``-th cycle ahead over the one before scaled by ``phi ** (k - 1)``; the first cycle as
    forecast."""
    predicted = predicted.sort_values(["unique_id", "ds"], kind="stable")
    step = predicted.groupby("unique_id", sort=False).cumcount().to_numpy()
    if cycle < 1 or step.max(initial=0) < cycle:
        return predicted
    ids = pd.factorize(predicted["unique_id"])[0]
    horizon = int(step.max()) + 1
    cycles = -(-horizon // cycle)
    grid = np.full((ids.max() + 1, cycles * cycle), np.nan)
    grid[ids, step] = predicted["point"].to_numpy(dtype=float)
    grid = grid.reshape(len(grid), cycles, cycle)
    change = np.diff(grid, axis=1)  # (series, cycles - 1, phase): cycle k over cycle k - 1
    weights = phi ** np.arange(1, cycles)[None, :, None]
    damped = grid.copy()
    damped[:, 1:, :] = grid[:, :1, :] + np.cumsum(np.nan_to_num(change) * weights, axis=1)
    damped = np.where(np.isnan(grid), np.nan, damped).reshape(len(grid), -1)
    return predicted.assign(point=damped[ids, step])


def _repeated_last_cycle(damped: pd.DataFrame, cycle: int, steps: int, freq: str) -> pd.DataFrame:
    """``damped`` (``unique_id, ds, point``) extended to ``steps`` per series by repeating its last ``cycle``
    steps, one bucket of ``freq`` apart (unchanged where it already has ``steps``).

    Past ``_damped_cycles`` the damped changes add less than ``_NEGLIGIBLE`` of themselves, so a
    recursive forecast of every step would move nothing. A quarter of hours is 92 cycles of
    mlforecast's one-step-at-a-time recursion, at about 3 ms a step whatever the number of
    series: a week of hours planned to the quarter's end spent a minute forecasting steps the
    damping then erased.
    """
    damped = damped.sort_values(["unique_id", "ds"], kind="stable")
    step = damped.groupby("unique_id", sort=False).cumcount().to_numpy()
    horizon = int(step.max(initial=-1)) + 1
    if steps <= horizon or horizon < cycle:
        return damped
    ids, names = pd.factorize(damped["unique_id"])
    first = damped.groupby(ids, sort=True)["ds"].min()
    grid = np.full((len(names), horizon), np.nan)
    grid[ids, step] = damped["point"].to_numpy(dtype=float)
    later = np.arange(horizon, steps)
    source = horizon - cycle + (later - horizon) % cycle
    rows = pd.DataFrame({
        "unique_id": np.repeat(names.to_numpy(), len(later)),
        "ds": (pd.DatetimeIndex(np.repeat(first.to_numpy(), len(later)))
               + pd.to_timedelta(np.tile(later, len(names)), unit=freq.lower())),
        "point": grid[:, source].reshape(-1)})
    return pd.concat([damped, rows[np.isfinite(rows["point"])]], ignore_index=True).sort_values(
        ["unique_id", "ds"], kind="stable", ignore_index=True)
