"""Every candidate backtested; per series the robust combination unless one method clearly wins.

Folds come from the layout (``tokenplan.forecasting.layout``): tuning folds first, backtest
folds after them. At every fold origin each candidate (``tokenplan.forecasting.candidates``)
forecasts from the history before it, after the plausibility guard has dropped any
candidate whose forecast leaves the history's envelope
(``tokenplan.forecasting.plausibility``).

**The selection rule** (``SelectionRule``). The default is the ensemble, the per-step
median of the candidates. A single method replaces it only on strong evidence, that is
when the guard never dropped it after a fold it forecast, it has at least ``min_folds``
folds (a method the history before the earliest folds was too short to fit is compared
on the folds it could forecast), and its per-fold log MAE ratio to the ensemble's averages below
``log(1 - margin)`` with the average at least ``z`` standard errors below zero (a gain
larger than the fold-to-fold noise), and it wins on at least ``min_win_share`` of the
folds (one huge win does not carry it), and only where the folds' windows span at least
``min_window_share`` of the horizon: a win over 30 hours says little about five months,
where a trend one method extrapolates is what decides the error (a week of bursty
hours a quarter ahead: MSTL, chosen on four 30-hour folds, carried the last three days'
rise to 1.4 times the last day's level for five months). Evidence is read at two
levels: across series first (each series' mean log ratio one observation, at least
``min_series`` series), which sets a target's default (a global model that beats the
ensemble on most of 400 series is the better default for all of them); then per series,
where a method must beat that default on the series' own folds. Choosing on one or two
folds was noise: on 5-6 days of hourly traffic that repeats every day, one 24-hour fold
chose MSTL (MASE 0.84-1.08) over the seasonal naive it trailed in the backtest (0.20).

**The ensemble's members.** The median combines the ``ensemble_size`` candidates with
the lowest error on the folds before the one it forecasts (every candidate at the first
fold); the forecast's ensemble, those of every fold. A median of all five let two members
that fail the same way decide it: on M4's trending hourly series last week's values (the
seasonal naive and the seasonal mean) were both far behind, and the median of five sat
near them. Pooling the few best on evidence (Kourentzes, Barrow and Petropoulos, 2019)
keeps the combination's robustness without its weakest members.

**Honest grading.** The forecast's choice uses every fold. The backtest grades the rule
itself out of sample: at each backtest fold the rule is applied to the folds before it
only, and the method it picks there is scored there (method ``chosen``). So the reported
``chosen`` score is what the rule earns on windows it never saw; with fewer earlier
folds than ``min_folds`` it is the ensemble's, as it would have been.

Intervals are calibrated the same way for every method, from its own out-of-sample
errors in ``log1p`` space (``tokenplan.forecasting.conformal.fit_step_widths``): a fold's
intervals use the errors of the other folds only (cross-conformal), the final
forecast's use all folds, each fold's errors weighted by its rank in time (the latest
weighs most; see ``fit_step_widths``). The tuning folds' XGBoost errors come from the tuned
hyperparameters, so they are slightly optimistic; the backtest folds' are not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tokenplan import progress
from tokenplan.forecasting.candidates import (
    candidate_points,
    ensemble_rows,
    fit_for_origin,
    series_target_codes,
    start_mstl,
    without_stated_effects,
)
from tokenplan.forecasting.conformal import (
    StepErrors,
    empty_called,
    noise_scales,
    phase_of,
    phase_scales,
    recency_weights,
    step_bins,
    step_offsets,
)
from tokenplan.forecasting.features import FeatureSpec
from tokenplan.forecasting.forecast_calibration import folds_like_forecast, forecast_calibration_rows
from tokenplan.forecasting.forecaster import quantile_columns
from tokenplan.forecasting.lag_model import LagModelSettings
from tokenplan.forecasting.plausibility import GuardSettings, capped_upper_values, concat_drops
from tokenplan.forecasting.row_keys import RowKeys
from tokenplan.forecasting.settings import FromParams

logger = logging.getLogger(__name__)

__all__ = ["SelectionRule", "apply_intervals", "backtest_candidates", "choose_methods", "ensemble_members_by_evidence",
           "ensemble_ranking"]


@dataclass(frozen=True)
class SelectionRule(FromParams):
    """When one method replaces the ensemble (``training.selection``; see the module docstring)."""

    section: ClassVar[str] = "training.selection"

    min_folds: int = 3
    margin: float = 0.05
    z: float = 1.0
    min_win_share: float = 0.66
    min_series: int = 3
    ensemble_size: int = 3
    min_window_share: float = 0.25

    def allows_single(self, window: int, horizon: int) -> bool:
        """Whether the folds' windows span enough of the horizon for one method to replace the ensemble."""
        return window >= self.min_window_share * horizon


