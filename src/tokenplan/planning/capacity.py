"""Peak per-minute demand forecast against the rate limits, and when each limit is crossed.

The forecast gives bucket totals (days or hours) with quantiles; a limit binds on the
busiest minute. The peak model joins them by simulation, per unit (a model group, or a
series) and metric:

1. **Totals.** Each draw takes the bucket total from the forecast's quantiles at a
   normal score ``z``: log-linear between P50 and the outer quantiles, so P10/P50/P90
   are reproduced. ``z = rho * common + sqrt(1 - rho^2) * own``: forecast errors are
   partly shared over the horizon (a level error) and partly bucket by bucket;
   ``rho`` is ``error_correlation`` in config, an assumption the backtest checks. Past
   the forecast's backtested window (``PeakModel.level_after``) a bucket's own part keeps
   the window's width and its widening is shared (``_own_weights``).
2. **Peak-to-mean ratios, drawn with the volume.** History's buckets of the last
   ``ratio_weeks`` weeks are ranked by how busy each was for its week and its kind
   (weekday or weekend for days; also the UTC hour for hours). A bucket whose own score
   ranks at ``u`` draws the ratio of busiest minute to mean minute of a history bucket
   of its kind near rank ``u``: a busy bucket takes a busy bucket's burst, a quiet one a
   quiet one's. Ratios are measured where the history has per-minute peaks, else
   assumed (see ``tokenplan.planning.peaks``).
3. **Beyond the forecast's top quantile, history's spikes.** The forecast's quantiles
   say nothing above their top one (P90), and a log-linear tail is far too thin for news
   spikes, launches and retry storms. A bucket whose own score ranks above it takes,
   instead, one of history's busiest buckets of any kind above the same level (the
   busiest tenth for a P90; spikes are too rare to find per kind): its total is the
   forecast's top quantile times how far that bucket's volume went beyond history's own
   quantile at that level, and its ratio is that
   bucket's. A spike's burst comes with a spike's volume. The busy buckets that are not
   spikes (``SPIKE_MIN_BEYOND``) are the recent weeks'; the spikes are all history's, at
   their rate over all of it, so how often one recurs does not hang on whether it fell in
   the last ``ratio_weeks`` weeks. A plan row names the spikes that set its P50 or P90, and
   the bursts (``BURST_MIN_BEYOND``: a busiest minute far beyond its kind's usual multiple
   of the mean minute, at any volume) that do.
4. **Peaks.** ``peak = total / minutes per bucket * ratio``. A period's peak is the
   highest bucket peak in it, per draw; its P50 and P90 are quantiles over draws. Every
   window (day, month, horizon) is read off the same draws.

5. **Calibration.** The capacity backtest (``tokenplan.planning.capacity_backtest``)
   compares the realised peaks of held-out days, months and whole windows with this
   peak model, fed the *realised* bucket totals, with history's own busiest minutes, and
   fits one correction of the peak-to-mean ratios (:class:`PeakCalibration`). It is an
   increasing function of each bucket's ratio, applied before any window's peak is
   taken, so one quantile is consistent across windows: a month's P90 is never above its
   horizon's, nor a day's above its month's. The forecast's quantiles of totals are
   used as they come; only the tail beyond the top one is history's (step 3).

A limit is crossed on the first day by which the busiest minute since the window began is over it at P50
(or P90): the median first day over (or the day by which 1 draw in 10 has been over). So a window has a
crossing exactly when its own P50 (P90) busiest minute is over the limit; a day-by-day reading (the first
day whose own P90 is over) said "not crossed" beside a horizon P90 65% over the limit.
After the horizon, a log-linear fit to the weekly highs of the daily P50 and P90 peaks
gives the date the fitted growth would cross it: an extrapolation, labelled as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtr

from tokenplan.planning.peaks import REQUIRED_DRIVERS, available_drivers, bucket_minutes, driver_targets, whole_days
from tokenplan.planning.rate_limits import planned_metrics
from tokenplan.forecasting.totals import forecast_periods
from tokenplan.schemas import naive_utc

PLAN_COLUMNS: tuple[str, ...] = (
    "model_group", "period", "metric", "start", "end", "p50", "p90", "limit", "headroom_p90",
    "first_crossing_p50", "first_crossing_p90", "extrapolated_crossing_p50", "extrapolated_crossing_p90",
    "peak_method", "spike_days", "spike_size", "spike_burst", "spike_median_burst", "spike_kind",
    "spike_history_buckets", "spike_pool_buckets", "spike_chance", "p50_without_spikes", "p90_without_spikes",
    "p50_without_biggest_spike", "p90_without_biggest_spike",
    "history_days_over", "history_last_over", "history_peak", "history_days_summed", "history_peak_summed",
)
# The per-day peak forecast (``capacity_peak_forecast``): each day's busiest minute, the busiest minute since the
# horizon began (``*_so_far``, whose first day over the limit is the horizon's first day over), and whether the
# forecast covers every bucket of the day.
DAY_COLUMNS: tuple[str, ...] = ("model_group", "metric", "ds", "p50", "p90", "p50_so_far", "p90_so_far", "whole_day",
                                "limit")

# Width, in ranks of history's buckets (0 to 1), of the neighbourhood a bucket's ratio is drawn from.
RATIO_BANDWIDTH = 0.3
# A spike: a bucket at least SPIKE_MIN_BEYOND times as busy for its week as history's busiest tenth begins (a
# busy Monday is not one); how often spikes recur is their rate over all the history.
# A row names the spikes that lift its P50 or P90 by at least SPIKE_NOTE_SHARE: the biggest few that make at
# least SPIKE_NOTE_PART of what the biggest MAX_NAMED_SPIKES together add.
SPIKE_MIN_BEYOND = 2.0
# A burst: a bucket whose busiest minute over its mean minute is at least BURST_MIN_BEYOND times its kind's usual
# (median) one, whatever its volume: a burst minute in a normal hour. It is drawn as any ratio is, and named as a
# spike is where it sets a row's P50 or P90.
BURST_MIN_BEYOND = 2.0
SPIKE_NOTE_SHARE = 0.1
SPIKE_NOTE_PART = 0.9
MAX_NAMED_SPIKES = 3
# Fewest whole weeks of forecast peaks a growth extrapolation is fitted to.
MIN_FIT_WEEKS = 6

__all__ = [
    "BURST_MIN_BEYOND",
    "DAY_COLUMNS",
    "GAP_COLUMNS",
    "MIN_FIT_WEEKS",
    "StatedStep",
    "PLAN_COLUMNS",
    "SPIKE_NOTE_SHARE",
    "capacity_gaps",
    "PeakCalibration",
    "PeakDraws",
    "PeakModel",
    "bucket_peak_draws",
    "ratio_pool_size",
    "realised_ratio_draws",
    "total_scores",
    "unit_step",
    "volume_standing",
    "Window",
    "day_busiest",
    "day_quantiles",
    "extrapolated_crossing",
    "first_crossing",
    "floor_at_members",
    "history_over_limit",
    "plan_gap",
    "plan_rows",
    "running_quantiles",
    "window_kind",
    "windows",
]


@dataclass(frozen=True)
class PeakModel:
    """Settings of the peak simulation (``planning.capacity`` in config)."""

    n_draws: int = 1000
    error_correlation: float = 0.5
    ratio_weeks: int = 8
    seed: int = 0
    extrapolate_days: int = 730
    # Buckets the forecast's backtest windows span (the layout's window); past them a bucket's
    # interval widens as a level error does, and that widening is drawn shared (None: no split).
    # ``season``: the layout's season, the buckets over which an interval's width repeats.
    level_after: int | None = None
    season: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_correlation <= 1.0:
            raise ValueError(f"error_correlation must be in [0, 1], got {self.error_correlation!r}")
        if self.n_draws < 10 or self.ratio_weeks < 1:
            raise ValueError("n_draws must be >= 10 and ratio_weeks >= 1")


def _levels(quantile_names: Sequence[str]) -> list[float]:
    return [int(name[1:]) / 100 for name in quantile_names]


def driver_quantiles(forecast: pd.DataFrame, series: Sequence[str], metric: str, counts_cache_reads: bool,
                     quantile_names: Sequence[str], time_column: str = "timestamp") -> pd.DataFrame:
    """Per bucket, the forecast quantiles of the metric's driver summed over ``series`` and its targets.

    Adding quantiles treats the parts as moving together (comonotonic). A cache target
    that is not forecast (the usage has no such column) counts as zero; empty when the
    metric's own driver is not forecast (e.g. no request counts, so no RPM).
    """
    mine = forecast[forecast["series"].isin(list(series))]
    drivers = available_drivers(metric, counts_cache_reads, mine["target"].unique())
    rows = mine[mine["target"].isin(drivers)]
    if rows.empty:
        return pd.DataFrame(columns=list(quantile_names))
    return rows.assign(ds=naive_utc(rows[time_column])).groupby("ds")[list(quantile_names)].sum().sort_index()


def _each_series_driver_quantiles(forecast: pd.DataFrame, metric: str, counts_cache_reads: bool,
                                  quantile_names: Sequence[str], time_column: str) -> dict[str, pd.DataFrame]:
    """Per series, :func:`driver_quantiles` of that series alone, from one grouping of the whole forecast.

    The same rows add up in the same order per series and bucket, so each frame equals
    ``driver_quantiles(forecast, [series], ...)`` of a series whose required driver is
    forecast (a grouping per series cost most of the per-series plan at 1,000 series).
    """
    rows = forecast[forecast["target"].isin(driver_targets(metric, counts_cache_reads))]
    summed = rows.assign(ds=naive_utc(rows[time_column])).groupby(["series", "ds"])[list(quantile_names)].sum()
    return {series: frame.droplevel("series") for series, frame in summed.groupby(level="series", sort=False)}


def _median_name(names: Sequence[str]) -> str:
    """The quantile column nearest the median (``p50``)."""
    return list(names)[int(np.argmin(np.abs(np.asarray(_levels(list(names))) - 0.5)))]


def _spreads(quantiles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bucket: log P50, and the log spread per unit of normal score above and below it."""
    names = list(quantiles.columns)
    levels = _levels(names)
    log_mid = np.log(np.clip(quantiles[_median_name(names)].to_numpy(float), 1e-9, None))
    z_lo, z_hi = NormalDist().inv_cdf(levels[0]), NormalDist().inv_cdf(levels[-1])
    spread_hi = (np.log(np.clip(quantiles[names[-1]].to_numpy(float), 1e-9, None)) - log_mid) / z_hi
    spread_lo = (log_mid - np.log(np.clip(quantiles[names[0]].to_numpy(float), 1e-9, None))) / -z_lo
    return log_mid, np.clip(spread_lo, 0, None), np.clip(spread_hi, 0, None)


