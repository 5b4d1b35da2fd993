"""Conformal recalibration of quantiles on out-of-sample backtest errors.

Errors ``e_a = z_true - z_hat_a`` (log-ratio space) come from rolling-origin backtest
folds the model was not trained on; in-sample residuals, which make intervals far too
narrow, are never used. They are *normalised*: each is divided by its series' noise
scale (the robust spread of season-over-season log changes in the history the model was
trained on: week-over-week where the weekly season drives the features), so one pooled
quantile per target serves series of very different volatility. A row's shift is
``scale(series, target) * offset_a(target)``. A young series, with too few such changes to
read its own noise (``_young_keys``), has at least its target's pooled scale: its intervals
are borrowed, never near zero.

**The scale moves with the phase of the day** (of the week, for days): locally adaptive
conformal prediction (Lei, G'Sell, Rinaldo, Tibshirani and Wasserman, 2018) normalises each
error by an estimate of its own row's spread, and a series' noise is seldom the same at every
hour. The scale of a row is ``scale(series, target) * m(series, target, phase)``
(``phase_scales``), ``m`` read off the same season-over-season log changes per phase of the
series' shortest season (hour of a weekday or of a weekend day for hours, weekday for days),
left at 1 unless the phases differ beyond chance, bounded, averaging 1 over the phases, and
floored by the level errors every phase shares. Errors are normalised and offsets applied
with the same row's scale. With one scale per series, 8 weeks of hours with noisy nights (20
requests an hour), steady office hours (400) and a steady nightly batch (12,000 at 02:00),
168 hours held back, read P90/P10 about 1.69 at every hour: the batch hour (1.3% error) and
the office hours fell inside P10-P90 every time, the nights 74%, and the capacity plan's RPM
P50 peak read 639 against the history's 507, because the batch
hour had the night's width.

For a quantile model the offset for level ``a`` is the empirical ``a``-quantile of its
normalised errors. For a point model (every level has the same error) the point
forecast is not shifted and level ``a`` is offset by ``sign(a - 0.5)`` times the
``|2a - 1|``-quantile of the absolute normalised errors (split conformal with absolute
residuals): the errors' quantiles would also move the centre by their median, which
with a few folds is one fold's level error rather than a bias (on Taylor's hourly
demand, 3 folds, it doubled the MASE of two folds of the three).

Why not fit each series on its own? Errors within one fold are strongly correlated (a
level error persists over the whole horizon), so with a few folds a per-series offset
mostly memorises one fold's bias; normalised pooling keeps per-series widths without
that noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2, median_abs_deviation

from tokenplan.forecasting.row_keys import RowKeys

# A bucket forecast below this and realised empty is an empty bucket called empty: it has no error to calibrate
# an interval on (``method_choice.fold_step_errors``) and is not counted in the coverage (``backtest.score_backtest``).
EMPTY_POINT = 0.05

__all__ = ["EMPTY_POINT", "StepErrors", "empty_called", "fit_offsets", "fit_step_widths", "level_shares",
           "noise_scales", "offsets_for", "phase_of", "phase_scales", "recency_weights", "robust_spread",
           "step_offsets"]


def empty_called(y: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Where a bucket forecast empty (``point`` below ``EMPTY_POINT``) came in empty (``y`` 0): no error to calibrate
    on and not counted in a coverage (a model that never writes to the cache is inside its interval every day)."""
    return (np.asarray(y, dtype=float) == 0) & (np.asarray(point, dtype=float) < EMPTY_POINT)


_SCALES = "__scales__"
_PHASES = "__phase_scales__"

# The sampling variance of the log of a robust spread (``robust_spread``) of n changes is about this over n.
_LOG_SPREAD_VARIANCE = 2.0
# A key with fewer season-over-season changes than this (or than a season has buckets) is young: its spread's log
# would be off by more than one half (a factor of 1.65) at one standard error, sqrt(_LOG_SPREAD_VARIANCE / n).
_MIN_CHANGES = 8
# Phases share their series' scale unless their spreads differ beyond this quantile of chance.
_PHASE_TEST = 0.99
# A phase's multiplier stays within [1 / _PHASE_BOUND, _PHASE_BOUND] of its series' scale.
_PHASE_BOUND = 4.0
_WIDEST = "__widest__"
_LEVEL_SHARE = "__level_share__"


def _keys(series: pd.Series, target: pd.Series) -> list[str]:
    return [f"{s}|{t}" for s, t in zip(series.astype(str), target.astype(str), strict=True)]


def _per_row(values: pd.Series | np.ndarray, lookup) -> np.ndarray:
    """``lookup(value)`` for each row, called once per distinct value (a million rows hold a few thousand)."""
    codes, uniques = pd.factorize(np.asarray(values), use_na_sentinel=False)
    return np.asarray([lookup(u) for u in uniques])[codes]


