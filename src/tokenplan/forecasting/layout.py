"""The forecast layout: horizon, seasons, warm-up and folds, derived from the history itself.

Real histories run from days to years. Instead of fixed settings that refuse a short
history, the layout is chosen from what the history can support, in this order:

1. **Horizon.** An integer number of steps, or ``quarter``: to the end of the first
   calendar quarter that starts after the last observed bucket (Oct 1 - Dec 31 is 92
   days), so monthly totals cover whole months.
2. **Seasons.** Hourly data has a daily cycle (24) when the history holds two days,
   and a weekly one (168) when it holds three weeks; daily data a weekly cycle (7)
   when it holds two weeks, and a yearly one (365) when it holds three years. The
   longest supported season up to a week drives the features and the seasonal
   baselines, unless its warm-up and folds do not fit (five weeks of hours: the daily
   cycle then drives them); all supported seasons go to MSTL, which at each fold uses
   those the history up to that fold's origin supports.
3. **Folds.** Tuning folds (where methods are tuned and chosen) precede backtest folds
   (where they are graded), every window ``window`` steps long and the backtest windows
   not overlapping. The first layout that fits is taken, trying the full horizon as the
   window first, then halving it (down to one season; for the weekly season of daily
   data down to ``_MIN_DAILY_WINDOW`` days, see below), and for each window
   ``(backtest, tuning)`` fold counts of (3, 2), (3, 1), (2, 1), and a shorter level
   window before fewer folds. Windows shorter than the horizon leave later steps
   unbacktested: their intervals are extrapolated (``tokenplan.forecasting.conformal``).
4. **The model or a simple method.** XGBoost is a candidate only when at least
   ``min_train_seasons`` seasons, one window, and a week of hours or four weeks of days
   of labelled history precede the first tuning origin; below that the simple methods (seasonal naive, seasonal mean, MSTL,
   their combination) stand in, and the report says so.

When even one season plus two short folds do not fit, the error says what the history
has and what it would need.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.target_series import SEASON_LENGTHS
from tokenplan.schemas import InvalidInputError

__all__ = ["ForecastLayout", "HistoryTooShortError", "plan_layout", "resolve_horizon", "supported_seasons"]

_DAILY_SEASONS = {"h": 24, "D": 1}
_WEEKLY_SEASONS = SEASON_LENGTHS
YEARLY_DAYS = 365
# Labelled history the model needs before its first tuning origin, at the least: a week
# of hours, four weeks of days (fewer rows than that, and trees learn noise).
_MIN_TRAIN = {"h": 168, "D": 28}
# Daily data keeps its weekly season on two to four weeks of history with windows this
# short: week-long folds need four weeks, and without the week a day's seasonal naive
# repeats yesterday. On M4's 414 hourly series summed to days, 15 and 22 days a week ahead
# (``benchmarks/m4_hourly.py --daily --history N``), the plan read 1.161 and 0.890 against
# the weekly seasonal naive's 1.033 and 0.958 before.
_MIN_DAILY_WINDOW = 2
# Histories that support a weekly season, in weeks: hours need three (the daily cycle
# carries two weeks of hours), days two (their only cycle is the week).
_WEEKLY_WEEKS = {"h": 3, "D": 2}


class HistoryTooShortError(InvalidInputError):
    """The history cannot support even the simplest forecast layout.

    An input error: the run ends with its one-line message, not a traceback
    (``tokenplan.user_errors``)."""


@dataclass
class ForecastLayout:
    """Everything the forecast's shape depends on, as chosen for this history."""

    freq: str
    horizon: int
    season: int
    seasons: list[int]
    level_blocks: int
    window: int
    backtest_origins: list[str]
    tuning_origins: list[str]
    origin_every: int
    model: bool
    history_steps: int
    history_start: str
    history_end: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForecastLayout:
        return cls(**data)

    @property
    def unit(self) -> str:
        return self.freq.lower()

    def timestamps(self, which: str) -> list[pd.Timestamp]:
        return [pd.Timestamp(t) for t in getattr(self, f"{which}_origins")]