# Past the forecast's top quantile a bucket's total is extrapolated along its own log spread, but never faster
# than a top quantile this many times its median would: a bucket forecast empty at P50 (a model used on some
# days) has a log spread of ~25 from a P50 clipped to 1e-9, and a shared level score of 1.75 drew 2e10 tokens a
# day where its P90 was 140K (a sparse Haiku's ITPM P90 40 times anything in its history).
MAX_TAIL_RATIO = 10.0


def _top_score(quantiles: pd.DataFrame) -> float:
    """The normal score of the forecast's top quantile level (0 where no level is above the median)."""
    return max(NormalDist().inv_cdf(min(max(_levels(list(quantiles.columns))), 1 - 1e-9)), 0.0)


def _tail_spread(spread_hi: np.ndarray, z_top: float) -> np.ndarray:
    """The log spread per unit of score past the top quantile (``MAX_TAIL_RATIO``; ``z_top`` > 0)."""
    return np.minimum(spread_hi, np.log(MAX_TAIL_RATIO) / z_top)


def _from_scores(log_mid: np.ndarray, spread_lo: np.ndarray, spread_hi: np.ndarray, z: np.ndarray,
                 z_top: float) -> np.ndarray:
    """Totals at normal scores ``z``: the forecast's quantiles up to its top one, then its tail (``MAX_TAIL_RATIO``)."""
    value = log_mid + z * np.where(z > 0, spread_hi, spread_lo)
    if z_top <= 0:
        return np.exp(value)
    beyond = log_mid + z_top * spread_hi + (z - z_top) * _tail_spread(spread_hi, z_top)
    return np.exp(np.where(z > z_top, beyond, value))


def _tail_level(quantiles: pd.DataFrame) -> float:
    """The forecast's top quantile level, above which history's spikes are drawn (1: none, when no level is
    above the median)."""
    top = max(_levels(list(quantiles.columns)))
    return top if 0.5 < top < 1 else 1.0


