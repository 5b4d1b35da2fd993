"""Forecast features anchored at a forecast origin, so nothing leaks from the future.

Strategy: *direct, origin-anchored* multi-step forecasting. Every training example is a
pair (origin ``o``, target time ``t = o + step``) with ``1 <= step <= horizon``. All
history-derived features are computed from ``y[..o]`` only (level, growth, recent
momentum, the seasonal profile of the last weeks), while calendar and event features
describe ``t`` itself and are known in advance (the events calendar lists planned
campaigns and launches). One model serves every step of the horizon, so there is no
recursive error feedback over a 91-day quarter, and no step ever sees data after its
origin.

Chosen by backtest (``benchmarks/forecast_strategy.py``, the pipeline's 3 folds, untuned
default params for every strategy). On the demo, direct has MASE 1.046, a recursive
global XGBoost on lags 1.134, the same with a geometric-mean level 1.056, and a hybrid
(direct for the first week, recursive after) 1.153. Recursive wins the first week (0.81
against 0.85) and then drifts low as its own smooth predictions feed lags trained on
noisy ones (median log bias at steps 29-91: -0.062, or -0.018 with the geometric level,
against -0.012 for direct). With event sizes unknown the geometric-level recursive model
is slightly ahead (1.627 against 1.665). The margins are within fold-to-fold noise;
direct is kept because it is never clearly worse, has the least drift over a quarter,
and needs no feedback loop at forecast time.

Growth: trees cannot extrapolate, so the target is not ``y`` but its log-ratio to a
trend anchor fixed at the origin::

    anchor(o, step) = log1p(level_o) + slope_o * (step + centre)
    z = log1p(y_t) - anchor(o, step)

The history before the origin is cut into weekly blocks (one season). ``level_o`` is
the median of the last ``level_weeks`` block means and ``slope_o`` the Theil-Sen slope
(median of pairwise slopes) of the log block means over the last ``trend_weeks``
blocks, per step; ``centre`` is the distance from the level window's middle to the
origin. Medians make the anchor robust to a campaign week, a holiday or a launch jump
inside the windows, which a mean-based growth estimate extrapolates over the whole
quarter. The model learns seasonal, calendar and event multipliers around a trend it
never has to extrapolate itself. ``trend="level"`` drops the slope (a flat anchor);
``trend="auto"`` keeps both anchors (``anchor_local_linear``, ``anchor_level``) so the
Optuna search can choose between them on the tuning folds (``with_trend``).

Stated event effects: an event with a planner-stated ``effect`` (a multiplier on its
scope's traffic, e.g. 1.3 for a launch expected to add 30%) enters as a known offset
with coefficient one. The history features are computed on the series with the stated
effects of past events divided out, and the anchor adds ``log(effect)`` (in part, for a
bucket the event covers in part) at every target time the event covers: a campaign in
the level window no longer inflates the level, and a planned launch is forecast at the
size the planner states rather than at the size of past launches. Only events without
an ``effect`` set the event flags the model learns from (their size is learned from
past events of their kind): with a flag on sized events too, the model learned the
realised-vs-stated residual of one past launch (+8%) and added it to the next launch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import holidays as holidays_lib
import numpy as np
import pandas as pd

from tokenplan.forecasting.layout import YEARLY_DAYS
from tokenplan.forecasting.level_shifts import current_level
from tokenplan.forecasting.target_series import season_length

__all__ = [
    "CATEGORICAL_FEATURES",
    "bucket_shares",
    "stated_offsets",
    "FeatureSpec",
    "feature_columns",
    "make_examples",
    "origin_grid",
    "spec_from_params",
    "TRENDS",
    "with_trend",
]

CATEGORICAL_FEATURES = ["series", "target"]
NO_LAUNCH = -(10**9)  # launch index of a time with no launch before it
TRENDS = ("local_linear", "level")
_HISTORY_FEATURES = ["step", "log_level", "weekly_growth", "recent_ratio", "seasonal_index", "last_same_phase",
                     "last_value"]
# Hourly data: the daily cycle beside the weekly one, and the last day's level. A week-long
# season's features alone know yesterday only through a four-week profile; the same hour
# yesterday, the last seven days' profile and the last day's level are what the first
# day or two ahead depend on most.
_DAILY_CYCLE_FEATURES = ["last_day_same_hour", "daily_index", "last_day_ratio"]
_CALENDAR_FEATURES = ["day_of_week", "is_holiday", "campaign", "launch_after_origin", "steps_since_launch"]
# Daily data of three years or more (the layout's yearly season): what the same days did a year or two
# before, relative to the level then (``_yearly_change``).
_YEARLY_FEATURES = ["yearly_change"]
YEAR_STEPS = 364  # 52 weeks: the same weekday a year before
_YEARS_BACK = 2
_YEAR_WINDOW = 3  # days either side of the same day a year before


@dataclass(frozen=True)
class FeatureSpec:
    """How examples are built. Windows are counted in weekly blocks (seasons)."""

    freq: str = "D"
    horizon: int = 91
    level_weeks: int = 4
    trend_weeks: int = 12
    trend: str = "local_linear"
    trend_damping: float = 1.0
    holiday_country: str | None = "US"
    launch_memory_weeks: int = 8
    # Steps per season when the history cannot support a weekly one (see tokenplan.forecasting.layout).
    season_steps: int | None = None
    # A level shift (the last two seasons beyond every earlier one of the level window by this
    # ratio) sets the level to the last season's (tokenplan.forecasting.level_shifts); None: off.
    level_shift_ratio: float | None = 1.5
    # Growth is extrapolated this many steps at most (None: the whole horizon). The layout
    # sets it to the backtest window when that is shorter than the horizon: the trend is
    # carried only as far as it was tested; past that, intervals widen instead.
    trend_steps: int | None = None
    # Daily histories of three years or more: the yearly change feature (``_yearly_change``).
    yearly: bool = False

    @property
    def season(self) -> int:
        return self.season_steps or season_length(self.freq)

    @property
    def level_steps(self) -> int:
        return self.level_weeks * self.season

    @property
    def warmup(self) -> int:
        """Steps of history an origin needs before its anchors are defined: the level window.

        The trend window may be cut short at the earliest origins (Theil-Sen uses the
        blocks there are, a flat slope with fewer than two), so a short history is not
        spent waiting ``trend_weeks`` for training origins.
        """
        return self.level_weeks * self.season


def feature_columns(spec: FeatureSpec) -> list[str]:
    """Model input columns for ``spec`` (categoricals last)."""
    calendar = list(_CALENDAR_FEATURES) + (["hour"] if spec.freq == "h" else [])
    daily = _DAILY_CYCLE_FEATURES if spec.freq == "h" else []
    yearly = _YEARLY_FEATURES if spec.yearly and spec.freq == "D" else []
    return [*_HISTORY_FEATURES, *daily, *yearly, *calendar, *CATEGORICAL_FEATURES]


def origin_grid(series: pd.DataFrame, spec: FeatureSpec, every: int, last: pd.Timestamp | None = None) -> list:
    """Origins from the first with full warm-up to ``last`` (default: end of history), every ``every`` steps."""
    first = series["ds"].min() + pd.Timedelta(spec.warmup, unit=spec.freq.lower())
    end = last if last is not None else series["ds"].max()
    step = pd.Timedelta(every, unit=spec.freq.lower())
    n = int((end - first) // step)
    # Counted back from the end, so the latest origin is always included.
    return [end - k * step for k in range(n, -1, -1)] if end >= first else []


def bucket_shares(events: pd.DataFrame, times: pd.DatetimeIndex, freq: str, kind: str | None = None):
    """Yields ``(event, share)`` per event (of ``kind``, or of every kind): the share of each
    bucket starting at ``times`` (naive UTC) that the event covers, from 0 to 1."""
    step = np.timedelta64(pd.Timedelta(1, unit=freq.lower()))
    starts = pd.DatetimeIndex(times).to_numpy()
    for event in events[events["kind"] == kind].itertuples() if kind else events.itertuples():
        start = np.datetime64(pd.Timestamp(event.start).tz_convert(None))
        end = np.datetime64(pd.Timestamp(event.end).tz_convert(None))
        overlap = np.minimum(starts + step, end) - np.maximum(starts, start)
        yield event, np.clip(overlap / step, 0.0, 1.0)


def stated_offsets(rows: pd.DataFrame, events: pd.DataFrame, freq: str
                    ) -> tuple[dict[str, np.ndarray], set[str], set[str]]:
    """Log offset per stated event (by name) at each row (``series``, ``ds``: naive UTC), as the anchor carries it,
    the names of those already in force at the origin (started before the first row) and
    of those measured from the history rather than stated (``calendar_effects``)."""
    stated = events[events["effect"].notna()] if "effect" in events else events.iloc[:0]
    times = pd.DatetimeIndex(sorted(rows["ds"].unique()))
    position = times.get_indexer(rows["ds"])
    models = rows["series"].astype(str).str.split("/").str[0].to_numpy()
    offsets: dict[str, np.ndarray] = {}
    in_force, estimated = set(), set()
    for event, share in bucket_shares(stated, times, freq):
        if not (share > 0).any():
            continue
        in_scope = np.ones(len(rows), bool) if not event.scope else models == event.scope
        offset = np.where(in_scope, np.log1p((event.effect - 1.0) * share[position]), 0.0)
        # The year-end holidays the history measured (calendar_effects) are not the planner's.
        measured = str(getattr(event, "basis", "")).startswith("estimated")
        name = f"{event.name} ({'estimated' if measured else 'stated'} x{event.effect:.2f})"
        if measured:
            estimated.add(name)
        offsets[name] = offsets.get(name, 0.0) + offset
        if pd.Timestamp(event.start).tz_convert(None) < times[0]:
            in_force.add(name)
    return offsets, in_force, estimated


class _Grid:
    """Series on a regular time grid: ``values[k, i]`` is key ``k`` at ``times[i]``."""

    def __init__(self, series: pd.DataFrame, events: pd.DataFrame, spec: FeatureSpec, end: pd.Timestamp):
        self.spec = spec
        self.keys = series[["series", "target"]].drop_duplicates().sort_values(["series", "target"])
        self.keys = self.keys.reset_index(drop=True)
        self.times = pd.date_range(series["ds"].min(), end, freq=spec.freq)
        # pivot, not pivot_table(aggfunc="sum"): a sum turns a missing bucket into 0.
        wide = series.pivot(index=["series", "target"], columns="ds", values="y")
        wide = wide.reindex(pd.MultiIndex.from_frame(self.keys)).reindex(columns=self.times)
        self.values = wide.to_numpy(dtype=float)
        self.index = {t: i for i, t in enumerate(self.times)}
        models = self.keys["series"].str.split("/").str[0].to_numpy()
        unsized = events[events["effect"].isna()] if "effect" in events else events
        self.campaign = self._event_flags(unsized, "campaign", models)
        self.holiday = self._holidays(unsized)
        self.launch_index = self._launch_index(unsized, models)
        # History features read the series with stated event effects divided out; the
        # anchor multiplies them back in at the target time (see the module docstring).
        self.offset = self._stated_offset(events, models)
        self.adjusted = self.values * np.exp(-self.offset)

    def _covering(self, events: pd.DataFrame, kind: str | None = None):
        """Per event (of ``kind``, or of every kind): the share of each bucket it covers."""
        return bucket_shares(events, self.times, self.spec.freq, kind)

    def _event_flags(self, events: pd.DataFrame, kind: str, models: np.ndarray) -> np.ndarray:
        """Per key and time, the largest share of the bucket an event of ``kind`` covers.

        A share, not a 0/1 flag: a local-time day seen in UTC buckets covers most of one
        day and a few hours of the next, and that next day must not look like the event.
        """
        flags = np.zeros((len(self.keys), len(self.times)))
        for event, share in self._covering(events, kind):
            rows = np.ones(len(models), bool) if not event.scope else models == event.scope
            flags[rows] = np.maximum(flags[rows], share[None, :])
        return flags

    def _stated_offset(self, events: pd.DataFrame, models: np.ndarray) -> np.ndarray:
        """Log multiplier of the events with a planner-stated ``effect``, per key and time.

        A bucket an event covers in part gets the matching part of its effect.
        """
        offset = np.zeros((len(self.keys), len(self.times)))
        stated = events[events["effect"].notna()] if "effect" in events else events.iloc[:0]
        for event, share in self._covering(stated):
            rows = np.ones(len(models), bool) if not event.scope else models == event.scope
            offset[rows] += np.log1p((event.effect - 1.0) * share)[None, :]
        return offset

    def _holidays(self, events: pd.DataFrame) -> np.ndarray:
        flags = np.zeros(len(self.times))
        if self.spec.holiday_country:
            years = range(self.times[0].year, self.times[-1].year + 1)
            days = set(holidays_lib.country_holidays(self.spec.holiday_country, years=years))
            flags = np.isin(self.times.date, list(days)).astype(float)
        for _, share in self._covering(events, "holiday"):
            flags = np.maximum(flags, share)  # a share, as in _event_flags
        return flags

    def _launch_index(self, events: pd.DataFrame, models: np.ndarray) -> np.ndarray:
        """Grid index of the most recent launch at or before each time, per key (``NO_LAUNCH``: none).

        A launch before the grid starts gets its (negative) index, so its age is right.
        """
        latest = np.full((len(self.keys), len(self.times)), NO_LAUNCH)
        step = pd.Timedelta(1, unit=self.spec.freq.lower())
        for event, share in self._covering(events, "launch"):
            if not (share > 0).any():
                continue
            start = pd.Timestamp(event.start).tz_convert(None)
            first = int(np.argmax(share > 0)) if start >= self.times[0] else -int((self.times[0] - start) // step)
            rows = np.ones(len(models), bool) if not event.scope else models == event.scope
            later = np.arange(len(self.times)) >= first
            latest[np.ix_(rows, later)] = np.maximum(latest[np.ix_(rows, later)], first)
        return latest


def _gather(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``values[:, columns]`` with NaN where a column index falls before the grid."""
    out = values[:, np.clip(columns, 0, None)]
    out[:, columns < 0] = np.nan
    return out