def robust_spread(change: np.ndarray | pd.Series) -> float:
    """A robust std of ``change``: ``1.4826 x MAD``, but at least half of ``1.2533 x`` the mean absolute deviation.

    Both read the std of normal changes (and MAD alone ignores a few bursts, as it
    should). A sparse series' season-over-season changes are mostly ``0 -> 0``, so its
    MAD is zero while most of its mass moves: dividing its backtest errors by a floored
    zero made them thousands of "noise units", and every series shrunk toward its
    target's pooled widths inherited them (a steady model beside one used one day in ten
    got a P10 of zero and a P90 five times its level). The mean absolute deviation sees
    the sparse moves; at half weight it never binds on a normal or Laplace series, whose
    two estimates agree within 25%.
    """
    values = np.asarray(change, dtype=float)
    if not len(values):
        return float("nan")
    mad = median_abs_deviation(values, scale="normal")
    mean_deviation = np.sqrt(np.pi / 2) * np.mean(np.abs(values - np.median(values)))
    return float(max(mad, 0.5 * mean_deviation))


def _season_changes(examples: pd.DataFrame, season: int) -> pd.DataFrame:
    """``key, ds, change``: each labelled example's log change from the same phase a season earlier."""
    rows = examples[(examples["step"] <= season) & np.isfinite(examples["z"])]
    stated = rows["stated_effect"] if "stated_effect" in rows else 0.0
    change = np.log1p(rows["y"]) - stated - (rows["last_same_phase"] + rows["log_level"])
    return pd.DataFrame({"key": _keys(rows["series"], rows["target"]), "ds": rows["ds"].to_numpy(),
                         "change": change.to_numpy()}).dropna()


def noise_scales(examples: pd.DataFrame, season: int) -> dict[str, float]:
    """Robust std (``robust_spread``) of season-over-season log changes per ``series|target``; a young key's
    (``_young_keys``) at least its target's pooled scale (``_pooled_floor``)."""
    changes = _season_changes(examples, season)
    spread = changes.groupby("key")["change"].agg(robust_spread).clip(lower=1e-3)
    return {k: float(v) for k, v in _pooled_floor(spread, _young_keys(changes, season)).items()}


def _young_keys(changes: pd.DataFrame, season: int) -> pd.Index:
    """The keys of ``changes`` (``_season_changes``) with too few season-over-season changes to read their own
    noise: fewer than a season of them (some phases not seen once) or than ``_MIN_CHANGES``.

    Each bucket's change counts once (the examples repeat a bucket at every origin before it).
    A service launched a week before the history ends has one change a week apart: its spread
    read 0, floored at 0.001, and its P10-P90 was +-0.1% for the whole quarter beside an
    established series' +-22% (its days an exact replay of its last week).
    """
    counts = changes.drop_duplicates(["key", "ds"]).groupby("key").size()
    return counts.index[counts < max(season, _MIN_CHANGES)]


def _pooled_floor(spread: pd.Series, young: pd.Index) -> pd.Series:
    """``spread`` (per ``series|target``) with each ``young`` key's at least its target's pooled scale: the
    median of the target's other keys' (of every target's where it has none); as it was where every key is young.

    The median is the scale a key without one reads (``RowKeys.scales``), the one whose width is its
    target's pooled width: a young key's intervals are borrowed, and never narrower than that. A
    young key's own wider spread (a launch still ramping up) stands.
    """
    established = spread.drop(young)
    if established.empty or young.empty:
        return spread
    target_of = spread.index.str.rsplit("|", n=1).str[-1]
    pooled = established.groupby(target_of[~spread.index.isin(young)]).median()
    floor = pd.Series(pooled.reindex(target_of).fillna(established.median()).to_numpy(), index=spread.index)
    return spread.where(~spread.index.isin(young), np.maximum(spread, floor))


def phase_of(ds: pd.Series | np.ndarray, freq: str) -> np.ndarray:
    """Per timestamp its phase: for hours the hour of the day, plus 24 on a weekend day (a table of 24 phases
    reads it modulo 24, the hour alone); for days the weekday.

    The hour alone mixed a weekday's office hours with a weekend's: on eight weeks of hours with
    steady weekday office hours and weekend daytime hours as noisy as the nights, the weekend's
    daytime fell from 62.5% to 31.2% inside P10-P90 under the office hours' narrow multiplier. The
    hour of the week would leave about six changes a phase in eight weeks; a weekend hour has about 16.
    """
    times = pd.DatetimeIndex(np.asarray(ds))
    if freq == "h":
        return np.asarray(times.hour + 24 * (times.dayofweek >= 5), dtype=np.int64)
    return np.asarray(times.dayofweek, dtype=np.int64)