def _own_weights(spread_lo: np.ndarray, spread_hi: np.ndarray, rho: float, level_after: int | None,
                 season: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per bucket, the weights of its own score and of the shared score in its total's normal score
    (their squares add up to 1).

    ``sqrt(1 - rho^2)`` and ``rho`` inside the backtested window (exactly, so those draws are
    as before). Past it (``level_after`` buckets) a bucket's interval widens because a level
    error accumulates (``tokenplan.forecasting.conformal``): that widening is shared by every
    bucket after it, so the own part keeps the width of the same phase of the ``season``
    (the forecast layout's) in the window's last season, or the window's widest where the window
    is shorter than a season, and the shared part takes the rest. Drawn as own noise
    instead, the widening lifted the P50 of a month's busiest bucket month after month at a
    flat volume (a 21-day Console export: Opus's P50 ITPM peak up 26% from October to
    December while its P50 volume rose 3%). Each bucket's own quantiles are drawn as before.
    """
    n = len(spread_lo)
    own, shared = np.full(n, np.sqrt(1 - rho**2)), np.full(n, float(rho))
    if not level_after or n <= level_after:
        return own, shared
    spread = (spread_lo + spread_hi) / 2
    position = np.arange(n)
    # The same phase in the window's last season: position - k * season, k the fewest seasons back.
    same_phase = position - season * np.ceil((position - (level_after - 1)) / max(season, 1)).astype(int)
    reference = np.where(same_phase >= 0, spread[np.clip(same_phase, 0, None)], spread[:level_after].max())
    wider = (position >= level_after) & (spread > reference)
    own = np.where(wider, own * np.divide(reference, spread, out=np.ones(n), where=wider), own)
    shared = np.where(wider, np.sqrt(1 - own**2), shared)
    return own, shared


def _total_draws(quantiles: pd.DataFrame, n_draws: int, rho: float, rng: np.random.Generator,
                 level_after: int | None = None, season: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Bucket totals and each bucket's own normal score, (draws, buckets); the own score is capped at the
    forecast's top quantile (the tail beyond it comes from history, see :func:`bucket_peak_draws`)."""
    log_mid, spread_lo, spread_hi = _spreads(quantiles)
    own = rng.standard_normal((n_draws, len(quantiles)))
    top = _tail_level(quantiles)
    capped = np.minimum(own, NormalDist().inv_cdf(top)) if top < 1 else own
    weight, shared = _own_weights(spread_lo, spread_hi, rho, level_after, season)
    z = shared * rng.standard_normal((n_draws, 1)) + weight * capped
    return _from_scores(log_mid, spread_lo, spread_hi, z, _top_score(quantiles)), own


def total_scores(quantiles: pd.DataFrame, totals: np.ndarray) -> np.ndarray:
    """The normal score of each bucket total against the forecast's quantiles (the inverse of the draws' map)."""
    log_mid, spread_lo, spread_hi = _spreads(quantiles)
    excess = np.log(np.clip(np.asarray(totals, float), 1e-9, None)) - log_mid
    spread = np.where(excess > 0, spread_hi, spread_lo)
    scores = np.divide(excess, spread, out=np.zeros_like(excess), where=spread > 0)
    z_top = _top_score(quantiles)
    if z_top > 0:  # beyond the top quantile, the tail's spread (:func:`_from_scores`)
        tail = _tail_spread(spread_hi, z_top)
        over = excess - z_top * spread_hi
        beyond = z_top + np.divide(over, tail, out=np.zeros_like(over), where=tail > 0)
        scores = np.where((over > 0) & (spread_hi > 0), beyond, scores)
    return scores


def _ratio_keys(ds: pd.DatetimeIndex, freq: str) -> np.ndarray:
    weekend = np.asarray(ds.dayofweek >= 5, dtype=int)
    return weekend if bucket_minutes(freq) >= 1440 else weekend * 100 + np.asarray(ds.hour)


def volume_standing(history: pd.DataFrame) -> np.ndarray:
    """Each history bucket's total over the mean total of the 7 days around it: how busy it was for its week.

    Within half a week of history's first or last bucket the week is the first (last) whole 7 days, not a
    centred window cut short: a cut window misses part of the weekly cycle. A weekly batch day at 50 times the
    other days (history starting on a Monday) left its first days' cut windows without a Sunday, so a quiet
    Monday stood 8 times as busy as the weekdays' usual, was one of history's spikes, and put the horizon's
    P90 busiest minute at 3 times history's busiest (the draws' ceiling) against every month's 1.07 times.
    """
    frame = history.sort_values("ds")
    ds = pd.DatetimeIndex(frame["ds"])
    times = ds.asi8 if ds.tz is None else ds.tz_convert("UTC").tz_localize(None).asi8
    totals = frame["total"].to_numpy(float)
    week, half = pd.Timedelta(days=7).value, pd.Timedelta(days=3.5).value
    # The window (left, left + week], centred on the bucket where history allows, else moved inside it.
    left = np.maximum(np.minimum(times - half, times[-1] - week), times[0] - 1) if len(times) else times
    known = np.isfinite(totals)
    sums = np.r_[0.0, np.cumsum(np.where(known, totals, 0.0))]
    counts = np.r_[0, np.cumsum(known)]
    lo = np.searchsorted(times, left, side="right")
    hi = np.searchsorted(times, left + week, side="right")
    with np.errstate(invalid="ignore", divide="ignore"):
        level = (sums[hi] - sums[lo]) / (counts[hi] - counts[lo])
        standing = np.where(level > 0, totals / level, np.nan)
    standing = np.where(np.isfinite(standing), standing, 1.0)
    return pd.Series(standing, index=frame.index).reindex(history.index).to_numpy()


def _ratio_pool(history: pd.DataFrame, weeks: int) -> np.ndarray:
    """Which of history's buckets the ratios are drawn from: those with a ratio in its last ``weeks`` weeks."""
    pool = np.isfinite(history["ratio"].to_numpy(float))
    if pool.any():
        pool &= (history["ds"] > history["ds"][pool].max() - pd.Timedelta(weeks=weeks)).to_numpy()
    return pool


def ratio_pool_size(history: pd.DataFrame, weeks: int) -> int:
    """How many of history's buckets the ratios are drawn from (the last ``weeks`` weeks with a ratio)."""
    return int(_ratio_pool(history, weeks).sum())


class RatioDraws(NamedTuple):
    """What :func:`_ratio_draws` gives, each of the shape of the scores (draws, buckets)."""

    ratios: np.ndarray  # the peak-to-mean ratio drawn
    beyond: np.ndarray  # how far the total goes beyond the forecast's top quantile (1 inside it)
    spike: np.ndarray   # the position in the history of the spike bucket taken (-1: none)
    plain: np.ndarray   # the ratio a bucket inside the forecast's quantiles at the same rank would take
    source: np.ndarray  # the position in the history of the bucket whose ratio was taken
    usual: np.ndarray   # per bucket (of ``ds``), its kind's usual (median) ratio
    bursts: np.ndarray  # the positions in the history of its bursts (``BURST_MIN_BEYOND``)


def _ranked_standing(history: pd.DataFrame, rows: np.ndarray, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """The positions of ``rows`` (a mask over ``history``) ordered by how busy each was for its week over the
    median of its kind, and those standings in that order."""
    positions = np.flatnonzero(rows)
    keys = _ratio_keys(pd.DatetimeIndex(history["ds"].to_numpy()[positions]), freq)
    standing = volume_standing(history)[positions]
    median = pd.Series(standing).groupby(keys).transform("median").to_numpy()
    standing = np.divide(standing, median, out=np.ones_like(standing), where=median > 0)
    order = np.argsort(standing, kind="stable")
    return positions[order], standing[order]


def _tail_buckets(history: pd.DataFrame, recent: np.ndarray, standing: np.ndarray, top: float,
                  freq: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The buckets a draw beyond the forecast's ``top`` quantile takes, in the order its rank picks them:
    their positions in ``history``, their volume beyond the threshold of history's busiest ``1 - top``, whether
    each is a spike, and the spikes' share of the picks.

    ``recent`` (positions) and ``standing``: the recent pool ranked (:func:`_ranked_standing`). Its busiest
    ``1 - top`` that are not spikes come first; then the spikes (at least ``SPIKE_MIN_BEYOND`` times the
    threshold) of *all* history, taken as often as they were among all history's busiest ``1 - top``.
    """
    def busiest(ranked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        threshold = float(np.quantile(ranked, top))
        tail = ranked >= threshold
        return tail, (np.maximum(ranked[tail] / threshold, 1.0) if threshold > 0 else np.ones(tail.sum()))

    every, every_standing = _ranked_standing(history, np.isfinite(history["ratio"].to_numpy(float)), freq)
    every_tail, every_beyond = busiest(every_standing)
    is_spike = every_beyond >= SPIKE_MIN_BEYOND
    spikes, spike_beyond = every[every_tail][is_spike], every_beyond[is_spike]
    recent_tail, recent_beyond = busiest(standing)
    normal = ~np.isin(recent[recent_tail], spikes)
    normal_at, normal_beyond = recent[recent_tail][normal], recent_beyond[normal]
    if not len(normal_at):  # a pool of spikes alone: the normal busy buckets of all history
        normal_at, normal_beyond = every[every_tail][~is_spike], every_beyond[~is_spike]
    share = float(is_spike.mean()) if len(normal_at) else 1.0
    return (np.concatenate([normal_at, spikes]), np.concatenate([normal_beyond, spike_beyond]),
            np.r_[np.zeros(len(normal_at), bool), np.ones(len(spikes), bool)], share)


def _lent(pools: dict, lender_ds: np.ndarray, ds: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """(lenders, buckets): the factor a busy bucket of history lends its ratio at, to each bucket of ``ds``.

    A day's ratio is its busiest minute over its mean minute, so it holds the day's own shape
    and level: a Saturday's is over a Saturday's quiet mean minute. Lent to a weekday whole,
    the demo organisation's labs team (busy on weekdays, ratio about 20; quiet weekends, about
    45) had a P50 ITPM peak of 460K against the simulator's true 220K; lent against its kind's
    usual (median) ratio, times the weekday's usual one, 376K.

    An hour's ratio is its burstiness within the hour, lent whole, except by an hour of a burstier
    kind, which lends at the borrowing hour's usual ratio times its own over its kind's usual. A
    night hour of a few requests a minute is bursty by counting alone (its busiest minute holds a
    few requests more than its mean one), and that does not scale to an office hour's volume: on
    six weeks of the Azure code trace replayed with quiet nights, Sonnet's busiest tenth of hours
    (of any kind) had a median OTPM ratio of 12.4 against 4.6 in weekday office hours, and taken
    whole they put the two weeks' P50 OTPM peak at 36.9K against history's busiest minute of
    9.7K. Lent against the hour's usual both ways, two of the 14 weeks of
    ``benchmarks/capacity_peaks.py`` (real 5-minute counts) fell 4-6% over their P90 (under it in
    78.6% of weeks instead of 92.9%): a calmer hour's burst, lent to a burstier hour, stays whole.
    The square-root shrink of :func:`_counted` does not replace this rule: with hours lent whole and only that
    shrink, the same log's two-week P50 peaks were Haiku RPM 473 and Sonnet OTPM 35.2K (244 and 12.6K with both
    rules; history's busiest minutes 253 and 9.7K; measured 2026-12-07).
    """
    lender, own = _usual(pools, lender_ds, freq), _usual(pools, ds, freq)
    factor = own[None, :] / np.where(lender > 0, lender, 1.0)[:, None]
    return factor if bucket_minutes(freq) >= 1440 else np.minimum(factor, 1.0)


def _usual(pools: dict, ds, freq: str, missing: float | None = None) -> np.ndarray:
    """Per bucket of ``ds``, the median of its kind's pool (``_ratio_keys``); a kind without one takes ``missing``,
    by default the median of every pool together (1 without any)."""
    usual = {key: float(np.median(p)) for key, p in pools.items() if len(p)}
    values = [p for p in pools.values() if len(p)]
    if missing is None:
        missing = float(np.median(np.concatenate(values))) if values else 1.0
    return np.array([usual.get(k, missing) for k in _ratio_keys(pd.DatetimeIndex(ds), freq)])


def _counted(ratio: np.ndarray, total: np.ndarray, pools: dict, volumes: dict, lender_ds: np.ndarray,
             ds: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """(lenders, buckets): each lender's ratio with its excess over its kind's usual (median) ratio shrunk to what
    chance leaves of it at the borrowing bucket's usual volume.

    A busiest minute's lead over the mean minute is partly chance, and chance shrinks with the square root of
    the count: an hour of 68 requests whose busiest minute held a few long outputs more than its mean one is
    bursty by counting alone, not by the kind of traffic an office hour of 2,400 requests has. So the excess,
    in logs, is kept in the proportion ``sqrt(lender's total / borrower's usual total)`` (at most whole): a
    spike that brought its own volume keeps its burst; a sparse hour's lends little of it. On six weeks of the
    Azure code trace replayed with quiet nights (Sonnet, hourly, two weeks ahead), 99% of the draws that set
    the horizon's busiest OTPM minute took a night hour's (median 68 requests, ratio 25.3, twice its kind's
    usual): lent at 11.1 to office hours whose own ratio never passed 7.6, they put the P50 at 23.0K
    against history's busiest minute of 9.7K.
    """
    lender_usual, own_volume = _usual(pools, lender_ds, freq), _usual(volumes, ds, freq, missing=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.sqrt(np.clip(total[:, None] / own_volume[None, :], 0.0, 1.0))
        excess = np.log(ratio / lender_usual)
    share = np.where(np.isfinite(share), share, 1.0)
    excess = np.where(np.isfinite(excess) & (lender_usual > 0), excess, 0.0)[:, None]
    return np.where(excess > 0, lender_usual[:, None] * np.exp(excess * share), ratio[:, None])


def _ratio_draws(history: pd.DataFrame, ds: pd.DatetimeIndex, freq: str, weeks: int, scores: np.ndarray,
                 rng: np.random.Generator, top: float = 1.0) -> RatioDraws:
    """Peak-to-mean ratios drawn from history, how far beyond the forecast's ``top`` quantile each bucket's
    total goes, and which of history's spikes each took (:class:`RatioDraws`).

    History's buckets are ranked by :func:`volume_standing` over its median for their kind
    (weekday or weekend; also the UTC hour for hours). A bucket whose own normal score
    ``scores`` ranks at ``u``: up to ``top``, it takes the ratio of a bucket of its kind
    near rank ``u`` (within ``RATIO_BANDWIDTH``) in the last ``weeks`` weeks; beyond ``top``,
    one of history's busiest ``1 - top`` of buckets of any kind (spikes are too rare to find
    per kind), near rank ``(u - top) / (1 - top)`` among them, with its volume beyond their
    threshold: a spike's burst comes with a spike's volume. A day's ratio is lent against its kind's
    usual (median) ratio, times the drawing day's kind's; an hour's so only where its kind is the
    burstier (:func:`_lent`); either's excess over its kind's usual only as far as its volume is
    not chance's at the drawing bucket's (:func:`_counted`). The busy buckets that are not
    spikes are the last ``weeks`` weeks' (the shape of today's traffic); the spikes are all
    history's, each as often as it was among all history's busiest (:func:`_tail_buckets`):
    drawn from the last 8 weeks alone, one spike day of 146 that fell in them recurred as
    one day in 56.
    """
    ratio_of = history["ratio"].to_numpy(float)
    recent, standing = _ranked_standing(history, _ratio_pool(history, weeks), freq)
    keys = _ratio_keys(pd.DatetimeIndex(history["ds"].to_numpy()[recent]), freq)
    ratio = ratio_of[recent]
    pools = {key: ratio[keys == key] for key in np.unique(keys)}
    where = {key: recent[keys == key] for key in np.unique(keys)}
    volume = history["total"].to_numpy(float)[recent]
    volumes = {key: volume[keys == key] for key in np.unique(keys)}
    u = ndtr(scores)
    body = u + (rng.random(scores.shape) - 0.5) * RATIO_BANDWIDTH * top
    body = top - np.abs(top - np.abs(body))  # reflected into [0, top]: uniform ranks stay uniform
    out, beyond, spike = np.empty(scores.shape), np.ones(scores.shape), np.full(scores.shape, -1)
    source = np.full(scores.shape, -1)
    for j, key in enumerate(_ratio_keys(ds, freq)):
        pool, at_pool = pools.get(key), where.get(key)
        pool, at_pool = (pool, at_pool) if pool is not None and len(pool) else (ratio, recent)
        taken = np.minimum((body[:, j] * len(pool)).astype(int), len(pool) - 1)
        out[:, j], source[:, j] = pool[taken], at_pool[taken]
    plain = out.copy()
    spiked = u > top
    if top < 1 and spiked.any():
        at, tail_beyond, is_spike, share = _tail_buckets(history, recent, standing, top, freq)
        normal, spikes = int((~is_spike).sum()), int(is_spike.sum())
        rank = (u[spiked] - top) / (1 - top)
        pick = np.where(rank < 1 - share,
                        np.minimum((rank / max(1 - share, 1e-12) * normal).astype(int), normal - 1),
                        normal + np.minimum(((rank - (1 - share)) / max(share, 1e-12) * spikes).astype(int),
                                            spikes - 1))
        out[spiked] = _counted(ratio_of[at], history["total"].to_numpy(float)[at], pools, volumes,
                               history["ds"].to_numpy()[at], ds, freq)[pick, np.nonzero(spiked)[1]]
        lent = _lent(pools, history["ds"].to_numpy()[at], ds, freq)
        # The same (row-major) order as the picks; a busiest minute is at least the mean minute: a calm busy hour
        # of a bursty kind (a night batch job, ratio 1.5 where its kind's usual is 6) lent at 1.6 / 6 read 0.4.
        out[spiked] = np.maximum(out[spiked] * lent[pick, np.nonzero(spiked)[1]], 1.0)
        beyond[spiked] = tail_beyond[pick]
        spike[spiked] = np.where(is_spike[pick], at[pick], -1)
        source[spiked] = at[pick]
    return RatioDraws(out, beyond, spike, plain, source, _usual(pools, ds, freq), _bursts(history, pools, freq))


def _bursts(history: pd.DataFrame, pools: dict, freq: str) -> np.ndarray:
    """The positions of history's bursts: buckets whose ratio is at least ``BURST_MIN_BEYOND`` times their kind's
    usual (median) one in the ratio pool, however busy they were (a burst minute in a normal-volume hour)."""
    ratio = history["ratio"].to_numpy(float)
    known = np.flatnonzero(np.isfinite(ratio))
    if not len(known):
        return known
    usual = _usual(pools, history["ds"].to_numpy()[known], freq)
    return known[ratio[known] >= BURST_MIN_BEYOND * usual]


class PeakDraws(NamedTuple):
    """Simulated bucket totals and peak-to-mean ratios, shape (draws, buckets), and the minutes per bucket.

    ``spike``: where a bucket took one of history's spikes, that bucket's position in the ratio history (-1
    elsewhere); ``plain_totals`` and ``plain_ratios``: what it would have taken without it (the forecast's top
    quantile, and the ratio of a bucket as busy inside the forecast's quantiles). ``source``: the position in the
    ratio history of the bucket whose ratio each took; ``usual``: per bucket, its kind's usual ratio, which a
    draw that took one of history's ``bursts`` (positions) takes without it.
    """

    totals: np.ndarray
    ratios: np.ndarray
    minutes: float
    spike: np.ndarray | None = None
    plain_totals: np.ndarray | None = None
    plain_ratios: np.ndarray | None = None
    source: np.ndarray | None = None
    usual: np.ndarray | None = None
    bursts: np.ndarray | None = None

    def _taken(self, positions: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Where the draws took one of ``positions`` as a spike (its volume and burst), and where as a burst."""
        positions = np.asarray(positions, dtype=int)
        spiked = (np.isin(self.spike, positions) if self.spike is not None
                  else np.zeros(self.totals.shape, bool))
        if self.source is None or self.bursts is None:
            return spiked, np.zeros(self.totals.shape, bool)
        return spiked, np.isin(self.source, np.intersect1d(positions, self.bursts)) & ~spiked

    def peaks(self, calibration: PeakCalibration | None = None, without: Sequence[int] = ()) -> np.ndarray:
        """Per-minute peaks, shape (draws, buckets): total / minutes x (calibrated) ratio; ``without``: history's
        spikes (positions) whose draws take the plain total and ratio instead, and bursts whose draws take at most
        their bucket's usual ratio."""
        totals, ratios = self.totals, self.ratios
        if len(without):
            spiked, burst = self._taken(without)
            totals = np.where(spiked, self.plain_totals, totals) if spiked.any() else totals
            ratios = np.where(spiked, self.plain_ratios, ratios) if spiked.any() else ratios
            if burst.any():
                ratios = np.where(burst, np.minimum(ratios, self.usual), ratios)
        ratios = ratios if calibration is None else calibration.ratios(ratios)
        return totals / self.minutes * ratios

    def volume_spikes(self) -> np.ndarray:
        """The positions of history's spikes (by volume) the draws took."""
        return np.unique(self.spike[self.spike >= 0]) if self.spike is not None else np.empty(0, dtype=int)

    def met(self, positions: Sequence[int]) -> np.ndarray:
        """Where the draws took one of history's spikes or bursts ``positions``, shape (draws, buckets)."""
        spiked, burst = self._taken(positions)
        return spiked | burst

    def spikes_taken(self, most: int) -> np.ndarray:
        """The positions of history's spikes and bursts the draws took, the biggest first, at most ``most``: by
        how many times its plain peak a draw's peak was at most (a spike's total and ratio over the plain ones,
        a burst's ratio over its bucket's usual)."""
        uplift, at = np.ones(self.totals.shape), np.full(self.totals.shape, -1)
        if self.spike is not None and (self.spike >= 0).any():
            taken = self.spike >= 0
            with np.errstate(invalid="ignore", divide="ignore"):
                volume = self.totals[taken] / self.plain_totals[taken]
                uplift[taken] = np.maximum(volume, volume * self.ratios[taken] / self.plain_ratios[taken])
            at[taken] = self.spike[taken]
        if self.source is not None and self.bursts is not None and len(self.bursts):
            burst = np.isin(self.source, self.bursts) & (at < 0)
            usual = np.broadcast_to(self.usual, self.ratios.shape)
            with np.errstate(invalid="ignore", divide="ignore"):
                uplift[burst] = self.ratios[burst] / np.minimum(self.ratios[burst], usual[burst])
            at[burst] = self.source[burst]
        chosen = (at >= 0) & np.isfinite(uplift) & (uplift > 1.0)
        if not chosen.any():
            return np.empty(0, dtype=int)
        biggest = pd.Series(uplift[chosen]).groupby(at[chosen]).max()
        return biggest.sort_values(ascending=False, kind="stable").index.to_numpy()[:most]


def bucket_peak_draws(quantiles: pd.DataFrame, ratio_history: pd.DataFrame, freq: str, model: PeakModel,
                      rng: np.random.Generator) -> PeakDraws:
    """Simulated totals and ratios of the buckets of ``quantiles``' index (``.peaks()`` gives the peaks).

    ``ratio_history``: ``ds, total, ratio`` of the unit and metric (from ``forecast_bucket_peaks``).
    """
    totals, own = _total_draws(quantiles, model.n_draws, model.error_correlation, rng, model.level_after,
                               model.season)
    top = _tail_level(quantiles)
    drawn = _ratio_draws(ratio_history, pd.DatetimeIndex(quantiles.index), freq, model.ratio_weeks, own, rng, top)
    ceiling = _total_ceiling(quantiles, ratio_history)
    return PeakDraws(np.minimum(totals * drawn.beyond, ceiling), drawn.ratios, bucket_minutes(freq), drawn.spike,
                     np.minimum(totals, ceiling), drawn.plain, drawn.source, drawn.usual, drawn.bursts)


# A bucket total drawn past the forecast's top quantile is at most this many times history's busiest bucket or its
# forecast's P50, whichever is higher (the forecast's own guard caps a P90 at 3 times the recent high, grown).
MAX_OVER_HISTORY = 3.0


def _total_ceiling(quantiles: pd.DataFrame, ratio_history: pd.DataFrame) -> np.ndarray:
    """Per bucket, the highest total a draw may take: its forecast's top quantile, or ``MAX_OVER_HISTORY`` times
    history's busiest bucket or its own P50 (a forecast grown past history) where that is higher.

    The tail past the top quantile follows the forecast's own log spread, and a spread read off
    a backtest fold where a key went intermittent is wide: a key used every other day, its days'
    P90 up to ten times their P50 past the backtested window, drew days of 100K requests against
    history's busiest of 7.5K, and a horizon P90 of 420 requests a minute against history's
    busiest minute of 31 (measured 2026-12-07; 94 with this ceiling).
    """
    busiest = float(np.nanmax(ratio_history["total"].to_numpy(float), initial=0.0))
    top = quantiles[quantiles.columns[-1]].to_numpy(float)
    median = quantiles[_median_name(list(quantiles.columns))].to_numpy(float)
    return np.maximum(top, MAX_OVER_HISTORY * np.maximum(busiest, median)) if busiest > 0 else np.full(len(top), np.inf)


def realised_ratio_draws(quantiles: pd.DataFrame, realised_totals: np.ndarray, ratio_history: pd.DataFrame,
                         freq: str, model: PeakModel, rng: np.random.Generator) -> np.ndarray:
    """Ratios drawn for known bucket totals (the backtest's realised ones), shape (draws, buckets).

    As :func:`bucket_peak_draws` draws them, ranked by each total's own normal score against the
    forecast: its score less the buckets' mean score (the shared level error), rescaled.
    """
    scores = total_scores(quantiles, realised_totals)
    rho = model.error_correlation
    own = (scores - scores.mean()) / (np.sqrt(1 - rho**2) if rho < 1 else 1.0)
    scores = np.broadcast_to(own, (model.n_draws, len(quantiles)))
    top = _tail_level(quantiles)
    return _ratio_draws(ratio_history, pd.DatetimeIndex(quantiles.index), freq, model.ratio_weeks, scores, rng,
                        top).ratios


@dataclass(frozen=True)
class PeakCalibration:
    """The correction the capacity backtest fits to the peak-to-mean ratios: ``scale * ratio ** power``.

    Fitted on history's own busiest minutes against its *realised* bucket totals, so it
    corrects how the peak model turns a bucket total into a busiest minute, never the
    forecast of totals. It is one increasing function of each bucket's ratio: a draw's
    busiest minute over a window is still the highest of its buckets, so a window's P50
    (P90) is never below any of its sub-windows'.
    """

    scale: float = 1.0
    power: float = 1.0

    @classmethod
    def from_mapping(cls, entry: Mapping[str, Any] | None) -> PeakCalibration:
        """The calibration stored in ``capacity_calibration`` (identity when absent)."""
        entry = entry or {}
        return cls(float(entry.get("ratio_scale", 1.0)), float(entry.get("ratio_power", 1.0)))

    def ratios(self, ratios: np.ndarray) -> np.ndarray:
        """Calibrated peak-to-mean ratios."""
        return self.scale * np.power(np.clip(ratios, 0.0, None), self.power)


def first_crossing(ds: pd.DatetimeIndex, values: np.ndarray, limit: float) -> pd.Timestamp:
    """The first bucket whose value exceeds ``limit`` (NaT if none, or no limit)."""
    if not np.isfinite(limit):
        return pd.NaT
    above = np.flatnonzero(np.asarray(values) > limit)
    return pd.Timestamp(ds[above[0]]) if len(above) else pd.NaT


class StatedStep(NamedTuple):
    """A unit's stated event effects over the horizon's days (``daily``, indexed by day) and after it."""

    daily: pd.Series
    after: float


def extrapolated_crossing(ds: pd.DatetimeIndex, values: np.ndarray, limit: float, max_days: int,
                          step: StatedStep | None = None, growth_of: np.ndarray | None = None) -> pd.Timestamp:
    """When a log-linear fit to the weekly highs of ``values`` reaches ``limit`` after the last bucket.

    NaT when there is no limit, no growth, fewer than ``MIN_FIT_WEEKS`` whole weeks (a
    month's campaign would pass for growth), or the date lies more than ``max_days``
    after the last bucket. ``step``: the planner's stated effects, divided out of the
    values before the fit and multiplied back in after it, as the ROI reads growth
    (``tokenplan.planning.stated_events``): a launch planned in the horizon is a step, not
    growth. Read as growth, the demo organisation's Opus launch (x1.3 on Opus from late
    November) put its extrapolated crossings 2 to 8 months early.

    ``growth_of``: the values whose fitted growth is the usage's (the P50's, for a P90).
    ``values`` then give only the level they reach, their last whole week's high, grown from
    there at that rate: a P90 rises over the horizon as its interval widens (with the
    square root of the step), which its own log-linear fit reads as exponential growth
    (a flat Console export's P90 ITPM rose 5.2% a month against its P50's 0.6%, and
    "crossed around 2027-05-01" with no growth at all).
    """
    if not np.isfinite(limit):
        return pd.NaT
    if step is not None:
        limit = limit / step.after
    fit = _weekly_fit(ds, values, step)
    growth = fit if growth_of is None else _weekly_fit(ds, growth_of, step)
    if fit is None or growth is None or growth.slope <= 0:
        return pd.NaT
    reached = fit.log_at_last if growth_of is None else fit.last_high
    day = fit.last_day + (np.log(limit) - reached) / growth.slope
    last_day = (ds[-1] - ds[0]).total_seconds() / 86400
    if day <= last_day or day - last_day > max_days:
        return pd.NaT
    return (pd.Timestamp(ds[0]) + pd.Timedelta(days=float(day))).normalize()


class WeeklyFit(NamedTuple):
    """A log-linear fit to weekly highs: its slope per day, its log value at the last whole week's middle, that
    day, and the log of that week's own high."""

    slope: float
    log_at_last: float
    last_day: float
    last_high: float


def _weekly_fit(ds: pd.DatetimeIndex, values: np.ndarray, step: StatedStep | None) -> WeeklyFit | None:
    """The log-linear fit to the highs of ``values``' whole weeks (stated steps divided out), or None with too few."""
    series = pd.Series(np.asarray(values, float), index=ds)
    if step is not None:
        series = series / step.daily.reindex(pd.DatetimeIndex(ds).normalize()).fillna(1.0).to_numpy()
    weeks = (series.index - series.index[0]).days // 7
    weekly = series.groupby(weeks).agg(["max", "size"])
    weekly = weekly[weekly["size"] == weekly["size"].max()]
    if len(weekly) < MIN_FIT_WEEKS or (weekly["max"] <= 0).any():
        return None
    days = weekly.index.to_numpy(float) * 7 + 3.5
    slope, intercept = np.polyfit(days, np.log(weekly["max"].to_numpy()), 1)
    highs = np.log(weekly["max"].to_numpy())
    return WeeklyFit(float(slope), float(intercept + slope * days[-1]), float(days[-1]), float(highs[-1]))


class Window(NamedTuple):
    """A window whose peak is forecast: a day, a month or the whole ``horizon``."""

    period: str
    kind: str
    start: pd.Timestamp
    end: pd.Timestamp  # the last bucket start inside


def windows(ds: pd.DatetimeIndex, days: bool = True) -> list[Window]:
    """The months, the whole horizon and (``days``) each day covered by the buckets ``ds``."""
    out = [Window(p.period, "horizon" if p.period == "horizon" else "month", p.start, p.end)
           for p in forecast_periods(pd.Series(ds)).itertuples()]
    if days:
        out += [Window(f"{day:%Y-%m-%d}", "day", day, ds[ds.normalize() == day].max())
                for day in ds.normalize().unique()]
    return out


def window_kind(period: pd.Series) -> np.ndarray:
    """``day``, ``month`` or ``horizon`` from period labels (``YYYY-MM-DD``, ``YYYY-MM``, ``horizon``)."""
    return np.where(period == "horizon", "horizon", np.where(period.str.len() > 7, "day", "month"))


def day_busiest(peaks: np.ndarray, ds: pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The days ``ds`` covers, in order, and each draw's busiest minute on each of them, shape (draws, days).

    The days' windows of :func:`windows` at once (a window at a time cost most of the plan at 1,000 series).
    """
    day_of = ds.normalize()
    days = pd.DatetimeIndex(day_of.unique())
    if len(days) == len(ds):  # a bucket a day (or longer), days in the buckets' order: each day's own bucket
        return days, peaks
    code = days.get_indexer(day_of)
    return days, np.column_stack([peaks[:, code == j].max(axis=1) for j in range(len(days))])


def day_quantiles(peaks: np.ndarray, ds: pd.DatetimeIndex) -> pd.DataFrame:
    """Per day: ``ds`` (the day), ``p50`` and ``p90`` of its busiest minute."""
    if not len(ds):
        return pd.DataFrame({"ds": [], "p50": [], "p90": []})
    return _day_frame(*day_busiest(peaks, ds))


def _day_frame(days: pd.DatetimeIndex, busiest: np.ndarray) -> pd.DataFrame:
    p50, p90 = np.quantile(busiest, [0.5, 0.9], axis=0)  # one partition for both: the same values
    return pd.DataFrame({"ds": list(days), "p50": p50, "p90": p90})


def running_quantiles(busiest: np.ndarray) -> np.ndarray:
    """P50 and P90 (rows) of each draw's busiest minute from the first day to each day (columns), shape (2, days).

    The first column over the limit at P90 is the first day by which the limit has been hit, on some day
    since the first, in at least 1 draw in 10; at P50, in more than half: the median first day over. The
    last column is the whole window's P50 and P90, so a window's crossing exists exactly when its P90
    (or P50) is over the limit.
    """
    return np.quantile(np.maximum.accumulate(busiest, axis=1), [0.5, 0.9], axis=0)


def _named_spikes(q: np.ndarray, without: np.ndarray) -> int:
    """How many of the biggest spikes set the quantiles ``q`` (P50, P90): the fewest whose removal, in order
    (``without[k - 1]``: the quantiles without the k biggest), makes ``SPIKE_NOTE_PART`` of the drop without
    them all, if that drop is at least ``SPIKE_NOTE_SHARE`` of a quantile; else 0."""
    if not len(without):
        return 0
    drop = q[None, :] - without  # (k, quantile)
    lifted = drop.max(axis=0) >= SPIKE_NOTE_SHARE * q
    if not lifted.any():
        return 0
    enough = (drop[:, lifted] >= SPIKE_NOTE_PART * drop[:, lifted].max(axis=0)).all(axis=1)
    return int(np.argmax(enough)) + 1


def plan_rows(peaks: np.ndarray, ds: pd.DatetimeIndex, limit: float, model: PeakModel,
              periods: Sequence[Window] | None = None,
              without_spikes: Sequence[np.ndarray] = (),
              step: StatedStep | None = None,
              met: Sequence[np.ndarray] = ()) -> tuple[list[dict], pd.DataFrame]:
    """One row per period (months, then ``horizon``) and the per-day quantiles they use (with ``p50_so_far``,
    ``p90_so_far``: the busiest minute from the horizon's first day to each day, whose first day over the limit is
    the horizon row's first day over).

    ``peaks``: the calibrated draws; ``periods``: ``windows(ds, days=False)`` when the
    caller has it (many units share their buckets). Rows hold the peak P50/P90 of the
    period's busiest minute, ``headroom_p90`` (the share of the limit left above the P90
    peak; negative: over) and the first day by which the limit has been hit at P50 (P90)
    since the period began (:func:`running_quantiles`): a row has a crossing exactly when
    its quantile is over the limit. ``without_spikes``: the same draws without the 1, 2, ...
    biggest of history's spikes they took (``PeakDraws.peaks(without=...)``); a row's
    ``spikes`` is how many of them set its P50 or P90 (:func:`_named_spikes`), and
    ``p50_without_spikes``/``p90_without_spikes`` its quantiles without them (``*_without_biggest_spike``: without
    the biggest alone, where more than one is named); ``met``: where the draws took the
    1, 2, ... biggest (``PeakDraws.met``), whose share of draws meeting the named ones in the row's window is its
    ``spike_chance``. ``step``: the stated
    effects the extrapolated crossing reads as steps, not growth (:func:`extrapolated_crossing`).
    """
    days, busiest = day_busiest(peaks, ds)
    daily = _day_frame(days, busiest)
    busiest_without = [day_busiest(other, ds)[1] for other in without_spikes]
    met_days = [day_busiest(taken.astype(np.int8), ds)[1] for taken in met]
    rows = []
    for window in windows(ds, days=False) if periods is None else periods:
        inside = np.asarray((days >= window.start.normalize()) & (days <= window.end))
        running = running_quantiles(busiest[:, inside])
        p50, p90 = float(running[0, -1]), float(running[1, -1])
        row = {"period": window.period, "start": window.start, "end": window.end, "p50": p50, "p90": p90,
               "limit": limit, "headroom_p90": _headroom(limit, p90),
               "first_crossing_p50": first_crossing(days[inside], running[0], limit),
               "first_crossing_p90": first_crossing(days[inside], running[1], limit),
               "extrapolated_crossing_p50": pd.NaT, "extrapolated_crossing_p90": pd.NaT,
               "spikes": 0, "spike_chance": np.nan, "p50_without_spikes": np.nan, "p90_without_spikes": np.nan,
               "p50_without_biggest_spike": np.nan, "p90_without_biggest_spike": np.nan}
        if busiest_without:
            without = np.array([np.quantile(other[:, inside].max(axis=1), [0.5, 0.9]) for other in busiest_without])
            named = _named_spikes(np.array([p50, p90]), without)
            if named:
                lifted = np.array([p50, p90]) - without[named - 1] >= SPIKE_NOTE_SHARE * np.array([p50, p90])
                row.update(spikes=named, **{f"{q}_without_spikes": float(v) if up else np.nan
                                            for q, v, up in zip(("p50", "p90"), without[named - 1], lifted)})
                if len(met_days) >= named:
                    row["spike_chance"] = float(met_days[named - 1][:, inside].max(axis=1).mean())
                if named > 1:  # what the biggest alone sets, where it lifts a quantile the named ones set
                    row.update({f"{q}_without_biggest_spike": float(v) for q, v, up in
                                zip(("p50", "p90"), without[0], lifted) if up})
        if window.kind == "horizon":
            daily = daily.assign(p50_so_far=running[0], p90_so_far=running[1])
            for q in ("p50", "p90"):
                if pd.isna(row[f"first_crossing_{q}"]):
                    # The P90's own rise is partly its interval widening: it grows at the P50's rate.
                    row[f"extrapolated_crossing_{q}"] = extrapolated_crossing(
                        days, daily[q].to_numpy(), limit, model.extrapolate_days, step,
                        growth_of=daily["p50"].to_numpy() if q == "p90" else None)
        rows.append(row)
    return rows, daily


def history_over_limit(history: pd.DataFrame, limit: float) -> dict[str, Any]:
    """How often history's busiest minute already went over ``limit``: ``history_days_over`` (days whose busiest
    minute, the highest ``peak`` of their buckets, is over it), ``history_last_over`` (the last such day, NaT if
    none) and ``history_peak`` (history's busiest minute of all). No limit: no days counted.

    ``history_days_summed``: of the days over, those whose busiest minute adds several models' busiest minutes of
    the hour (``summed``: an upper bound, the group may not have been over on them); ``history_peak_summed``:
    whether ``history_peak`` is such a sum."""
    day = pd.DatetimeIndex(history["ds"]).normalize()
    ordered = history.assign(day=day).sort_values("peak", ascending=False, kind="stable").groupby("day")
    day_peak = ordered["peak"].first().sort_index()
    summed = (ordered["summed"].first() if "summed" in history else pd.Series(False, index=day_peak.index))
    summed = summed.reindex(day_peak.index).fillna(False).astype(bool)
    over = day_peak[day_peak > limit] if np.isfinite(limit) else day_peak.iloc[:0]
    return {"history_days_over": len(over) if np.isfinite(limit) else np.nan,
            "history_last_over": over.index.max() if len(over) else pd.NaT,
            "history_peak": float(day_peak.max()) if len(day_peak) else np.nan,
            "history_days_summed": int(summed[over.index].sum()) if np.isfinite(limit) else np.nan,
            "history_peak_summed": bool(summed[day_peak.idxmax()]) if day_peak.notna().any() else False}


def spike_columns(rows: list[dict], history: pd.DataFrame, spikes: np.ndarray, volume_spikes: np.ndarray = (),
                  weeks: int = 8) -> list[dict]:
    """The rows with the history buckets their ``spikes`` name (``spike_days``, each one's total over the median
    bucket's in ``spike_size``, its busiest minute over its mean minute in ``spike_burst``, and ``spike_kind``,
    ``spike`` where the draws took it as one of ``volume_spikes`` (positions), else ``burst``; ``;``-separated,
    biggest first), the median bucket's busiest minute over its mean minute (``spike_median_burst``), how many
    buckets of history the spikes are drawn from (``spike_history_buckets``: all of it) and the bursts
    (``spike_pool_buckets``: those of the last ``weeks`` weeks, whose ratios every draw takes); empty where none
    sets the row."""
    drawn_from = history[np.isfinite(history["ratio"].to_numpy(float))]
    median = float(drawn_from["total"].median())
    median_burst = float(drawn_from["ratio"].median()) if len(drawn_from) else np.nan
    pool = ratio_pool_size(history, weeks)
    out = []
    for row in rows:
        named = spikes[:row.pop("spikes")]
        spike_rows = history.iloc[named]
        some = len(named) > 0
        out.append({**row, "spike_days": ";".join(f"{pd.Timestamp(d):%Y-%m-%d}" + (
                        f" {pd.Timestamp(d):%H:%M}" if pd.Timestamp(d) != pd.Timestamp(d).normalize() else "")
                        for d in spike_rows["ds"]),
                    "spike_size": ";".join(f"{t / median:.1f}" for t in spike_rows["total"]) if median > 0 else "",
                    "spike_burst": ";".join(f"{r:.1f}" for r in spike_rows["ratio"]),
                    "spike_median_burst": median_burst if some else np.nan,
                    "spike_kind": ";".join("spike" if p in volume_spikes else "burst" for p in named),
                    "spike_history_buckets": len(drawn_from) if some else np.nan,
                    "spike_pool_buckets": pool if some else np.nan})
    return out


def _headroom(limit: float, p90: float) -> float:
    """The share of ``limit`` left above ``p90`` (NaN without a limit)."""
    return (limit - p90) / limit if np.isfinite(limit) else np.nan


def floor_at_members(plan: pd.DataFrame, days: pd.DataFrame, member_plan: pd.DataFrame, member_days: pd.DataFrame,
                     members: Mapping[str, Sequence[str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The group rows of ``plan`` and ``days`` with each quantile at least its members' (same metric and period;
    ``member_plan``/``member_days``: the series' own, planned against their group's limit, ``model_group`` the
    series): the group's P50 and P90, its first days over (the earliest of the group's and its members'), its
    extrapolated crossings (the same) and per day its P50, P90 and their busiest-so-far.

    A group's busiest minute is at least each member's in every draw, so each quantile of it is at least each
    member's. The two are drawn apart (the group's bucket totals and its ratios from the group's history of
    summed peaks, a member's from its own), and a member whose own bursts the group's history dilutes (a model
    taking over its group's traffic, bursty while it was small) came out above it: a review's Sonnet 4.5 P90 OTPM
    27.01K against its group's 26.78K. The member's figure is the one drawn from its own bursts, and a gateway limits
    each deployment by it: lowering it would hide its own demand, and the plan would read the group under what one of
    its models is expected to reach. So the group takes the floor, a bound its own draws miss. The running
    quantiles are non-decreasing, so the floor's first day over is the earliest of theirs, and a period still has a
    first day over exactly when its floored quantile is over the limit. A quantile the floor lifts is set by a
    member, not by the group's spikes: its spike note goes. Rows no member reaches are unchanged.
    """
    group_of = {s: g for g, series in members.items() if len(series) > 1 for s in series}
    if not group_of or member_plan.empty:
        return plan, days
    theirs = member_plan[member_plan["model_group"].isin(list(group_of))]
    theirs = theirs.assign(model_group=theirs["model_group"].map(group_of))
    keys = ["model_group", "metric", "period"]
    plan = plan.copy()
    for key, rows in theirs.groupby(keys, sort=False):
        at = plan.index[(plan[keys] == pd.Series(key, index=keys)).all(axis=1)]
        if not len(at):
            continue
        i, lifted = at[0], False
        for q in ("p50", "p90"):
            top = float(rows[q].max())
            if top > plan.at[i, q]:
                plan.at[i, q], lifted = top, True
                plan.loc[i, [f"{q}_without_spikes", f"{q}_without_biggest_spike"]] = np.nan
            for when in (f"first_crossing_{q}", f"extrapolated_crossing_{q}"):
                plan.at[i, when] = pd.Series([plan.at[i, when], *rows[when]]).min()
        plan.at[i, "headroom_p90"] = _headroom(float(plan.at[i, "limit"]), float(plan.at[i, "p90"]))
        if lifted and plan.loc[i, ["p50_without_spikes", "p90_without_spikes"]].isna().all():
            plan.loc[i, ["spike_days", "spike_size", "spike_burst", "spike_kind"]] = ""
            plan.loc[i, ["spike_median_burst", "spike_history_buckets", "spike_pool_buckets", "spike_chance"]] = np.nan
    # A crossing found only after the floor leaves no extrapolation beside it.
    for q in ("p50", "p90"):
        plan.loc[plan[f"first_crossing_{q}"].notna(), f"extrapolated_crossing_{q}"] = pd.NaT
    if days.empty or member_days.empty:
        return plan, days
    day_keys, values = ["model_group", "metric", "ds"], ["p50", "p90", "p50_so_far", "p90_so_far"]
    daily = member_days[member_days["model_group"].isin(list(group_of))]
    floor = daily.assign(model_group=daily["model_group"].map(group_of)).groupby(day_keys)[values].max()
    joined = days.join(floor, on=day_keys, rsuffix="_member")
    days = days.copy()
    for v in values:
        days[v] = np.fmax(days[v].to_numpy(float), joined[f"{v}_member"].to_numpy(float))
    return plan, days


GAP_COLUMNS: tuple[str, ...] = ("model_group", "metric", "planned", "reason")
_DRIVER_WORDS = {"requests": "request counts", "input_tokens": "input token counts",
                 "output_tokens": "output token counts", "cache_write_tokens": "cache write tokens",
                 "cache_read_tokens": "cache read tokens"}


def capacity_gaps(forecast: pd.DataFrame, ratios: pd.DataFrame, limits: pd.DataFrame,
                  members: Mapping[str, list[str]]) -> pd.DataFrame:
    """Each unit and metric the plan leaves out, and why, or plans without some drivers (:data:`GAP_COLUMNS`)."""
    gaps = []
    rows_of, history_of = UnitRows(forecast, ["series"]), UnitRows(ratios, ["unit", "metric"])
    for unit, series in members.items():
        counts_reads = bool(limits.loc[unit, "itpm_counts_cache_reads"]) if unit in limits.index else False
        mine = rows_of(*series)
        for metric in planned_metrics(limits, unit):
            gap = plan_gap(mine, history_of((unit, metric)), series, metric, counts_reads)
            if gap is not None:
                gaps.append({"model_group": unit, "metric": metric, "planned": gap[0], "reason": gap[1]})
    return pd.DataFrame(gaps, columns=list(GAP_COLUMNS)).astype({"planned": bool})


def plan_gap(forecast: pd.DataFrame, history: pd.DataFrame, series: Sequence[str], metric: str,
             counts_cache_reads: bool) -> tuple[bool, str] | None:
    """Why a unit's metric is not planned (``(False, reason)``), or what its plan leaves out
    (``(True, note)``); None when it is planned from all its drivers."""
    mine = forecast[forecast["series"].isin(list(series))]
    if mine.empty:
        return False, "no forecast for its series (" + ", ".join(series) + "): see the summary's 'Not in this plan'"
    absent = [d for d in REQUIRED_DRIVERS[metric] if d not in set(mine["target"])]
    if absent:
        return False, (f"the usage has no {' and no '.join(_DRIVER_WORDS[d] for d in absent)}, so no "
                       f"{metric.upper()} can be forecast")
    if not len(history) or not np.isfinite(history["ratio"].to_numpy(float)).any():
        return False, ("no bucket of history is complete with a non-zero total, so there is no busiest-minute "
                       "to mean-minute ratio to learn from")
    missing = [d for d in driver_targets(metric, counts_cache_reads) if d not in set(mine["target"])]
    if missing:
        return True, (f"planned without {' and '.join(_DRIVER_WORDS[d] for d in missing)}: the usage has no such "
                      f"column, so they count as zero (the limit counts them)")
    return None


class UnitRows:
    """The rows of a frame whose ``keys`` take given values, in the frame's order and with its index: the same
    rows as a boolean filter, found by one grouping instead of a scan of the whole frame per unit and metric
    (the scans grew with the square of the series: most of the capacity plan's time at 1,000 series)."""

    def __init__(self, frame: pd.DataFrame, keys: list[str]) -> None:
        self.frame = frame
        groups = frame.groupby(keys[0] if len(keys) == 1 else keys, sort=False, observed=True, dropna=True)
        self.positions = groups.indices if len(frame) else {}

    def __call__(self, *values: Any) -> pd.DataFrame:
        """The rows whose key is any of ``values`` (a value per key; a tuple where there are several keys)."""
        found = [self.positions[v] for v in values if v in self.positions]
        return self.frame.iloc[np.sort(np.concatenate(found)) if found else []]


def unit_rng(seed: int, *names: str) -> np.random.Generator:
    """A random stream per unit and metric, so adding a group leaves the others' draws unchanged."""
    import zlib

    return np.random.default_rng([int(seed), *(zlib.crc32(n.encode()) for n in names)])


def unit_step(quantiles: Mapping[str, pd.DataFrame], daily: pd.DataFrame, after: pd.Series) -> StatedStep | None:
    """A unit's stated effects per day and after the horizon, from its series' own (by each series' model):
    per day, the unit's P50 over the same with each series' multiplier divided out; after the horizon,
    each series' multiplier then, weighted by its P50 on the horizon's last day with its effects divided out.
    None where no stated effect touches the unit."""
    if not quantiles:
        return None
    frame = pd.DataFrame({s: q[_median_name(q.columns)] for s, q in quantiles.items()}).fillna(0.0)
    frame.index = pd.DatetimeIndex(frame.index)
    per_day = frame.groupby(frame.index.normalize()).sum()
    models = [str(s).split("/")[0] for s in per_day.columns]
    m = daily.reindex(per_day.index).reindex(columns=models).fillna(1.0).to_numpy()
    m_after = after.reindex(models).fillna(1.0).to_numpy()
    if np.allclose(m, 1.0) and np.allclose(m_after, 1.0):
        return None
    base = per_day.to_numpy() / m
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = per_day.sum(axis=1).to_numpy() / base.sum(axis=1)
        held = float((base[-1] * m_after).sum() / base[-1].sum())
    return StatedStep(pd.Series(np.where(np.isfinite(unit) & (unit > 0), unit, 1.0), index=per_day.index),
                      held if np.isfinite(held) and held > 0 else 1.0)


def capacity_tables(forecast: pd.DataFrame, ratios: pd.DataFrame, limits: pd.DataFrame,
                    members: Mapping[str, list[str]], quantile_names: Sequence[str], freq: str,
                    model: PeakModel, time_column: str = "timestamp",
                    calibration: Mapping[str, Any] | None = None,
                    metrics: Mapping[str, Sequence[str]] | None = None,
                    explain: bool = True,
                    stated: tuple[pd.DataFrame, pd.Series] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The capacity plan (:data:`PLAN_COLUMNS`) and the per-day peak quantiles of every unit (:data:`DAY_COLUMNS`).

    ``members``: unit -> its series; ``limits`` indexed by unit (``rpm``, ``itpm``,
    ``otpm``, optionally ``tpm``, ``itpm_counts_cache_reads``); each unit is planned against
    ``planned_metrics``, or ``metrics`` where it names the unit (a series planned as its
    group is, with no limit of its own); ``ratios``: ``forecast_bucket_peaks`` output;
    ``explain``: name the spikes of history that set a row's P50 or P90 (:func:`plan_rows`);
    ``stated``: each model's stated multiplier per day and after the horizon
    (``stated_events.daily_multipliers``), for the extrapolated crossings (:func:`unit_step`).
    """
    plan, buckets, periods, each_series = [], [], {}, {}
    forecast = forecast.assign(**{time_column: naive_utc(forecast[time_column])})  # once, not per unit and metric
    rows_of, history_of = UnitRows(forecast, ["series"]), UnitRows(ratios, ["unit", "metric"])
    for unit, series in members.items():
        mine = rows_of(*series)
        for metric in (metrics or {}).get(unit) or planned_metrics(limits, unit):
            counts_reads = bool(limits.loc[unit, "itpm_counts_cache_reads"]) if unit in limits.index else False
            if len(series) == 1 and available_drivers(metric, counts_reads, mine["target"].unique()):
                if (metric, counts_reads) not in each_series:
                    each_series[metric, counts_reads] = _each_series_driver_quantiles(
                        forecast, metric, counts_reads, quantile_names, time_column)
                quantiles = each_series[metric, counts_reads][series[0]]
            else:
                quantiles = driver_quantiles(mine, series, metric, counts_reads, quantile_names, time_column)
            history = history_of((unit, metric))
            if quantiles.empty or not np.isfinite(history["ratio"]).any():
                continue
            draws = bucket_peak_draws(quantiles, history, freq, model, unit_rng(model.seed, unit, metric))
            peaks = draws.peaks(PeakCalibration.from_mapping(calibration))
            ds = pd.DatetimeIndex(quantiles.index)
            limit = float(limits.loc[unit, metric]) if unit in limits.index and metric in limits else np.nan
            recent = history[history["ds"] > history["ds"].max() - pd.Timedelta(weeks=model.ratio_weeks)]
            method = "measured" if recent["measured"].all() else "assumed"
            buckets_key = ds.asi8.tobytes()  # most units share their buckets: their periods are found once
            if buckets_key not in periods:
                periods[buckets_key] = windows(ds, days=False)
            spikes = draws.spikes_taken(MAX_NAMED_SPIKES) if explain else np.empty(0, dtype=int)
            without = [draws.peaks(PeakCalibration.from_mapping(calibration), without=spikes[:k])
                       for k in range(1, len(spikes) + 1)]
            met = [draws.met(spikes[:k]) for k in range(1, len(spikes) + 1)]
            step = None
            if stated is not None and np.isfinite(limit):
                if (metric, counts_reads) not in each_series:
                    each_series[metric, counts_reads] = _each_series_driver_quantiles(
                        forecast, metric, counts_reads, quantile_names, time_column)
                step = unit_step({s: each_series[metric, counts_reads][s] for s in series
                                  if s in each_series[metric, counts_reads]}, *stated)
            rows, daily = plan_rows(peaks, ds, limit, model, periods[buckets_key], without, step, met)
            past = history_over_limit(history, limit)
            plan += [{"model_group": unit, "metric": metric, "peak_method": method, **row, **past}
                     for row in spike_columns(rows, history, spikes, draws.volume_spikes(), model.ratio_weeks)]
            buckets.append(daily.assign(model_group=unit, metric=metric, limit=limit,
                                        whole_day=whole_days(ds, freq).to_numpy()))
    plan_frame = pd.DataFrame(plan, columns=list(PLAN_COLUMNS))
    bucket_frame = (pd.concat(buckets, ignore_index=True) if buckets else pd.DataFrame(columns=list(DAY_COLUMNS)))
    return plan_frame, bucket_frame[list(DAY_COLUMNS)]
