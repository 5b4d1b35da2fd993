"""Backtest and calibration of the peak forecast on held-out windows of history.

At each backtest fold's origin, the out-of-sample forecast of the bucket totals (the
training backtest's predictions) and the peak-to-mean ratios seen up to the origin
give the simulated peaks of every day, month and of the whole window after it, exactly
as the capacity plan does for the future (``p50_raw``, ``p90_raw``).

Calibration fits one :class:`~tokenplan.planning.capacity.PeakCalibration` (a level and
the spread of the error the buckets share) to every window at once, pooled over groups
and metrics: the pair that minimises the pinball loss of the log P50 and log P90 against
the log realised peak, each window kind (day, month, whole window) weighing the same and
a window counted once when a month spans the whole window. It scales each draw as a
whole, so the plan's quantiles stay consistent across windows. The plan applies the pair
fitted on every fold; the coverage the backtest reports for a fold uses the pair fitted
on the *other* folds only (``p50``, ``p90``, ``under_p50``, ``under_p90``), so it is honest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from tokenplan.planning.capacity import (
    PeakCalibration,
    PeakModel,
    bucket_peak_draws,
    driver_quantiles,
    unit_rng,
    window_kind,
    window_peaks,
    windows,
)
from tokenplan.planning.rate_limits import METRICS

BACKTEST_COLUMNS = ("model_group", "metric", "origin", "period", "kind", "start", "end", "p50_raw", "p90_raw",
                    "realised", "p50", "p90", "under_p50", "under_p90")
# Fewest distinct windows a calibration is fitted to; below, the raw simulation stands.
MIN_CALIBRATION_WINDOWS = 5
# The searched corrections: the shared error's spread, then the level (log-spaced).
SPREADS = np.round(np.arange(-0.6, 1.2001, 0.1), 2)
LEVELS = np.exp(np.linspace(np.log(0.25), np.log(4.0), 161))
# At most this many windows of a kind enter a fit (evenly spaced), to bound its time.
MAX_FIT_WINDOWS = 500
LEVELS_OF_QUANTILE = (0.5, 0.9)

__all__ = ["BACKTEST_COLUMNS", "PeakBacktest", "backtest_peaks", "calibration_factors", "coverage_summary",
           "cross_calibrated", "fit_calibration"]


class PeakBacktest(NamedTuple):
    """Backtest windows (``rows``) and, per window, each draw's simulated peak and shared error score."""

    rows: pd.DataFrame     # BACKTEST_COLUMNS up to ``realised``
    peaks: np.ndarray      # (windows, draws)
    common: np.ndarray     # (windows, draws)

    def take(self, mask: np.ndarray) -> PeakBacktest:
        """The windows where ``mask`` holds."""
        mask = np.asarray(mask, bool)
        return PeakBacktest(self.rows[mask].reset_index(drop=True), self.peaks[mask], self.common[mask])

    @staticmethod
    def concat(parts: Sequence[PeakBacktest], draws: int) -> PeakBacktest:
        """One backtest of several (e.g. of several series, pooled for calibration)."""
        parts = [p for p in parts if len(p.rows)]
        if not parts:
            return PeakBacktest(pd.DataFrame(columns=list(BACKTEST_COLUMNS[:10])), np.empty((0, draws)),
                                np.empty((0, draws)))
        return PeakBacktest(pd.concat([p.rows for p in parts], ignore_index=True),
                            np.concatenate([p.peaks for p in parts]), np.concatenate([p.common for p in parts]))


def _quantiles(backtest: PeakBacktest, calibration: PeakCalibration) -> tuple[np.ndarray, np.ndarray]:
    calibrated = backtest.peaks * calibration.factors(backtest.common)
    return np.quantile(calibrated, 0.5, axis=1), np.quantile(calibrated, 0.9, axis=1)


def _fit_rows(backtest: PeakBacktest) -> PeakBacktest:
    """Windows usable for a fit: positive peaks, each span once (a month spanning the whole window is one)."""
    rows = backtest.rows
    usable = (rows["realised"] > 0) & (rows["p50_raw"] > 0)
    usable &= ~rows.duplicated(["model_group", "metric", "origin", "start", "end"], keep="last")
    keep = usable.to_numpy().copy()
    for kind in rows["kind"].unique():
        where = np.flatnonzero(keep & (rows["kind"] == kind).to_numpy())
        if len(where) > MAX_FIT_WINDOWS:
            keep[np.setdiff1d(where, where[np.linspace(0, len(where) - 1, MAX_FIT_WINDOWS).astype(int)])] = False
    return backtest.take(keep)


def fit_calibration(backtest: PeakBacktest) -> dict[str, Any]:
    """``{"level", "spread", "windows", "by_kind"}`` fitted on the backtest; identity on too few windows.

    Minimises the pinball loss of log P50 and log P90 against the log realised peak, each
    window kind weighing the same.
    """
    usable = _fit_rows(backtest)
    kinds = usable.rows["kind"].to_numpy()
    by_kind = {str(k): int(n) for k, n in zip(*np.unique(kinds, return_counts=True), strict=True)}
    if len(usable.rows) < MIN_CALIBRATION_WINDOWS:
        return {"level": 1.0, "spread": 0.0, "windows": len(usable.rows), "by_kind": by_kind}
    weight = 1.0 / np.array([by_kind[k] for k in kinds])
    realised = np.log(usable.rows["realised"].to_numpy(float))
    log_levels = np.log(LEVELS)
    best = (np.inf, 1.0, 0.0)
    for spread in SPREADS:
        quantiles = _quantiles(usable, PeakCalibration(1.0, float(spread)))
        loss = np.zeros(len(LEVELS))
        for tau, q in zip(LEVELS_OF_QUANTILE, quantiles, strict=True):
            # error of every window (rows) at every level (columns)
            error = realised[:, None] - np.log(np.clip(q, 1e-12, None))[:, None] - log_levels[None, :]
            loss += (weight[:, None] * np.maximum(tau * error, (tau - 1) * error)).sum(axis=0)
        i = int(np.argmin(loss))
        if loss[i] < best[0] - 1e-12:
            best = (float(loss[i]), float(LEVELS[i]), float(spread))
    return {"level": best[1], "spread": best[2], "windows": len(usable.rows), "by_kind": by_kind}