def fold_errors(points: pd.DataFrame, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Mean absolute error per ``series, target, method, origin`` (wide: one column per method), of the
    ``rows`` of ``points`` (a mask; default all) with a label and a point. Only the key columns are
    copied (the fold table has some 17 million rows at 1,000 series)."""
    y, point = points["y"].to_numpy(dtype=float), points["point"].to_numpy(dtype=float)
    kept = np.isfinite(y) & np.isfinite(point) & (True if rows is None else rows)
    keys = points.loc[kept, ["series", "target", "origin", "method"]]
    mae = (keys.assign(err=np.abs(y[kept] - point[kept]))
           .groupby(["series", "target", "origin", "method"], observed=True)["err"].mean())
    return mae.unstack("method")


class _Folds:
    """A ``fold_errors`` table as one array, cut into each series-target's rows (its folds).

    The rules below read a few numbers per series; pandas' per-group machinery cost more
    than the arithmetic (about 130 s a run at 1,000 series), numpy slices of one array do not.
    """

    def __init__(self, errors: pd.DataFrame):
        errors = errors.sort_index()
        self.columns = list(errors.columns)
        self.values = errors.to_numpy(dtype=float)
        index = errors.index
        codes = [index.codes[index.names.index(level)] for level in ("series", "target")]
        starts = np.flatnonzero(np.r_[True, (np.diff(codes[0]) != 0) | (np.diff(codes[1]) != 0)])
        stops = np.r_[starts[1:], len(index)]
        series = index.get_level_values("series")[starts]
        targets = index.get_level_values("target")[starts]
        self.blocks = [(s, t, int(a), int(b)) for s, t, a, b in zip(series, targets, starts, stops, strict=True)]

    def column(self, method: str) -> int | None:
        return self.columns.index(method) if method in self.columns else None


def _dropped(errors: np.ndarray) -> bool:
    """Whether a method misses a fold after one it forecast (the guard dropped it there)."""
    present = ~np.isnan(errors)
    return bool(present.any() and not present[int(np.argmax(present)):].all())


def _log_ratios(errors: np.ndarray, baseline: np.ndarray) -> np.ndarray | None:
    """Per-fold ``log(MAE_method / MAE_baseline)`` over the folds both forecast; None when either
    misses a fold after one it forecast (the guard dropped it).

    A method missing only the earliest folds could not be fitted on the history before them
    (MSTL on a week of days, a lag model on a day of hours): that says nothing of its error,
    and it is compared where it forecast. Required at every fold, MSTL, which halved the
    ensemble's error on the three later folds of M4's series summed to 15 days, could never
    replace that ensemble (the median of MSTL, the seasonal naive and its near-copy there,
    the seasonal mean).
    """
    if _dropped(errors) or _dropped(baseline):
        return None
    both = ~np.isnan(errors) & ~np.isnan(baseline)
    errors, baseline = errors[both], baseline[both]
    floor = max(float(baseline.mean()) * 1e-6, 1e-12) if len(baseline) else np.nan
    return np.log(errors + floor) - np.log(baseline + floor)


def _clear_win(ratios: np.ndarray, count: int, rule: SelectionRule) -> float | None:
    """The mean log ratio when the method wins clearly, else None.

    Clearly: at least ``count`` observations, wins (a ratio below zero) in at least
    ``min_win_share`` of them, and a mean below ``log(1 - margin)`` by ``z`` standard
    errors (the observations' own noise).
    """
    if len(ratios) < count:
        return None
    mean = float(ratios.mean())
    spread = float(ratios.std(ddof=1)) if len(ratios) > 1 else np.inf
    wins = float((ratios < 0).mean())
    return (mean if mean < np.log(1 - rule.margin) and mean + rule.z * spread / np.sqrt(len(ratios)) < 0
            and wins >= rule.min_win_share else None)


def _best_against(folds: np.ndarray, columns: list[str], baseline: str, rule: SelectionRule) -> str:
    """The method that beats ``baseline`` clearly on this series' folds (rows; one column per
    method), else ``baseline``."""
    best, best_gain = baseline, 0.0
    reference = folds[:, columns.index(baseline)]
    for i, method in enumerate(columns):
        ratios = _log_ratios(folds[:, i], reference) if method != baseline else None
        gain = _clear_win(ratios, rule.min_folds, rule) if ratios is not None else None
        if gain is not None and gain < best_gain:
            best, best_gain = method, gain
    return best


def _pooled_defaults(folds: _Folds, rule: SelectionRule) -> dict[str, str]:
    """Per target, the method that beats the ensemble across series (each series' mean log ratio
    one observation), where one does clearly; else the ensemble."""
    ensemble = folds.column("ensemble")
    by_target: dict[str, list[np.ndarray]] = {}
    for _, target, start, stop in folds.blocks:  # series in order within each target
        if stop - start >= rule.min_folds:
            rows = folds.values[start:stop]
            by_target.setdefault(target, []).append(rows[~np.isnan(rows[:, ensemble])])
        else:
            by_target.setdefault(target, [])
    defaults = {}
    for target in sorted(by_target):
        best, best_gain = "ensemble", 0.0
        for i, method in enumerate(folds.columns):
            if method == "ensemble":
                continue
            per_series = [r.mean() for rows in by_target[target]
                          if (r := _log_ratios(rows[:, i], rows[:, ensemble])) is not None
                          and len(r) >= rule.min_folds]
            gain = _clear_win(np.asarray(per_series), rule.min_series, rule)
            if gain is not None and gain < best_gain:
                best, best_gain = method, gain
        defaults[target] = best
    return defaults


def _evidenced(rows: np.ndarray, column: int | None, rule: SelectionRule) -> bool:
    """Whether a series' folds (``rows``) hold the evidence a default needs there: the method at every
    fold, or, where it started late, at ``min_folds`` folds and never dropped after its first."""
    if column is None:
        return False
    errors = rows[:, column]
    present = int((~np.isnan(errors)).sum())
    return present == len(errors) or (present >= rule.min_folds and not _dropped(errors))


def _choose(folds: _Folds, rule: SelectionRule, single: bool = True) -> dict[str, str]:
    """``series|target`` -> method; ``single`` False: the ensemble for every series the folds hold."""
    if folds.column("ensemble") is None:
        return {}
    if not single:
        return {f"{series}|{target}": "ensemble" for series, target, _, _ in folds.blocks}
    defaults = _pooled_defaults(folds, rule)
    ensemble = folds.column("ensemble")
    chosen = {}
    for series, target, start, stop in folds.blocks:
        rows = folds.values[start:stop]
        rows = rows[~np.isnan(rows[:, ensemble])]
        if not len(rows):
            continue
        default = defaults.get(target, "ensemble")
        if default != "ensemble" and not _evidenced(rows, folds.column(default), rule):
            default = "ensemble"
        chosen[f"{series}|{target}"] = _best_against(rows, folds.columns, default, rule)
    return chosen


def choose_methods(points: pd.DataFrame, rule: SelectionRule | None = None) -> dict[str, str]:
    """``series|target`` -> the method the plan uses (see the module docstring).

    The default per target is the ensemble, or the method that beats it clearly across
    ``min_series`` series or more (pooled evidence); a series then keeps that default
    unless another method beats it clearly on the series' own folds. A series whose
    default was dropped by the guard at some fold falls back to the ensemble.
    """
    return _choose(_Folds(fold_errors(points)), rule or SelectionRule())


def _members(errors: pd.DataFrame, size: int | None) -> dict[str, list[str]]:
    """``series|target`` -> the ``size`` methods of ``errors`` (no ensemble) with the lowest mean
    error over the folds (rows in time order), best first; ``None``: every method, ranked (the
    ensemble takes the first ``size`` of them that pass the guard at its origin).

    A method missing at a fold after one it forecast (the guard dropped it) counts as that
    fold's worst error. A method missing at the earliest folds only (the history before them
    was too short to fit it: a lag model on the first day of a week of hours) is taken to do
    there as it did, relative to the methods present at every fold, where it could be fit
    (``_imputed_late_folds``); counted as the worst, a lag model that was the best of every
    candidate on the folds it could forecast (on M4's 414 hourly series cut to a week) never
    entered the median.
    """
    if size == 0 or errors.empty:
        return {}
    folds = _Folds(errors)
    columns = np.array(folds.columns, dtype=object)
    members = {}
    for series, target, start, stop in folds.blocks:
        rows = folds.values[start:stop]
        rows = rows[~np.isnan(rows).all(axis=1)]  # a fold no candidate forecast says nothing
        present = ~np.isnan(rows)
        seen = present.any(axis=0)
        if seen.any():
            rows, present = _imputed_late_folds(rows, present)
            worst = np.where(present, rows, -np.inf).max(axis=1, keepdims=True)
            means = np.where(present, rows, worst)[:, seen].mean(axis=0)
            members[f"{series}|{target}"] = list(columns[seen][np.argsort(means, kind="stable")][:size])
    return members


def ensemble_ranking(selection: dict[str, Any]) -> tuple[dict[str, list[str]], int | None]:
    """The forecast's ensemble from a model selection: every candidate ranked and how many to combine.

    A selection written before the ranking was kept has the members alone (combined as listed).
    """
    if "ensemble_ranking" in selection:
        return selection["ensemble_ranking"], (selection.get("rule") or {}).get("ensemble_size") or None
    return selection.get("ensemble_members") or {}, None


def _pooled_ranking(errors: pd.DataFrame) -> dict[str, list[str]]:
    """Per target, every candidate of ``errors`` (``fold_errors`` of the candidates) ranked across its series, best
    first: per series the mean, over its folds, of each method's log error over the fold's median candidate error,
    then the mean over the series (a method a series' folds never saw counts as absent there)."""
    if errors.empty:
        return {}
    values = errors.to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = np.nanmedian(values, axis=1, keepdims=True)
        floor = max(float(np.nanmean(reference)) * 1e-6, 1e-12)
        logs = pd.DataFrame(np.log(values + floor) - np.log(reference + floor), index=errors.index,
                            columns=errors.columns)
    per_series = logs.groupby(level=["series", "target"]).mean()
    out = {}
    for target, rows in per_series.groupby(level="target"):
        means = rows.mean(axis=0).dropna()
        out[str(target)] = list(means.sort_values(kind="stable").index)
    return out


def _borrowed_evidence(errors: pd.DataFrame, like: np.ndarray, ranking: dict[str, list[str]],
                       chosen: dict[str, str], rule: SelectionRule,
                       single: bool) -> tuple[dict[str, list[str]], dict[str, str], list[str]]:
    """``ranking`` and ``chosen`` with a series none of whose folds is like its forecast (``like``: per row of
    ``errors``, ``folds_like_forecast``) taking its target's, read from the other series' folds that are; and
    those ``series|target`` keys, sorted (the report names them).

    One layout serves every series of a file, drawn from its longest history: a model used for the last 22
    days of a file whose others span 33 has its folds 1, 8 and 15 days into its history, where a weekly
    season is not yet there, and what won on them (candidates fitted on a day or a week of hours) is not
    what does best on its 22 days. On M4's 414 hourly series a week ahead (the 169 of 22 days beside 245
    of 33), those series' MASE read 1.000 in the one file against 0.867 run alone. The other series' folds
    that are like their forecasts are the evidence: the target's method where one wins clearly across
    them, and their ranking for the ensemble. Where no series has such folds (one history: every fold is
    shorter than the forecast's), nothing changes.
    """
    if not len(errors) or like.all():
        return ranking, chosen, []
    keys = errors.index.get_level_values("series").astype(str) + "|" + errors.index.get_level_values("target")
    has_like = pd.Series(like, index=keys).groupby(level=0).any()
    borrowers = has_like.index[~has_like.to_numpy()]
    if not len(borrowers) or not has_like.any():
        return ranking, chosen, []
    evidence = errors[like]
    pooled = _pooled_ranking(_candidate_errors(evidence))
    defaults = _pooled_defaults(_Folds(evidence), rule) if single and "ensemble" in evidence else {}
    ranking, chosen, borrowed = dict(ranking), dict(chosen), []
    for key in borrowers:
        target = key.rsplit("|", 1)[-1]
        if target not in pooled:
            continue
        if ranking:
            ranking[key] = pooled[target]
        chosen[key] = defaults.get(target, "ensemble")
        borrowed.append(str(key))
    logger.info("%d series-targets have no backtest fold as long as their forecast's history: they take the "
                "method and ensemble members their target's other series' folds show best", len(borrowed))
    return ranking, chosen, sorted(borrowed)


def _imputed_late_folds(rows: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` (folds x methods, NaN: no error) with each method's leading missing folds filled in.

    A method that starts late is given, at each fold before its first, the reference error
    there (the median of the methods present at every fold) times its geometric mean ratio to
    the reference over the folds it forecast. Unchanged where no method is present at every fold.
    """
    late = np.logical_and.accumulate(~present, axis=0) & present.any(axis=0)
    complete = present.all(axis=0)
    if not late.any() or not complete.any():
        return rows, present
    reference = np.median(rows[:, complete], axis=1)
    floor = max(float(np.nanmean(reference)) * 1e-6, 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log(rows + floor) - np.log(reference + floor)[:, None]
    read = present & np.isfinite(logs)  # a method never present has no ratio (and is not late)
    counts = read.sum(axis=0)
    ratio = np.exp(np.divide(np.where(read, logs, 0.0).sum(axis=0), counts, out=np.zeros(len(counts)),
                             where=counts > 0))
    filled = np.where(late, (reference + floor)[:, None] * ratio[None, :] - floor, rows)
    return filled, present | late


def _candidate_errors(errors: pd.DataFrame, before: pd.Timestamp | None = None) -> pd.DataFrame:
    """``errors`` without the ensemble and the chosen method, at the origins before ``before``:
    what ``fold_errors`` gives on those rows alone."""
    kept = errors.drop(columns=[c for c in ("ensemble", "chosen") if c in errors.columns])
    if before is not None:
        kept = kept[kept.index.get_level_values("origin") < before]
    return kept[kept.notna().any(axis=1)]


def ensemble_members_by_evidence(points: pd.DataFrame, size: int,
                                 before: pd.Timestamp | None = None) -> dict[str, list[str]]:
    """``series|target`` -> the ``size`` candidates with the lowest mean fold MAE (folds before ``before``).

    A fold where a candidate has no error (the guard dropped it there, or the history
    before it was too short to fit it) counts as that fold's worst error: a penalty, not
    an exclusion. Excluding it let one drop at the first fold, on a day of history, keep
    the method best on the later folds out of the median. No folds, or ``size`` 0: no
    entry (every candidate combines).
    """
    rows = ~points["method"].isin(["ensemble", "chosen"]).to_numpy()
    if before is not None:
        rows &= (points["origin"] < before).to_numpy()
    if not size or not rows.any():
        return {}
    return _members(fold_errors(points, rows), size)


def _evidence_ensembles(points: pd.DataFrame, size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``points`` with each fold's ensemble combining the members that did best on the folds before
    it, and the fold errors of every method (the new ensembles' included).

    Every fold's ensemble rows (one per series, target and time, as ``candidate_points`` gives
    them) keep their place and take the new ensemble's points: the table is not rebuilt (at
    1,000 series a copy per fold and their concatenation held three fold tables at once).
    """
    ensembles = (points["method"] == "ensemble").to_numpy()
    candidates = _candidate_errors(fold_errors(points, ~ensembles))
    origins, origin_names = pd.factorize(points["origin"], sort=True)
    point = points["point"].to_numpy(dtype=float, copy=True)
    for o, origin in enumerate(origin_names):
        in_fold = origins == o
        ranking = _members(_candidate_errors(candidates, origin), None) if size else {}
        rows = ensemble_rows(points[in_fold & ~ensembles], ranking, size)
        at = np.flatnonzero(in_fold & ensembles)
        _check_same_keys(points, at, rows)
        point[at] = rows["point"].to_numpy()
    points = points.copy(deep=False)
    points["point"] = point
    ensemble = fold_errors(points, ensembles)
    errors = candidates.join(ensemble, how="outer")
    return points, errors[sorted(errors.columns)]


def _check_same_keys(points: pd.DataFrame, at: np.ndarray, rows: pd.DataFrame) -> None:
    """Raise unless ``points``' rows ``at`` are ``rows``' series, targets and times in the same order."""
    same = len(at) == len(rows) and all(
        np.array_equal(points[c].to_numpy()[at], rows[c].to_numpy()) for c in ("ds", "series", "target"))
    if not same:
        raise ValueError("a fold's ensemble rows are not one per series, target and time of its candidates")


def _graded_choices(points: pd.DataFrame, rule: SelectionRule, final: dict[str, str],
                    errors: pd.DataFrame | None = None, single: bool = True) -> pd.DataFrame:
    """The rows of method ``chosen``: at each backtest fold the rule's pick from the folds before it,
    at each tuning fold ``final``, the pick from every fold (those rows calibrate intervals and
    totals, never grade). ``errors``: ``fold_errors(points)``, if already at hand."""
    errors = fold_errors(points) if errors is None else errors
    codes, keys = series_target_codes(points)
    methods = points["method"].to_numpy()
    origins = errors.index.get_level_values("origin")
    picked = []
    for (origin, role), fold in points.groupby(["origin", "role"], sort=True):
        choice = final if role == "tuning" else _choose(_Folds(errors[origins < origin]), rule, single)
        wanted = np.array([choice.get(key, "ensemble") for key in keys], dtype=object)
        at = fold.index.to_numpy()
        picked.append(fold[methods[at] == wanted[codes[at]]])
    return pd.concat(picked).assign(method="chosen")


def _interval_values(point: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Quantiles ``expm1(log1p(point) + offset)`` per row, sorted, never below zero."""
    return np.sort(np.clip(np.expm1(np.log1p(point)[:, None] + shift), 0, None), axis=1)


def apply_intervals(rows: pd.DataFrame, widths: dict, quantiles: list[float]) -> pd.DataFrame:
    """``rows`` (with ``point``) plus one column per quantile: ``expm1(log1p(point) + offset)``."""
    out = rows.copy()
    shift = step_offsets(widths, rows["series"], rows["target"], rows["step"], ds=rows.get("ds"))
    out[quantile_columns(quantiles)] = _interval_values(rows["point"].to_numpy(), shift)
    return out


def fold_step_errors(points: pd.DataFrame, keys: RowKeys, origins: np.ndarray, scales: dict[str, float],
                     edges: list[int], phases: dict | None = None) -> tuple[StepErrors, np.ndarray]:
    """(The fold table's errors ``log1p(y) - log1p(point)``, each weighted by its fold's rank in time,
    1 for the oldest: ``recency_weights``; the positions of the rows that have one).

    A bucket the method forecast as empty (``point < EMPTY_POINT``) that came in empty has no
    error: its interval says nothing about a busy bucket's. Counted, the nights and weekends of
    a business-hours service (five weeks of hours, 9 busy hours a weekday at about 300 requests)
    were 73% of the errors, all near zero, and held the 80% quantile of the errors to a third of
    the busy hours' own: the busy hours fell inside P10-P90 half the time (49.6%; 78.5% without them). A
    sparse model's empty days keep their errors (its forecast of such a day is not empty: a fraction of a request).
    ``phases`` (``phase_scales``): each error is normalised by its series' scale at its bucket's phase.
    """
    y, point = points["y"].to_numpy(dtype=float), points["point"].to_numpy(dtype=float)
    labelled = np.flatnonzero(np.isfinite(y) & np.isfinite(point) & ~empty_called(y, point))
    phase = phase_of(points["ds"].to_numpy()[labelled], phases["freq"]) if phases else None
    errors = StepErrors(np.log1p(y[labelled]) - np.log1p(point[labelled]), points["step"].to_numpy()[labelled],
                        keys.take(labelled), scales, edges, weight=recency_weights(origins[labelled]),
                        fold=origins[labelled], phase=phase, phases=phases)
    return errors, labelled


def _calibrated(points: pd.DataFrame, series: pd.DataFrame, spec: FeatureSpec, quantiles: list[float],
                scales: dict[str, float], edges: list[int], guard: GuardSettings,
                forecast_like: tuple[np.ndarray, dict[str, str]] | None = None,
                phases: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """(Every fold's rows with intervals from the other folds' errors of their method, upper quantiles capped;
    each method's widths from every fold, for the forecast).

    ``forecast_like``: per row of ``points`` whether its fold is like the forecast
    (``folds_like_forecast``), and the method each ``series|target`` forecasts with, given where
    some backtest fold is not: the forecast's widths then come from ``forecast_calibration_rows``.
    ``phases`` (``phase_scales``): the scales' multipliers per phase of the day (or week).

    Rows are ordered by origin, then method, as the folds were calibrated; a method with
    no error on the other folds gets no intervals at that fold (its rows are left out).
    The fold table is keyed once and never copied per fold or method: at 1,000 series it
    holds some 17 million rows, and copies per fold and method were the backtest's peak
    memory (12 GB) and a minute of its time.
    """
    keys = RowKeys.of(points)
    methods, method_names = pd.factorize(points["method"], sort=True)
    origins, origin_names = pd.factorize(points["origin"], sort=True)
    point = points["point"].to_numpy(dtype=float)
    errors, labelled = fold_step_errors(points, keys, origins, scales, edges, phases)
    error_methods, error_origins = methods[labelled], origins[labelled]

    def widths(use: np.ndarray, level_shares: bool = False) -> dict[int, dict]:
        rows = {m: np.flatnonzero(use & (error_methods == m)) for m in range(len(method_names))}
        return {m: errors.widths(quantiles, rows=at, level_shares=level_shares) for m, at in rows.items() if len(at)}

    values = np.full((len(points), len(quantiles)), np.nan)
    order, step, ds = [], points["step"].to_numpy(), points["ds"].to_numpy()
    for o in range(len(origin_names)):
        others = error_origins != o
        by_method = widths(others if others.any() else np.ones(len(labelled), bool))
        in_fold = np.flatnonzero(origins == o)
        fold_order = []
        for m in sorted(by_method):  # the method names' order
            at = in_fold[methods[in_fold] == m]
            shift = step_offsets(by_method[m], None, None, step[at], keys=keys.take(at), ds=ds[at])
            values[at] = _interval_values(point[at], shift)
            fold_order.append(at)
        at = np.concatenate(fold_order) if fold_order else np.zeros(0, int)
        if not len(at):
            continue
        rows = pd.DataFrame({c: points[c].to_numpy()[at] for c in ("series", "target", "step", "stated_effect")
                             if c in points})  # the fold's rows of four columns, not four columns of every fold
        values[at] = capped_upper_values(values[at], rows, series, origin_names[o], spec, quantiles, guard)
        order.append(at)
    if forecast_like is None:
        final = {str(method_names[m]): table for m, table in widths(np.ones(len(labelled), bool), True).items()}
    else:
        final = _forecast_widths(errors, quantiles, error_methods, method_names, forecast_like[0][labelled],
                                 forecast_like[1])
    order = np.concatenate(order) if order else np.zeros(0, int)
    # The keys and errors (some 2 GB at 1,000 series) go before the table is copied in fold order.
    del widths, errors, keys, labelled, error_methods, error_origins, methods, origins, ds
    table = points.take(order)
    table.index = pd.RangeIndex(len(table))  # not reset_index: another copy of 15 million rows
    table[quantile_columns(quantiles)] = values[order]
    return table, final


def _forecast_widths(errors: StepErrors, quantiles: list[float], methods: np.ndarray, method_names: pd.Index,
                     like: np.ndarray, chosen: dict[str, str]) -> dict[str, dict]:
    """Each method's widths for the forecast where some fold could not fit what the forecast fits: each
    series' own from its folds like the forecast, pooled over the series that use the method
    (``tokenplan.forecasting.forecast_calibration``)."""
    keys = errors.keys
    used = np.array([chosen.get(key, "ensemble") for key in keys.keys], dtype=object)[keys.key]
    final = {}
    for m, name in enumerate(method_names):
        at = np.flatnonzero(methods == m)
        if not len(at):
            continue
        uses = np.ones(len(at), bool) if name == "chosen" else used[at] == name
        own, pool = forecast_calibration_rows(keys.take(at), like[at], uses)
        final[str(name)] = errors.widths(quantiles, rows=at[own], level_shares=True, pool=at[pool])
    return final


def backtest_candidates(examples: pd.DataFrame, series: pd.DataFrame, spec: FeatureSpec, layout: dict[str, Any],
                        quantiles: list[float], params: dict[str, Any] | None, seed: int = 0,
                        rule: SelectionRule | None = None, guard: GuardSettings | None = None,
                        lags: LagModelSettings | None = None
                        ) -> tuple[pd.DataFrame, dict[str, str], dict[str, dict], pd.DataFrame, pd.DataFrame]:
    """Every candidate at every fold, the per-series choice, each method's offsets, the guard's drops,
    and MSTL's points at the forecast origin.

    Each fold's ensemble combines the ``rule.ensemble_size`` candidates with the lowest
    error on the folds before it (every candidate at the first fold); the forecast's
    members come from every fold's points, before calibration leaves out a method with an
    error at one fold only (on four days of hours the lag models, first fitted at the last
    fold: read from the calibrated table, they never joined the median).

    Returns the long table ``series, target, origin, ds, step, y, method, role, point, p..``
    (``role``: tuning or backtest; ``method`` includes ``chosen``, graded out of sample),
    the choice from every fold (``series|target`` -> method), the offsets the final
    forecast uses, the candidates the guard dropped per fold, and MSTL's points at the
    forecast origin (the examples' last ``origin``; ``start_mstl``'s columns): those fits are
    queued on the workers after the folds', so they run while this process chooses and
    calibrates on one core, and the forecast (``predict_forecast``) does not wait for them;
    and every candidate ranked for the forecast's ensemble (``series|target`` -> methods, best
    first; it combines the first ``rule.ensemble_size`` that pass the guard); and the ``series|target`` keys
    that took their target's evidence, having no fold as long as their forecast's history
    (``_borrowed_evidence``). ``params`` are XGBoost's (None when the layout trains no model).
    """
    rule, guard = rule or SelectionRule(), guard or GuardSettings()
    folds = ([(pd.Timestamp(o), "tuning") for o in layout["tuning_origins"]]
             + [(pd.Timestamp(o), "backtest") for o in layout["backtest_origins"]])
    frames, drops = [], []
    # Every fold's MSTL fits start on the workers at once; this process fits and forecasts
    # the other candidates meanwhile, fold by fold.
    history = without_stated_effects(series, examples)
    mstl = {origin: start_mstl(examples, series, origin, spec, layout["seasons"], guard, history)
            for origin, _ in folds}
    forecast_mstl = start_mstl(examples, series, examples["origin"].max(), spec, layout["seasons"], guard, history)
    for origin, role in progress.track(folds, "backtest folds"):
        model = fit_for_origin(examples, origin, spec, quantiles, params, seed) if params is not None else None
        points, dropped = candidate_points(examples, series, origin, spec, layout["seasons"], model, guard=guard,
                                           lags=lags, mstl=mstl.pop(origin), history=history)
        # A fold is its window: later labels of a tuning fold lie inside the backtest
        # windows, and later labels of a backtest fold inside the next fold's.
        points = points[points["step"] <= layout["window"]]
        points.insert(points.columns.get_loc("method"), "role", role)  # a fold table's columns end method, point
        frames.append(points)
        drops.append(dropped.assign(role=role))
    points = pd.concat(frames, ignore_index=True)
    del frames  # the folds' tables stay alive otherwise: a copy of every candidate at every fold
    points, fold_table = _evidence_ensembles(points, rule.ensemble_size)
    # The forecast's members from the same evidence as every fold's ensemble: all folds' points,
    # before calibration leaves out a method with an error at one fold only; ranked in full, so
    # that a member the guard drops at the forecast origin gives way to the next.
    ranking = _members(_candidate_errors(fold_table), None) if rule.ensemble_size else {}
    single = rule.allows_single(layout["window"], layout["horizon"])
    chosen = _choose(_Folds(fold_table), rule, single)
    like_table = folds_like_forecast(fold_table.index.to_frame(index=False), series, spec.freq, layout["seasons"],
                                     examples["origin"].max())
    ranking, chosen, borrowed = _borrowed_evidence(fold_table, like_table, ranking, chosen, rule, single)
    points = pd.concat([points, _graded_choices(points, rule, chosen, fold_table, single)], ignore_index=True)
    scales, phases = noise_scales(examples, spec.season), phase_scales(examples, spec.season, spec.freq)
    edges = step_bins(layout["window"], spec.season)
    like = folds_like_forecast(points, series, spec.freq, layout["seasons"], examples["origin"].max())
    unlike_backtest = not like[(points["role"] == "backtest").to_numpy()].all()
    table, final = _calibrated(points, series, spec, quantiles, scales, edges, guard,
                               (like, chosen) if unlike_backtest else None, phases)
    return table, chosen, final, concat_drops(drops, drops[0]), forecast_mstl(), ranking, borrowed