_PROFILE_BLOCKS = 12  # seasons the phase profile of ``_block_means`` is read over, at least


def _block_means(values: np.ndarray, origin: int, season: int, blocks: int) -> np.ndarray:
    """Mean of each of the last ``blocks`` seasons ending at ``origin``, oldest first, (keys, blocks).

    A block under half observed is NaN. A block with gaps is not the plain mean of what
    it has: a missing Saturday would lift a week's mean and a missing Tuesday lower it.
    Its mean is its observed values' sum over the same phases' sum in the window's
    profile (the per-phase mean over all its blocks), times the profile's mean: exact
    for a complete block, and a gap counts at its phase's usual share (a partial last
    day masked as an outage lifted a Console export's level by 5% without this).

    Where the window's own profile misses a phase, the profile is read over at least
    ``_PROFILE_BLOCKS`` seasons: after a long gap the window's only observed days were a
    Friday to a Monday, its own profile knew no other phase, and the level was their
    plain mean, 25% under the weekly mean. (Always reading the longer profile moved the
    demo's realised-quarter MASE from 1.077 to 1.082: a recent shape is the better one.)
    """
    span = max(blocks, _PROFILE_BLOCKS)
    columns = origin - season * span + 1 + np.arange(season * span)
    longer = _gather(values, columns).reshape(values.shape[0], span, season)
    window = longer[:, span - blocks:]
    finite = np.isfinite(window)
    observed = finite.sum(axis=2)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a phase, or a key, nothing observed
        profile = np.nanmean(window, axis=1, keepdims=True)  # (keys, 1, season)
        # Where the window's own profile misses a phase, the longer one's shape stands in.
        unseen = ~np.isfinite(profile).all(axis=2, keepdims=True)
        profile = np.where(unseen, np.nanmean(longer, axis=1, keepdims=True), profile)
        usable = finite & np.isfinite(profile)
        share = np.where(usable, profile, 0.0).sum(axis=2) / np.nanmean(profile, axis=2)
        means = np.where(usable, window, 0.0).sum(axis=2) / share
        plain = np.nanmean(np.where(observed[:, :, None] > 0, window, 0.0), axis=2)
    means = np.where(np.isfinite(means) & (share > 0), means, plain)
    return np.where(observed * 2 >= season, means, np.nan)