def _phase_count(season: int, freq: str) -> int:
    """How many phases a history's seasons tell apart: hours on weekdays and weekend days (48) with a weekly
    season, the hours of the day (24) with a daily one only; the weekdays (7) for days with a weekly season."""
    if freq == "h":
        return 48 if season >= 168 else 24 if season >= 24 else 1
    return 7 if freq == "D" and season >= 7 else 1


def phase_scales(examples: pd.DataFrame, season: int, freq: str) -> dict:
    """Per ``series|target`` its noise multiplier at each phase of the shortest season (``phase_of``);
    empty where the season has no such phases (days without a weekly season).

    A phase's raw multiplier is the robust spread (``robust_spread``) of the series'
    season-over-season log changes at that phase over their spread at every phase (each
    bucket's change once: the examples repeat a bucket at every origin before it), kept
    within ``[1/4, 4]`` (a phase whose changes are all ``0 -> 0``, a business-hours service's
    nights, has no spread at all, yet its rare busy bucket is still an error). Its log is
    shrunk toward the phases' mean by how much of their differences chance explains, all
    the way where chance explains all of them (``_shrunk_log_ratios``), and the multipliers
    are divided by their mean, so that a series' average width is about its width before:
    the scale says how noise is shared among the phases, the backtest errors still say how
    wide the intervals are. On 8 weeks of hours with nights at 20 requests an hour, weekday
    office hours at 400 and a nightly batch at 12,000, the batch hour's P90/P10 went from
    1.69 to 1.14, the office hours' from 1.69 to 1.18 and the nights' from 1.73 to 1.87.
    """
    phases = _phase_count(season, freq)
    if phases <= 1:
        return {}
    changes = _season_changes(examples, season).drop_duplicates(["key", "ds"])
    changes["phase"] = phase_of(changes["ds"], freq) % phases
    overall = changes.groupby("key")["change"].agg(robust_spread)
    overall = overall[overall > 1e-3]  # a series with no spread at all has no shares of it
    by_phase = changes[changes["key"].isin(overall.index)].groupby(["key", "phase"])["change"]
    full = pd.MultiIndex.from_product([overall.index, range(phases)], names=["key", "phase"])
    count = by_phase.size().reindex(full, fill_value=0).to_numpy(dtype=float).reshape(-1, phases)
    spread = by_phase.agg(robust_spread).reindex(full).to_numpy(dtype=float).reshape(-1, phases)
    scale = overall.to_numpy(dtype=float)[:, None]
    ratio = np.clip(np.where(np.isfinite(spread), spread, scale) / scale, 1 / _PHASE_BOUND, _PHASE_BOUND)
    m = np.exp(_shrunk_log_ratios(np.log(ratio), count))
    m = m / m.mean(axis=1, keepdims=True)
    # A series whose phases all read 1 is left out: it has its one scale (and a small offsets file at 1,000 series).
    multipliers = {str(key): [float(v) for v in row] for key, row in zip(overall.index, m, strict=True)
                   if np.abs(row - 1).max() > 1e-9}
    return {"freq": freq, "scales": multipliers} if multipliers else {}