def resolve_horizon(horizon: int | str, last: pd.Timestamp, freq: str) -> int:
    """Steps from the bucket after ``last`` to the end of the horizon (``quarter``: next calendar quarter)."""
    if isinstance(horizon, str):
        if horizon != "quarter":
            raise ValueError(f"feature_engineering.horizon must be a number of steps or 'quarter', got {horizon!r}")
        first = last + pd.Timedelta(1, unit=freq.lower())
        quarter = pd.Period(first, freq="Q")
        # The next quarter that starts at or after the first forecast bucket.
        if first != quarter.start_time:
            quarter = quarter + 1
        end = (quarter + 0).end_time.floor(freq)
        return int((end - last) // pd.Timedelta(1, unit=freq.lower()))
    steps = int(horizon)
    if steps < 1:
        raise ValueError(f"feature_engineering.horizon must be at least 1, got {horizon!r}")
    return steps


def supported_seasons(freq: str, steps: int) -> list[int]:
    """The seasonal periods ``steps`` of history at ``freq`` support (module docstring, item 2)."""
    daily, weekly = _DAILY_SEASONS[freq], _WEEKLY_SEASONS[freq]
    seasons = [daily] if daily > 1 and steps >= 2 * daily else []
    if steps >= _WEEKLY_WEEKS[freq] * weekly:
        seasons.append(weekly)
    if freq == "D" and steps >= 3 * YEARLY_DAYS:
        seasons.append(YEARLY_DAYS)  # for MSTL only: features keep the weekly season
    return seasons


def _windows(horizon: int, season: int) -> list[int]:
    """The full horizon, then halvings down to one season (or the horizon, if shorter)."""
    out, window = [], horizon
    floor = min(horizon, max(season, 1))
    while window >= floor:
        out.append(window)
        if window == floor:
            break
        window = max(window // 2, floor)
    return out


def _windows_below_the_week(horizon: int) -> list[int]:
    """Daily data's weekly season once no week-long window fits: halvings of the week (or of a
    shorter horizon) down to ``_MIN_DAILY_WINDOW`` days."""
    out, window = [], min(horizon, _WEEKLY_SEASONS["D"])
    shortest = min(horizon, _MIN_DAILY_WINDOW)
    while window > shortest:
        window = max(window // 2, shortest)
        out.append(window)
    return out


_EXAMPLE_BUDGET = 400_000  # training rows (origins x horizon x series-targets) kept in memory and fitted
# Training origins the history keeps however many series there are: past the budget, many
# series cost memory, never every training example (1,000 series a quarter ahead spaced
# origins 637 days apart on 548 days of history, and the run stopped with none).
_MIN_TRAINING_ORIGINS = 8


def _origin_every(steps: int, horizon: int, season: int, freq: str, keys: int) -> int:
    """Steps between training origins: every step for short histories, else a seventh of
    the season (daily origins for hourly data, weekly for daily), and sparser still when
    that would make more than ``_EXAMPLE_BUDGET`` examples (an 18-month hourly history two
    weeks ahead: weekly origins), but never so sparse that the history holds fewer than
    ``_MIN_TRAINING_ORIGINS`` of them."""
    every = 1 if steps < 400 else max(1, season // 7 if freq == "h" else 7)
    rows = (steps / every) * horizon * max(keys, 1)
    # A whole multiple, so origins stay at the same phase of the season.
    sparse = every * int(np.ceil(rows / _EXAMPLE_BUDGET)) if rows > _EXAMPLE_BUDGET else every
    densest_allowed = max(every, (steps // _MIN_TRAINING_ORIGINS) // every * every)
    return min(sparse, densest_allowed)


def plan_layout(series: pd.DataFrame, freq: str, horizon: int | str, level_weeks: int = 4,
                backtest_folds: int = 3, tuning_folds: int = 2, tuning_step_days: float | None = None,
                min_train_seasons: int = 2, origin_every: int | None = None) -> ForecastLayout:
    """The layout for a long ``series, target, ds, y`` table at ``freq`` (see the module docstring)."""
    if freq not in _WEEKLY_SEASONS:
        raise ValueError(f"feature_engineering.freq must be one of {list(_WEEKLY_SEASONS)}, got {freq!r}")
    observed = series.loc[np.isfinite(series["y"]), "ds"]
    if observed.empty:
        if series.empty:
            raise HistoryTooShortError("the usage history has no values to forecast from")
        bucket, shown = {"h": ("hour", "%Y-%m-%d %H:%M"), "D": ("day (UTC)", "%Y-%m-%d")}[freq]
        first, last = (f"{t:{shown}}" for t in (series["ds"].min(), series["ds"].max()))
        span = series["ds"].max() - series["ds"].min() + pd.Timedelta(1, unit=freq.lower())
        # Hourly buckets help only a history of two days or more (an hourly forecast needs 48 hours).
        hourly = freq == "D" and span >= pd.Timedelta(hours=2 * _DAILY_SEASONS["h"])
        raise HistoryTooShortError(
            f"the usage history has no complete {bucket} to forecast from ({first}"
            + (f" to {last}" if last != first else "") + f"): a {bucket} counts only when the data covers all of it. "
            "Use a longer history" + (" or feature_engineering.freq=h" if hourly else
                                      f" (forecasting needs at least {2 * _DAILY_SEASONS['h']} hours, even hourly)")
            + ".")
    unit = pd.Timedelta(1, unit=freq.lower())
    tuning_step = int(tuning_step_days * pd.Timedelta(days=1) / unit) if tuning_step_days else None
    start, end = observed.min(), observed.max()
    steps = int((end - start) // unit) + 1
    steps_horizon = resolve_horizon(horizon, end, freq)
    all_seasons = supported_seasons(freq, steps)
    minimum = {"h": 2 * _DAILY_SEASONS["h"], "D": 14}[freq]
    if steps < minimum:
        raise HistoryTooShortError(
            f"the history has {steps} {freq} steps ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}); forecasting "
            f"needs at least {minimum} ({'two daily cycles' if freq == 'h' else 'two weeks'}) to see the cycle "
            "it repeats and calibrate its intervals on held-out folds. Use a longer history"
            + (", or, if your buckets are hours, forecast hourly a week ahead: --params "
               "feature_engineering.freq=h,feature_engineering.horizon=168." if freq == "D" else "."))

    fold_pairs = [(backtest_folds, tuning_folds), (backtest_folds, 1), (2, 1)]
    fold_pairs = list(dict.fromkeys((min(b, backtest_folds), min(t, tuning_folds)) for b, t in fold_pairs))
    level_options = list(range(max(level_weeks, 1), 0, -1))

    def fits(season: int, window: int, backtest: int, tuning: int, level: int, model: bool) -> bool:
        warmup = level * season
        step_t = min(tuning_step or window, window)
        span = backtest * window + window + (tuning - 1) * step_t
        train = max(min_train_seasons * season, window, _MIN_TRAIN[freq]) if model else 0
        return warmup + train + span <= steps

    # Features and the seasonal baselines use the longest season up to a week; a yearly one
    # (three years of daily history) goes to MSTL only. A weekly season costs weeks of
    # warm-up and week-long minimum folds: where it does not fit (a few weeks of history),
    # hours keep the daily cycle and the model before they drop the model, but days keep
    # the week before the model. Without it a day's features and baselines have no
    # season at all: the seasonal naive repeats the last day for a quarter, the level
    # anchor is that one day, and on 54 days of bursty daily traffic the model, anchored
    # on a spike day, forecast half the history's level (56 days kept the week).
    weekly = _WEEKLY_SEASONS[freq]
    season_options = [all_seasons] + ([[p for p in all_seasons if p != weekly]] if weekly in all_seasons else [])
    # Two to four weeks of days keep the week with folds shorter than it, once no week-long one fits.
    if freq == "D":
        attempts = [(seasons, model, shorter) for seasons in season_options
                    for shorter in ((False, True) if weekly in seasons else (False,)) for model in (True, False)]
    else:
        attempts = [(seasons, model, False) for model in (True, False) for seasons in season_options]
    chosen = None
    for seasons, model, shorter in attempts:
        season = max([p for p in seasons if p <= weekly] or [1])
        for window in (_windows_below_the_week(steps_horizon) if shorter else _windows(steps_horizon, season)):
            for backtest, tuning in fold_pairs:
                for level in level_options:
                    if fits(season, window, backtest, tuning, level, model):
                        chosen = (seasons, season, window, backtest, tuning, level, model)
                        break
                if chosen:
                    break
            if chosen:
                break
        if chosen:
            break
    if chosen is None:
        season = max([p for p in all_seasons if p <= weekly] or [1])
        floor = min(steps_horizon, season)
        need = season + 3 * floor
        raise HistoryTooShortError(
            f"the history has {steps} {freq} steps ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}); a "
            f"{steps_horizon}-step forecast needs at least {need} ({season} of warm-up and three "
            f"{floor}-step folds to calibrate its intervals). Use a longer history or a finer frequency.")
    feature_seasons, season = chosen[0], chosen[1]
    chosen = chosen[2:]
    notes = []
    if weekly not in all_seasons:
        notes.append(f"{steps} {'hourly steps' if freq == 'h' else 'days'}: no weekly season (it needs "
                     f"{'three' if freq == 'h' else 'two'} weeks of history)"
                     + (", the daily cycle only" if freq == "h" else ""))
    elif weekly not in feature_seasons:
        notes.append(f"{steps} {'hourly steps' if freq == 'h' else 'days'}: too few for weekly warm-up and week-long "
                     "folds, so the features and seasonal baselines use "
                     + ("the daily cycle" if freq == "h" else "no season")
                     + f"; MSTL keeps the weekly season wherever a fold's history holds "
                     f"{'three' if freq == 'h' else 'two'} weeks")
    window, backtest, tuning, level, model = chosen
    step_t = min(tuning_step or window, window)
    last_backtest = end - window * unit
    backtest_origins = [last_backtest - k * window * unit for k in range(backtest)][::-1]
    last_tuning = backtest_origins[0] - window * unit
    tuning_origins = [last_tuning - k * step_t * unit for k in range(tuning)][::-1]
    if window < steps_horizon:
        notes.append(f"backtest windows are {window} steps, shorter than the {steps_horizon}-step horizon: "
                     "intervals for later steps are extrapolated")
    if not model:
        notes.append("too little history to train the model before the tuning folds: simple methods only")
    every = origin_every or _origin_every(steps, steps_horizon, season, freq,
                                          keys=len(series[["series", "target"]].drop_duplicates()))
    return ForecastLayout(
        freq=freq, horizon=steps_horizon, season=season, seasons=all_seasons or [1], level_blocks=level,
        window=window, backtest_origins=[str(t) for t in backtest_origins],
        tuning_origins=[str(t) for t in tuning_origins], origin_every=int(every), model=model,
        history_steps=steps, history_start=str(start), history_end=str(end), notes=notes)