# Seasons back the level window may be read from where the seasons before the origin are missing.
STALE_SEASONS = 2


def _level_blocks(values: np.ndarray, origin: int, season: int, blocks: int) -> np.ndarray:
    """:func:`_block_means` at ``origin``, or, for a key whose window there is all missing, the same window
    up to ``STALE_SEASONS`` seasons earlier (the latest with a block measured).

    A series whose rows stop a few days before the history's end (idle, not yet ended by
    ``feature_engineering.ended_days``) had no level at the last origin, so no candidate
    forecast it and it fell out of the plan: with one-week level windows (short histories),
    an hourly file's model whose rows stopped ten days before the end, 80% of the usage.
    It is now planned at the level it had before its rows stopped (the report names it idle).
    """
    means = _block_means(values, origin, season, blocks)
    for back in range(1, STALE_SEASONS + 1):
        missing = ~np.isfinite(means).any(axis=1)
        if not missing.any() or origin - back * season < 0:
            break
        earlier = _block_means(values, origin - back * season, season, blocks)
        means = np.where(missing[:, None], earlier, means)
    return means


def _first_finite(*candidates: np.ndarray) -> np.ndarray:
    """Elementwise, the first candidate that is finite there (broadcast to the first's shape)."""
    out = np.array(candidates[0], dtype=float)
    for fallback in candidates[1:]:
        out = np.where(np.isfinite(out), out, fallback)
    return out