def calibration_factors(backtest: PeakBacktest) -> dict[str, Any]:
    """The calibration the plan applies (fitted on every fold): see :func:`fit_calibration`."""
    return fit_calibration(backtest)


def cross_calibrated(backtest: PeakBacktest) -> pd.DataFrame:
    """The rows with ``p50``, ``p90``, ``under_*`` of each fold calibrated on the other folds (raw if none)."""
    rows = backtest.rows.copy()
    rows["p50"], rows["p90"] = rows["p50_raw"].astype(float), rows["p90_raw"].astype(float)
    origins = rows["origin"].to_numpy()
    for origin in pd.unique(origins):
        fold = origins == origin
        calibration = PeakCalibration.from_mapping(fit_calibration(backtest.take(~fold)))
        p50, p90 = _quantiles(backtest.take(fold), calibration)
        rows.loc[fold, "p50"], rows.loc[fold, "p90"] = p50, p90
    return rows.assign(under_p50=rows["realised"] <= rows["p50"], under_p90=rows["realised"] <= rows["p90"])


def simulate_backtest(predictions: pd.DataFrame, history: pd.DataFrame, limits: pd.DataFrame,
                      members: Mapping[str, list[str]], quantile_names: Sequence[str], freq: str,
                      model: PeakModel) -> PeakBacktest:
    """Every fold origin's simulated peaks of each unit, metric and window against the realised peak."""
    rows, peaks, common = [], [], []
    for origin, fold in predictions.groupby("origin", sort=True):
        for unit, series in members.items():
            reads = bool(limits.loc[unit, "itpm_counts_cache_reads"]) if unit in limits.index else False
            for metric in METRICS:
                past = history[(history["unit"] == unit) & (history["metric"] == metric)]
                quantiles = driver_quantiles(fold, series, metric, reads, quantile_names, time_column="ds")
                realised = past.set_index("ds")["peak"].reindex(quantiles.index)
                quantiles = quantiles[realised.notna().to_numpy()]
                train = past[past["ds"] <= origin]
                if quantiles.empty or not np.isfinite(train["ratio"]).any():
                    continue
                draws = bucket_peak_draws(quantiles, train, freq, model,
                                          unit_rng(model.seed, unit, metric, str(origin)))
                ds = pd.DatetimeIndex(quantiles.index)
                actual = realised.dropna().to_numpy()
                for window in windows(ds):
                    inside = np.asarray((ds >= window.start) & (ds <= window.end))
                    peak = window_peaks(draws.peaks, ds, window)
                    peaks.append(peak)
                    common.append(draws.common)
                    rows.append({"model_group": unit, "metric": metric, "origin": origin, "period": window.period,
                                 "kind": window.kind, "start": window.start, "end": window.end,
                                 "p50_raw": float(np.quantile(peak, 0.5)), "p90_raw": float(np.quantile(peak, 0.9)),
                                 "realised": float(actual[inside].max())})
    if not rows:
        return PeakBacktest.concat([], model.n_draws)
    return PeakBacktest(pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS[:10])), np.array(peaks), np.array(common))


def backtest_peaks(predictions: pd.DataFrame, history: pd.DataFrame, limits: pd.DataFrame,
                   members: Mapping[str, list[str]], quantile_names: Sequence[str], freq: str,
                   model: PeakModel) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per fold origin, unit, metric and window (each day ``YYYY-MM-DD``, month ``YYYY-MM``, and
    ``horizon``: the whole window after the origin), raw and cross-fold calibrated; and the calibration
    fitted on every fold."""
    simulated = simulate_backtest(predictions, history, limits, members, quantile_names, freq, model)
    rows = cross_calibrated(simulated).reset_index(drop=True).loc[:, list(BACKTEST_COLUMNS)]
    return rows, calibration_factors(simulated)


def coverage_summary(backtest: pd.DataFrame) -> pd.DataFrame:
    """Per metric and window kind: windows, share of realised peaks under P50 and P90, calibrated
    (other folds' correction) and raw, and the share of windows whose P90 is at most twice the realised peak."""
    frame = backtest.assign(window=window_kind(backtest["period"]),
                            under_p50_raw=backtest["realised"] <= backtest["p50_raw"],
                            under_p90_raw=backtest["realised"] <= backtest["p90_raw"],
                            p90_within_2x=backtest["p90"] <= 2 * backtest["realised"],
                            p90_within_2x_raw=backtest["p90_raw"] <= 2 * backtest["realised"])
    frame["window"] = frame["window"].replace({"horizon": "whole window"})
    return (frame.groupby(["metric", "window"]).agg(
        windows=("realised", "size"), under_p50=("under_p50", "mean"), under_p90=("under_p90", "mean"),
        p90_within_2x=("p90_within_2x", "mean"), under_p50_raw=("under_p50_raw", "mean"),
        under_p90_raw=("under_p90_raw", "mean"), p90_within_2x_raw=("p90_within_2x_raw", "mean")).reset_index())