def _shrunk_log_ratios(log_ratio: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per row (a ``series|target``) its phases' log spread ratios, shrunk toward their mean by how much of
    their differences sampling alone explains; all equal where chance explains them.

    A phase's log ratio from ``n`` changes varies by about ``2 / n`` from sampling alone
    (``_LOG_SPREAD_VARIANCE``: 1.4 for normal changes, 2.0 for Laplace ones, simulated; a phase
    with no change has no evidence). Cochran's ``Q`` (the phases' inverse-variance weighted
    squared distances from their weighted mean) tests whether they differ more than that: below
    the 99th percentile of its chi-square every phase reads the mean, the one scale per series
    of before. Above it, DerSimonian and Laird's ``tau2`` (the variance of the phases' true
    differences) lets a phase keep ``tau2 / (tau2 + 2 / n)`` of its distance from the mean.
    Eight weeks of days with one noise read weekday spreads 0.12 to 0.43 by each weekday's
    seven changes alone (multipliers 0.49 to 0.90 under a fixed ``n / (n + 10)`` weighing,
    intervals whose width rose and fell with the weekday); ``Q`` was 5.6 against 16.8.
    """
    seen = count > 0
    weight = np.where(seen, np.maximum(count, 1) / _LOG_SPREAD_VARIANCE, 0.0)
    total = weight.sum(axis=1, keepdims=True)
    mean = (weight * log_ratio).sum(axis=1, keepdims=True) / np.maximum(total, 1e-12)
    q = (weight * (log_ratio - mean) ** 2).sum(axis=1, keepdims=True)
    df = seen.sum(axis=1, keepdims=True) - 1
    differ = (df > 0) & (q > chi2.ppf(_PHASE_TEST, np.maximum(df, 1)))
    tau2 = np.maximum(q - df, 0) / np.maximum(total - (weight ** 2).sum(axis=1, keepdims=True) / total, 1e-12)
    keep = np.where(seen & differ, tau2 * weight / (tau2 * weight + 1), 0.0)
    return mean + keep * (log_ratio - mean)


def _phase_multipliers(keys: RowKeys, phases: dict | None, phase: np.ndarray | None) -> np.ndarray:
    """Per row its key's multiplier at its phase (``phase_scales``), under its target's level floor
    (``with_level_shares``); 1 without phases or where unknown.

    A backtest error is a level error (the fold's whole window missed by the same amount) plus
    the bucket's own noise, and only the noise follows the phase: with a level share ``l`` of
    the errors' variance, a phase of multiplier ``m`` has ``sqrt(l + (1 - l) m^2)``. With ``m``
    alone, a steady office hour's narrow interval missed a forecast a few percent off in level
    (a business-hours shape's office hours: 75% inside P10-P90 against the nights' 74%, with
    widths 1.17 against 1.88).
    """
    if not phases or phase is None:
        return np.ones(len(keys.key))
    by_key = phases["scales"]
    count = len(next(iter(by_key.values())))
    table = np.ones((len(keys.keys), count))
    for k in np.unique(keys.key):
        if keys.keys[k] in by_key:
            table[k] = by_key[keys.keys[k]]
    m = table[keys.key, np.asarray(phase, dtype=np.int64) % count]
    shares = phases.get("level", {})
    level = np.array([shares.get(t, shares.get("__all__", 0.0)) for t in keys.targets], dtype=float)
    floor = level[keys.target] if len(level) else np.zeros(len(m))
    return np.sqrt(floor + (1 - floor) * m ** 2)


def _fold_cells(fold: np.ndarray, key: np.ndarray, keys: int) -> np.ndarray:
    """Per row the number of its fold and key."""
    return np.asarray(fold, np.int64) * max(keys, 1) + np.asarray(key, np.int64)


def _fold_levels(e: np.ndarray, fold: np.ndarray, key: np.ndarray, keys: int) -> np.ndarray:
    """Per row its fold and key's level error: the mean of their errors ``e``."""
    cell = _fold_cells(fold, key, keys)
    return (np.bincount(cell, weights=e) / np.maximum(np.bincount(cell), 1))[cell]


def with_level_shares(phases: dict, e: np.ndarray, keys: RowKeys, fold: np.ndarray | None) -> dict:
    """``phases`` plus, per target (and pooled, ``__all__``), the share of the errors' variance that is a
    level error: the mean square of each fold and key's mean error over the mean square error, the
    errors ``e`` divided by their series' scale (``_phase_multipliers`` reads it as a floor)."""
    if not phases or not len(e):
        return phases
    level = _fold_levels(e, np.zeros(len(e), np.int64) if fold is None else fold, keys.key, len(keys.keys))

    def share(mask: np.ndarray) -> float:
        total = float(np.mean(e[mask] ** 2))
        return float(np.clip(np.mean(level[mask] ** 2) / total, 0, 1)) if total > 0 else 0.0

    shares = {"__all__": share(np.ones(len(e), bool))}
    shares.update({keys.targets[t]: share(keys.target == t) for t in np.unique(keys.target)})
    return {**phases, "level": shares}


def _row_keys(series: pd.Series, target: pd.Series) -> RowKeys:
    return RowKeys.of(pd.DataFrame({"series": np.asarray(series), "target": np.asarray(target)}))


def _row_scales(scales: dict[str, float] | None, series: pd.Series, target: pd.Series) -> np.ndarray:
    return _row_keys(series, target).scales(scales)


def offsets_for(offsets: dict, series: pd.Series, target: pd.Series) -> np.ndarray:
    """Shift per row and quantile: the series' scale times its target's (or the pooled) offsets."""
    pooled = offsets["__all__"]
    per_target = _per_row(target.astype(str).to_numpy(dtype=object), lambda t: offsets.get(t, pooled)).astype(float)
    return per_target * _row_scales(offsets.get(_SCALES), series, target)[:, None]


def fit_offsets(errors: pd.DataFrame, quantiles: list[float], scales: dict[str, float] | None = None,
                min_rows: int = 60, symmetric: bool = True) -> dict:
    """Normalised conformal offsets per ``target`` and pooled (``__all__``), plus the scales used.

    ``errors`` has ``series`` and ``target`` columns and one column ``e{i}`` per
    quantile holding ``z_true - z_hat`` for that quantile. A target with fewer than
    ``min_rows`` errors uses the pooled offsets. ``symmetric`` (a point model, whose
    columns are all the same error): intervals symmetric about the unshifted point
    forecast, from absolute errors; otherwise (a quantile model) each level's own
    error quantile (see the module docstring).
    """
    columns = [f"e{i}" for i in range(len(quantiles))]
    normalised = errors[columns].to_numpy() / _row_scales(scales, errors["series"], errors["target"])[:, None]

    def offsets(mask: np.ndarray) -> list[float]:
        if symmetric:
            size = np.abs(normalised[mask, 0])
            return [float(np.sign(q - 0.5) * np.quantile(size, abs(2 * q - 1))) for q in quantiles]
        return [float(np.quantile(normalised[mask, i], q)) for i, q in enumerate(quantiles)]

    result: dict = {"__all__": offsets(np.ones(len(errors), bool))}
    targets = errors["target"].astype(str).to_numpy()
    for target in np.unique(targets):
        if (targets == target).sum() >= min_rows:
            result[target] = offsets(targets == target)
    if scales:
        result[_SCALES] = dict(scales)
    return result


def step_bins(window: int, season: int, max_bins: int = 4) -> list[int]:
    """Right edges (in steps) of the step groups whose errors calibrate their own width."""
    n = int(max(1, min(max_bins, window // max(season, 1))))
    return [int(round(window * (i + 1) / n)) for i in range(n)]


def fit_step_widths(errors: pd.DataFrame, quantiles: list[float], scales: dict[str, float] | None,
                    edges: list[int], min_rows: int = 30, phases: dict | None = None) -> dict:
    """Symmetric normalised offsets per step group, per target and pooled, never narrowing with the step.

    ``errors`` has ``series, target, step, e`` with ``e = log1p(y) - log1p(point)``. Within
    each group of steps (``edges``: right edges), level ``a`` is offset by
    ``sign(a - 0.5)`` times the ``|2a - 1|``-quantile of the absolute normalised errors;
    a cumulative maximum over the groups keeps a later step's interval at least as wide
    as an earlier one's. A target whose group has fewer than ``min_rows`` errors uses
    the pooled offsets.

    **Recent folds weigh more.** With an ``origin`` column, each error is weighted by its
    fold's rank (1 for the oldest fold, ``K`` for the latest) and the quantiles are
    weighted ones (``_segment_quantiles``): conformal prediction beyond exchangeability
    (Barber, Candes, Ramdas and Tibshirani, 2023) weights calibration scores by how
    close their data are to the forecast's, and a usage series drifts, so the weeks just
    before the origin say more about next week's errors than the first weeks do. The
    backtest (``method_choice._calibrated``) weights its folds the same way. On Taylor's
    hourly demand a summer dip gave the fourth of five folds the largest level error
    (3.4%); with equal weights the calm first folds held the 80% quantile down, and the
    next week's recovery fell outside P10-P90 in 73% of its hours.

    Per series and target, the offsets are the series' own errors shrunk toward its
    target's (``n`` own errors weigh ``n / (n + min_rows)``). Pooling alone let one
    series' structural break (a launch the model missed) widen every other series'
    intervals: on a four-month Console-shaped export the steady model's daily P10-P90
    spanned 100x by the fifth month. Shrinkage keeps the few-folds caution of pooling
    (one fold's bias is not memorised) while a series' own errors move its width.

    ``phases`` (``phase_scales``, with a ``ds`` column in ``errors``): each row's scale is its
    series' times its phase's multiplier (the module docstring).

    Many fits on parts of one error table (each fold's widths from the other folds, per
    method): ``StepErrors``, which keys the rows once.
    """
    keys = RowKeys.of(errors)
    weight = recency_weights(errors["origin"]) if "origin" in errors else None
    fold = pd.factorize(errors["origin"])[0] if "origin" in errors else None
    phase = phase_of(errors["ds"], phases["freq"]) if phases else None
    return StepErrors(errors["e"].to_numpy(), errors["step"].to_numpy(), keys, scales, edges, weight, fold,
                      phase, phases).widths(quantiles, min_rows)


def level_shares(widths: dict) -> dict[str, float]:
    """The level shares (per target and ``__all__``) ``widths`` grows by past the window; empty without."""
    return dict(widths.get(_LEVEL_SHARE, {}))


def recency_weights(origin: pd.Series | np.ndarray) -> np.ndarray:
    """Per error row its fold's weight: the fold's rank among the folds, 1 for the oldest."""
    codes, _ = pd.factorize(np.asarray(origin), sort=True)
    return codes + 1.0


class StepErrors:
    """Backtest errors in ``log1p`` (``e``) with their steps, keys, weights (``weight``, default equal:
    the recency weights of ``fit_step_widths``), folds (``fold``, default one) and phases
    (``phase``, with ``phases`` from ``phase_scales``; default none), for ``fit_step_widths``
    on any part.

    The rows are keyed and normalised once; ``widths(rows=...)`` fits the offsets of the
    rows at those positions, the same dictionary ``fit_step_widths`` gives on those rows.
    """

    def __init__(self, e: np.ndarray, step: np.ndarray, keys: RowKeys, scales: dict[str, float] | None,
                 edges: list[int], weight: np.ndarray | None = None, fold: np.ndarray | None = None,
                 phase: np.ndarray | None = None, phases: dict | None = None):
        series_scale = keys.scales(scales)
        if phase is not None:
            phases = with_level_shares(phases, np.asarray(e, dtype=float) / series_scale, keys, fold)
        row_scale = series_scale * _phase_multipliers(keys, phases, phase)
        self.signed = np.asarray(e, dtype=float) / row_scale  # normalised; |signed| is the size
        self.step = np.asarray(step, dtype=np.int32)
        self.fold = np.zeros(len(self.signed), dtype=np.int32) if fold is None else np.asarray(fold, dtype=np.int32)
        group = np.searchsorted(np.asarray(edges), np.asarray(step), side="left")
        self.group = np.minimum(group, len(edges) - 1)
        self.weight = np.ones(len(self.signed)) if weight is None else np.asarray(weight, dtype=float)
        self.keys, self.edges, self.scales, self.phases = keys, list(edges), scales, phases or {}

    def widths(self, quantiles: list[float], min_rows: int = 30, rows: np.ndarray | None = None,
               level_shares: bool = True, pool: np.ndarray | None = None) -> dict:
        """``fit_step_widths``' offsets from the rows at ``rows`` (ascending positions; default all).

        ``level_shares`` False leaves out the level shares (``_level_shares``), which only steps
        past the backtested window read: a fold calibrated on the other folds never has any.
        ``pool`` (ascending positions; default ``rows``): the rows that set the pooled and
        per-target offsets, the ceiling and the level shares, while each key's own offsets come
        from its rows in ``rows`` (``tokenplan.forecasting.forecast_calibration``).
        """
        rows = np.arange(len(self.signed)) if rows is None else rows
        pool = rows if pool is None else pool
        size, group, weight = np.abs(self.signed[rows]), self.group[rows], self.weight[rows]
        target, key = self.keys.target[rows], self.keys.key[rows]
        pool_size, pool_target = np.abs(self.signed[pool]), self.keys.target[pool]
        edges = self.edges
        signs = np.sign(np.asarray(quantiles) - 0.5)
        levels = np.abs(2 * np.asarray(quantiles) - 1)

        n_groups = len(edges)
        pooled_quantiles = _segment_quantiles(pool_size, self.group[pool], n_groups, levels, self.weight[pool])
        target_quantiles = _segment_quantiles(pool_size, pool_target * n_groups + self.group[pool],
                                              len(self.keys.targets) * n_groups, levels,
                                              self.weight[pool])  # every target's groups in one sort

        def table(quantiles_counts: tuple[np.ndarray, np.ndarray], fallback: np.ndarray | None,
                  first: int = 0) -> np.ndarray:
            out = np.zeros((len(edges), len(quantiles)))
            quantile, count = (part[first:first + n_groups] for part in quantiles_counts)
            for g in range(len(edges)):
                if count[g] < min_rows and fallback is not None:
                    out[g] = fallback[g]
                elif count[g]:
                    out[g] = signs * quantile[g]
                elif g:
                    out[g] = out[g - 1]
            # Never narrower further out: cumulative maximum of each level's magnitude.
            return np.sign(out) * np.maximum.accumulate(np.abs(out), axis=0)

        names = self.keys.targets
        present = np.unique(target)  # target numbers follow their names' order
        pooled = table(pooled_quantiles, None)
        pool_present = np.unique(pool_target)
        result: dict = {"edges": list(edges), "__all__": pooled.tolist(),
                        _WIDEST: {"__all__": _widest(pool_size),
                                  **{names[t]: _widest(pool_size[pool_target == t]) for t in pool_present}}}
        per_target = {t: table(target_quantiles, pooled, t * n_groups) for t in present}
        # Every key's own offsets at once (thousands of series: a loop per key cost minutes).
        n_keys = len(self.keys.keys)
        own, counts = _segment_quantiles(size, key * len(edges) + group, n_keys * len(edges), levels, weight)
        own, counts = own.reshape(n_keys, len(edges), len(levels)), counts.reshape(n_keys, len(edges), 1)
        mine_keys = np.unique(key)
        key_target = self.keys.key_target[mine_keys]
        toward = np.stack([per_target[t] for t in key_target]) if len(mine_keys) else own[:0]
        counts = counts[mine_keys]
        weight = counts / (counts + min_rows)
        mine = np.where(counts > 0, signs * np.nan_to_num(own[mine_keys]), 0.0)
        shrunk = weight * mine + (1 - weight) * toward
        shrunk = np.sign(shrunk) * np.maximum.accumulate(np.abs(shrunk), axis=1)
        for t in present:
            result[names[t]] = per_target[t].tolist()
            of_target = np.flatnonzero(key_target == t)
            for i in of_target[np.argsort(self.keys.key_rank[mine_keys[of_target]], kind="stable")]:
                result[self.keys.keys[mine_keys[i]]] = shrunk[i].tolist()
        if self.scales:
            result[_SCALES] = dict(self.scales)
        if self.phases:
            result[_PHASES] = self.phases
        if level_shares:
            result[_LEVEL_SHARE] = self._level_shares(pool, pool_target, names, pool_present)
        return result

    def _level_shares(self, rows: np.ndarray, target: np.ndarray, names: list[str], present: np.ndarray) -> dict:
        """Per target (and pooled, ``__all__``) the share of the errors' variance that grows like a level error.

        A fold's level error for a series is the mean of its errors over the fold's steps; the
        rest is the buckets' own noise. Past the backtested window a level error accumulates
        (``step_offsets``), while noise that comes and goes bucket by bucket is no wider a
        quarter out than a week out. Noise that does not come and go bucket by bucket (its
        lag-one autocorrelation ``r`` within folds above zero: a slow swing the window is too
        short to read as a level) counts as level in proportion: the share is
        ``1 - (1 - level share) * (1 - r)``. Without that, a quarter ahead of 120 days of
        Wikipedia's page views held 75.7% of days inside P10-P90 instead of 78.9%; with it, a
        model used about once a day (Poisson noise, ``r`` near zero) keeps its narrower P90.
        """
        signed, step = self.signed[rows], self.step[rows]
        cell = _fold_cells(self.fold[rows], self.keys.key[rows], len(self.keys.keys))
        level = _fold_levels(signed, self.fold[rows], self.keys.key[rows], len(self.keys.keys))
        noise = signed - level
        order = np.lexsort((step, cell))  # each fold and key's rows in step order
        follows = np.flatnonzero((cell[order][1:] == cell[order][:-1]) & (step[order][1:] == step[order][:-1] + 1))
        before, after = order[follows], order[follows + 1]

        def share(mask: np.ndarray) -> float:
            level_var, noise_var = float(np.mean(level[mask] ** 2)), float(np.mean(noise[mask] ** 2))
            if level_var + noise_var <= 0:
                return 1.0
            pairs = mask[before]
            lag_one = (float(np.mean(noise[before][pairs] * noise[after][pairs])) / noise_var
                       if pairs.any() and noise_var > 0 else 1.0)
            return 1 - (1 - level_var / (level_var + noise_var)) * (1 - float(np.clip(lag_one, 0.0, 1.0)))

        shares = {"__all__": share(np.ones(len(signed), bool)) if len(signed) else 1.0}
        shares.update({names[t]: share(target == t) for t in present})
        return shares


def _segment_quantiles(values: np.ndarray, segment: np.ndarray, n_segments: int, levels: np.ndarray,
                       weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Per segment the weighted ``levels`` quantiles of its values, NaN where it has none; its count of values).

    Within a segment the values are sorted and the ``i``-th (cumulative weight ``C_i``, own
    weight ``w_i``, segment total ``W``, last weight ``w_n``) sits at plotting position
    ``(C_i - w_i) / (W - w_n)``; a level is read by linear interpolation between positions.
    With equal weights the positions are ``i / (n - 1)``: numpy's default (linear)
    quantile, exactly. All segments are done at once (thousands of series' keys).
    """
    values = np.asarray(values, dtype=float)
    weight = np.ones(len(values)) if weight is None else np.asarray(weight, dtype=float)
    counts = np.bincount(segment, minlength=n_segments)
    out = np.full((n_segments, len(levels)), np.nan)
    if not len(values):
        return out, counts
    # Sorted by segment, then value: by value first, then a stable sort by segment (radix on
    # 16-bit codes, the usual case; np.lexsort took twice as long).
    order = np.argsort(values)
    codes = segment[order]
    order = order[np.argsort(codes.astype(np.uint16) if n_segments <= 65536 else codes, kind="stable")]
    v, w, seg = values[order], weight[order], segment[order]
    ends = np.cumsum(counts)
    starts = ends - counts
    cum = np.cumsum(w)
    before = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    total = np.where(counts > 0, cum[np.maximum(ends - 1, 0)] - before, 0.0)
    last = np.where(counts > 0, w[np.maximum(ends - 1, 0)], 0.0)
    span = total - last
    present = np.flatnonzero(counts > 0)
    single = counts[present] == 1
    position = np.divide(cum - before[seg] - w, span[seg], out=np.zeros(len(v)), where=span[seg] > 0)
    # Segments laid end to end on one axis (segment number + position in [0, 1]) for one searchsorted.
    axis = seg * 2.0 + position
    distinct, column = np.unique(levels, return_inverse=True)
    for i, level in enumerate(distinct):
        lo = np.searchsorted(axis, present * 2.0 + level, side="right") - 1
        lo = np.clip(lo, starts[present], ends[present] - 1)
        hi = np.minimum(lo + 1, ends[present] - 1)
        gap = position[hi] - position[lo]
        frac = np.divide(level - position[lo], gap, out=np.zeros(len(lo)), where=gap > 0)
        value = v[lo] + np.clip(frac, 0, 1) * (v[hi] - v[lo])
        for at in np.flatnonzero(column == i):
            out[present, at] = np.where(single, v[starts[present]], value)
    return out, counts


def _widest(size: np.ndarray, level: float = 0.95) -> float:
    """The normalised absolute error ``level`` of the backtest's errors stayed within: the widest
    P90/P50 ratio it has evidence for (a single burst's error is not that evidence)."""
    return float(np.quantile(size, level)) if len(size) else 0.0


def step_offsets(widths: dict, series: pd.Series, target: pd.Series, step: pd.Series,
                 keys: RowKeys | None = None, ds: pd.Series | np.ndarray | None = None) -> np.ndarray:
    """Shift per row and quantile for ``step``: its group's offsets, scaled by the series' noise at the
    row's phase (``ds``, the rows' times: the phase multipliers of ``phase_scales``, where the
    widths have them; without ``ds`` every phase reads 1, the series' average).

    Steps beyond the last backtested group are extrapolated: the last group's width
    times ``sqrt(share * step / window + 1 - share)`` (``window`` = the last edge), where
    ``share`` is the part of the target's backtest error variance that is each fold's level
    error (``StepErrors._level_shares``): a level error accumulates like a random walk, the
    buckets' own noise does not grow with the step. All of it grown like a level error, a
    model used about once a day (Poisson noise, no level error to speak of) got a daily P90
    of 4.4 requests four months out and a quarter whose P90 was 3.4 times its P50. Never
    past the normalised error that 95% of the target's backtest errors stayed within (``_widest``): a P90/P50 ratio the folds never
    came near is not evidence, it is extrapolation (a quarter ahead of 61 bursty days put
    a daily P90 at 6,700 times the history's busiest day). ``keys``: the rows' keys, if
    already at hand (``series`` and ``target`` are then not read).
    """
    keys = keys if keys is not None else _row_keys(series, target)
    edges = np.asarray(widths["edges"])
    steps = np.asarray(step, dtype=float)
    group = np.minimum(np.searchsorted(edges, steps, side="left"), len(edges) - 1)
    pooled = np.asarray(widths["__all__"])
    # One (groups, quantiles) table per key present, each row's group taken from its key's table.
    present = np.unique(keys.key)
    position = np.zeros(len(keys.keys), dtype=int)
    position[present] = np.arange(len(present))
    tables = [np.asarray(widths.get(keys.keys[k], widths.get(keys.targets[keys.key_target[k]], pooled)), dtype=float)
              for k in present]
    per_target = np.stack(tables)[position[keys.key], group] if tables else np.zeros((0, pooled.shape[-1]))
    share_of = level_shares(widths)
    shares = np.array([share_of.get(t, share_of.get("__all__", 1.0)) for t in keys.targets], dtype=float)
    share = shares[keys.target] if len(shares) else np.ones(len(steps))
    growth = np.sqrt(share * np.maximum(steps / edges[-1], 1.0) + (1 - share))
    widest = widths.get(_WIDEST, {})
    ceilings = np.array([widest.get(t, widest.get("__all__", np.inf)) for t in keys.targets], dtype=float)
    ceiling = ceilings[keys.target] if len(ceilings) else np.zeros(len(steps))
    magnitude = np.minimum(np.abs(per_target) * growth[:, None], np.maximum(ceiling[:, None], np.abs(per_target)))
    phases = widths.get(_PHASES)
    phase = phase_of(ds, phases["freq"]) if phases and ds is not None else None
    row_scale = keys.scales(widths.get(_SCALES)) * _phase_multipliers(keys, phases, phase)
    return np.sign(per_target) * magnitude * row_scale[:, None]