def _nanmedian(rows: np.ndarray) -> np.ndarray:
    """Row medians ignoring NaN; NaN (silently) for an all-NaN row."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(rows, axis=1)


def _theil_sen(log_means: np.ndarray) -> np.ndarray:
    """Median pairwise slope per row (per block), ignoring NaN; 0 where undefined."""
    i, j = np.triu_indices(log_means.shape[1], k=1)
    slopes = (log_means[:, j] - log_means[:, i]) / (j - i)
    return np.nan_to_num(_nanmedian(slopes))


def _examples_at(grid: _Grid, origin: int, spec: FeatureSpec) -> dict[str, np.ndarray]:
    values, season, horizon = grid.adjusted, spec.season, spec.horizon
    n_keys = values.shape[0]
    level_blocks = _level_blocks(values, origin, season, spec.level_weeks)
    trend_blocks = _block_means(values, origin, season, spec.trend_weeks)
    # After a level shift the level is the last season's, and so are the seasonal profile and the
    # level window's centre (tokenplan.forecasting.level_shifts).
    level, shifted = current_level(level_blocks, trend_blocks, spec.level_shift_ratio)
    recent = level_blocks[:, -1]
    slope = _theil_sen(np.log1p(trend_blocks)) / season
    slope = slope * spec.trend_damping
    steps = np.arange(1, horizon + 1)
    targets = origin + steps
    valid = targets < values.shape[1]
    steps, targets = steps[valid], targets[valid]
    # Most recent observed-at-origin time with the same phase as the target time.
    lag = season * np.ceil(steps / season).astype(int)
    same_phase = np.stack([_gather(values, targets - lag - m * season) for m in range(4)], axis=0)
    since_shift = np.where(shifted[None, :, None] & (np.arange(4) > 0)[:, None, None], np.nan, same_phase)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no same-phase value observed
        profile = np.nanmean(since_shift, axis=0)
        raw_profile = np.nanmean(np.stack([_gather(grid.values, targets - lag - m * season) for m in range(4)]),
                                 axis=0)
    # The weekly seasonal naive baseline repeats the raw series (stated effects not removed).
    # A gap a season earlier (an outage) falls back to the mean of the last four values at
    # that phase, then to the recent level: a missing Saturday repeated as the week's
    # level lifted every future Saturday (a Console export's month by 8%).
    raw_level = _nanmedian(_level_blocks(grid.values, origin, season, spec.level_weeks))
    naive = _gather(grid.values, targets - lag)
    naive = _first_finite(naive, raw_profile, raw_level[:, None])
    # The same with past stated effects divided out (times the target's stated effect, a
    # candidate forecast of the plan; see tokenplan.forecasting.candidates): no effect counted twice.
    naive_adjusted = _first_finite(_gather(values, targets - lag), profile, level[:, None])
    log_level = np.log1p(level)[:, None]
    stated = grid.offset[:, targets]
    base = {
        "local_linear": log_level + slope[:, None] * (np.minimum(steps, spec.trend_steps or horizon)[None, :]
                                                      + (np.where(shifted, season, spec.level_steps)[:, None] - 1) / 2),
        "level": np.broadcast_to(log_level, (n_keys, len(steps))),
    }
    # The stated multiplier scales the count, not count + 1: exact for small counts too.
    anchors = {name: np.log1p(np.expm1(anchor) * np.exp(stated)) for name, anchor in base.items()}
    launch = grid.launch_index[:, targets]
    times = grid.times[targets]
    memory = spec.launch_memory_weeks * season
    since = np.where(launch > NO_LAUNCH, np.minimum(targets[None, :] - launch, memory), memory)
    shape = (n_keys, len(steps))
    columns = {
        "key": np.repeat(np.arange(n_keys), len(steps)),
        "origin_index": np.full(n_keys * len(steps), origin),
        "target_index": np.tile(targets, n_keys),
        "step": np.tile(steps, n_keys).astype(float),
        "log_level": np.broadcast_to(log_level, shape).ravel(),
        "weekly_growth": np.broadcast_to((slope * season)[:, None], shape).ravel(),
        "recent_ratio": np.broadcast_to((np.log1p(recent) - np.log1p(level))[:, None], shape).ravel(),
        "seasonal_index": (np.log1p(profile) - log_level).ravel(),
        "last_same_phase": (np.log1p(same_phase[0]) - log_level).ravel(),
        "day_of_week": np.tile(times.dayofweek.to_numpy(), n_keys).astype(float),
        "is_holiday": np.tile(grid.holiday[targets], n_keys),
        "campaign": grid.campaign[:, targets].ravel(),
        "launch_after_origin": (launch > origin).astype(float).ravel(),
        "steps_since_launch": since.astype(float).ravel(),
        "stated_effect": stated.ravel(),
        "seasonal_naive": naive.ravel(),
        "seasonal_naive_adjusted": naive_adjusted.ravel(),
        "anchor_local_linear": anchors["local_linear"].ravel(),
        "anchor_level": anchors["level"].ravel(),
        "y": grid.values[:, targets].ravel(),
    }
    last = _gather(values, np.array([origin]))[:, 0]
    columns["last_value"] = np.broadcast_to((np.log1p(last) - np.log1p(level))[:, None], shape).ravel()
    if spec.freq == "h":
        columns["hour"] = np.tile(times.hour.to_numpy(), n_keys).astype(float)
        columns.update(_daily_cycle(values, origin, targets, steps, level, shape))
    if spec.yearly and spec.freq == "D":
        columns["yearly_change"] = _yearly_change(values, origin, targets, spec).ravel()
    return columns


def _yearly_change(values: np.ndarray, origin: int, targets: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(keys, steps): how far the days around each target's date stood above the level a year (and two years)
    before, in log, averaged over the years there are: ``log1p(mean of the 7 days around target - 364k)``
    less ``log1p(level at origin - 364k)`` (the same level window as the anchor's). The weekly features
    know only the last weeks; a yearly swing (a January rebound, a summer lull) is what the same dates did
    before. NaN where no year before is observed."""
    years = []
    for k in range(1, _YEARS_BACK + 1):
        back = origin - k * YEAR_STEPS
        if back - spec.level_steps < 0:
            break
        level = _nanmedian(_level_blocks(values, back, spec.season, spec.level_weeks))
        days = np.stack([_gather(values, targets - k * YEAR_STEPS + d)
                         for d in range(-_YEAR_WINDOW, _YEAR_WINDOW + 1)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no day observed around a date
            years.append(np.log1p(np.nanmean(days, axis=0)) - np.log1p(level)[:, None])
    if not years:
        return np.full((values.shape[0], len(targets)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(years), axis=0)


def _daily_cycle(values: np.ndarray, origin: int, targets: np.ndarray, steps: np.ndarray, level: np.ndarray,
                 shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Hourly features of the daily cycle, all relative to the level and observed at the origin."""
    day = 24
    lag = day * np.ceil(steps / day).astype(int)
    same_hour = np.stack([_gather(values, targets - lag - m * day) for m in range(7)], axis=0)
    last_day = _gather(values, origin - day + 1 + np.arange(day))
    log_level = np.log1p(level)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nothing observed at that hour
        profile = np.nanmean(same_hour, axis=0)
        day_mean = np.nanmean(last_day, axis=1)
    return {
        "last_day_same_hour": (np.log1p(same_hour[0]) - log_level).ravel(),
        "daily_index": (np.log1p(profile) - log_level).ravel(),
        "last_day_ratio": np.broadcast_to((np.log1p(day_mean) - np.log1p(level))[:, None], shape).ravel(),
        # Not a model feature: the daily naive candidate (the same hour yesterday, or that
        # hour's mean over the last week where yesterday's is missing), stated effects out.
        "daily_naive_adjusted": _first_finite(same_hour[0], profile, level[:, None]).ravel(),
    }


def make_examples(
    series: pd.DataFrame, events: pd.DataFrame, origins: list, spec: FeatureSpec
) -> pd.DataFrame:
    """Examples for each origin and step: features, the trend ``anchor`` and targets ``y``, ``z``.

    ``series`` is the long ``series, target, ds, y`` table; ``y`` after an origin is only
    used as the label of that origin's rows, never in their features. Rows whose anchor
    is undefined (too little history at the origin) are dropped; rows with unknown ``y``
    are kept (the future, or gaps) with ``z = NaN``.
    """
    end = max(series["ds"].max(), max(origins)) + pd.Timedelta(spec.horizon, unit=spec.freq.lower())
    grid = _Grid(series, events, spec, end)
    parts = []
    for origin in origins:
        i = grid.index.get(pd.Timestamp(origin))
        if i is None:
            raise ValueError(f"origin {origin} is not on the {spec.freq} grid of the series")
        parts.append(pd.DataFrame(_examples_at(grid, i, spec)))
    examples = pd.concat(parts, ignore_index=True)
    del parts
    # One copy of the rows kept, never another (reset_index and drop each copy every column:
    # gigabytes and seconds at 1,000 series).
    examples = examples[np.isfinite(examples["anchor_level"])]
    examples.index = pd.RangeIndex(len(examples))
    keys = grid.keys.iloc[examples["key"].to_numpy()].reset_index(drop=True)
    examples.insert(0, "series", pd.Categorical(keys["series"]))
    examples.insert(1, "target", pd.Categorical(keys["target"]))
    examples.insert(2, "origin", grid.times[examples["origin_index"].to_numpy()])
    examples.insert(3, "ds", grid.times[examples["target_index"].to_numpy()])
    for column in ("key", "origin_index", "target_index"):
        del examples[column]
    return with_trend(examples, "local_linear" if spec.trend == "auto" else spec.trend)


def with_trend(examples: pd.DataFrame, trend: str) -> pd.DataFrame:
    """``examples`` with ``anchor`` and the label ``z`` taken from the ``trend`` anchor.

    A shallow copy: the two columns are replaced, never written into, so the other columns
    are shared with ``examples`` (a deep copy of the model input table cost a gigabyte at
    1,000 series in every training node). Write into the result's other columns only after
    copying it.
    """
    if trend not in TRENDS:
        raise ValueError(f"trend must be one of {TRENDS} or 'auto', got {trend!r}")
    out = examples.copy(deep=False)
    out["anchor"] = out[f"anchor_{trend}"]
    out["z"] = np.log1p(out["y"]) - out["anchor"]
    return out


def spec_from_params(params: dict, layout: dict | None = None) -> FeatureSpec:
    """FeatureSpec from the ``feature_engineering`` parameters, with the history's layout if given.

    The layout (``tokenplan.forecasting.layout``) fixes the horizon in steps, the season and the
    level window that this history supports.
    """
    fields = FeatureSpec.__dataclass_fields__
    values = {k: v for k, v in params.items() if k in fields}
    if layout is not None:
        values |= {"horizon": layout["horizon"], "season_steps": layout["season"],
                   "level_weeks": layout["level_blocks"],
                   "trend_steps": layout["window"] if layout["window"] < layout["horizon"] else None,
                   "yearly": layout.get("freq") == "D" and YEARLY_DAYS in layout.get("seasons", [])}
    return FeatureSpec(**values)
