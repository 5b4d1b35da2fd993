"""Backtest and calibration of the peak forecast on held-out windows of history.

At each backtest fold's origin, the out-of-sample forecast of the bucket totals (the
training backtest's predictions) and the peak-to-mean ratios seen up to the origin
give the simulated peaks of every day, month and of the whole window after it, exactly
as the capacity plan does for the future (``p50_raw``, ``p90_raw``).

Calibration corrects the peak model only, never the forecast of totals: ratio draws
for the realised totals (each ranked by its realised total's own score against the
forecast, as the plan's draws are), applied to the *realised* bucket totals of the held-out windows, should
put history's own busiest minute under their P50 half the time and under their P90
nine times in ten. The correction is ``scale * ratio ** power``
(:class:`~tokenplan.planning.capacity.PeakCalibration`), the pair that minimises the
pinball loss of log P50 and log P90 against the log realised peak over every window
(each window kind weighing the same, a month spanning the whole window counted once),
pooled over groups and metrics. An increasing function of each bucket's ratio, it keeps
the plan's quantiles consistent across windows.

Only folds whose ratios were drawn from a pool of history at least
``MIN_RATIO_POOL_SHARE`` of the plan's calibrate it. A window's busiest minute is the
highest of its buckets' draws, and the draws never exceed the pool's highest ratio: a
fold near the start of history, with a few days of bursts to draw from, sees its realised
peaks far above its draws and would ask for a correction that the plan, drawing from
weeks of bursts, does not need (on 45 days of bursty request logs, a fold with 11 days of
history set the correction to the top of its search, 2.0 x ratio^0.9, and the plan's P50
peaks to 1.2-1.6 times the truth's median). The plan applies the pair fitted on
every fold if it carries from fold to fold (:func:`validated_calibration`: each fold's
peaks are better predicted with the other folds' fit than with none), else none; the
coverage the backtest reports for a fold (``p50``, ``p90``,
``under_p50``, ``under_p90``: the forecast of totals and the calibrated ratios against
the realised peak) uses the pair fitted on the *other* folds only, so it is honest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from tokenplan.planning.capacity import (
    PeakCalibration,
    PeakDraws,
    PeakModel,
    Window,
    bucket_peak_draws,
    driver_quantiles,
    ratio_pool_size,
    realised_ratio_draws,
    unit_rng,
    window_kind,
    windows,
)
from tokenplan.planning.rate_limits import planned_metrics

BACKTEST_COLUMNS = ("model_group", "metric", "origin", "period", "kind", "start", "end", "p50_raw", "p90_raw",
                    "realised", "p50", "p90", "under_p50", "under_p90")
# Fewest distinct windows a calibration is fitted to; below, the raw ratios stand.
MIN_CALIBRATION_WINDOWS = 5
# A fold calibrates the plan only if it drew its ratios from at least this share of the buckets the plan draws
# from: a smaller pool holds fewer of history's bursts, so its draws fall short of the realised peaks for want
# of data, not for a fault of the peak model that the plan would share.
MIN_RATIO_POOL_SHARE = 0.5
# The searched corrections: the ratio's power, then its scale (log-spaced).
POWERS = np.round(np.arange(0.5, 1.5001, 0.1), 2)
SCALES = np.exp(np.linspace(np.log(0.5), np.log(2.0), 81))
QUANTILE_LEVELS = (0.5, 0.9)
# At most this many windows of a kind, and draws, enter a fit, to bound its time.
MAX_FIT_WINDOWS = 500
FIT_DRAWS = 400

__all__ = ["BACKTEST_COLUMNS", "PeakBacktest", "backtest_peaks", "coverage_summary", "cross_calibrated",
           "fit_calibration", "other_folds_fits", "out_of_fold_losses", "simulate_backtest", "validated_calibration"]


class Block(NamedTuple):
    """One fold origin, unit and metric: its draws, the realised totals of its buckets, and its windows."""

    draws: PeakDraws
    realised_totals: np.ndarray   # (buckets,)
    realised_ratios: np.ndarray   # (draws, buckets): ratios drawn for the realised totals
    windows: list[np.ndarray]     # per window row: a boolean mask over the buckets
    pool_share: float = 1.0       # the fold's ratio pool over the plan's (history's buckets drawn from)


class PeakBacktest(NamedTuple):
    """Backtest windows (``rows``, with ``block`` the index of their :class:`Block`) and the blocks."""

    rows: pd.DataFrame
    blocks: list[Block]

    @staticmethod
    def concat(parts: Sequence[PeakBacktest]) -> PeakBacktest:
        """One backtest of several (e.g. of several series, pooled for calibration)."""
        rows, blocks = [], []
        for part in parts:
            rows.append(part.rows.assign(block=part.rows["block"] + len(blocks)))
            blocks += part.blocks
        frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=[*BACKTEST_COLUMNS[:10], "block"])
        return PeakBacktest(frame, blocks)


def _window_quantiles(backtest: PeakBacktest, where: np.ndarray, calibration: PeakCalibration,
                      realised_totals: bool, draws: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """P50 and P90 of each chosen window's busiest minute: forecast totals, or the realised ones."""
    p50, p90 = np.full(len(where), np.nan), np.full(len(where), np.nan)
    rows = backtest.rows.iloc[where]
    for block_id, idx in rows.groupby("block").indices.items():
        block = backtest.blocks[int(block_id)]
        ratios = calibration.ratios((block.realised_ratios if realised_totals else block.draws.ratios)[:draws])
        totals = block.realised_totals[None, :] if realised_totals else block.draws.totals[:draws]
        peaks = totals / block.draws.minutes * ratios
        windows = rows["window"].to_numpy(int)[idx]
        busiest = np.column_stack([peaks[:, block.windows[w]].max(axis=1) for w in windows])  # draws x windows
        p50[idx], p90[idx] = np.quantile(busiest, [0.5, 0.9], axis=0)  # one call per block, not two per window
    return p50, p90


def _pool_shares(backtest: PeakBacktest) -> np.ndarray:
    """Per row, its fold's ratio pool over the plan's (:attr:`Block.pool_share`)."""
    shares = np.array([block.pool_share for block in backtest.blocks] or [1.0])
    return shares[backtest.rows["block"].to_numpy(int)]


def _fit_windows(backtest: PeakBacktest) -> tuple[np.ndarray, int]:
    """Positions of the windows a fit uses (positive peaks, each span once, at most ``MAX_FIT_WINDOWS`` a kind),
    and how many such windows are left out because their fold's ratio pool is too small."""
    rows = backtest.rows
    keep = ((rows["realised"] > 0) & ~rows.duplicated(["block", "start", "end"], keep="last")).to_numpy().copy()
    short = keep & (_pool_shares(backtest) < MIN_RATIO_POOL_SHARE)
    keep &= ~short
    for kind in rows["kind"].unique():
        where = np.flatnonzero(keep & (rows["kind"] == kind).to_numpy())
        if len(where) > MAX_FIT_WINDOWS:
            keep[np.setdiff1d(where, where[np.linspace(0, len(where) - 1, MAX_FIT_WINDOWS).astype(int)])] = False
    return np.flatnonzero(keep), int(short.sum())


def _kind_weights(kinds: np.ndarray) -> np.ndarray:
    """Each window's weight in a fit: one over the windows of its kind, so each kind weighs the same."""
    _, index, counts = np.unique(kinds, return_inverse=True, return_counts=True)
    return 1.0 / counts[index]


def _pinball_loss(realised: np.ndarray, quantiles: tuple[np.ndarray, np.ndarray], weight: np.ndarray,
                  log_scales: np.ndarray) -> np.ndarray:
    """Weighted pinball loss of log P50 and log P90 (each times a scale) against the log realised peak, per scale."""
    loss = np.zeros(len(log_scales))
    for tau, q in zip(QUANTILE_LEVELS, quantiles, strict=True):
        error = realised[:, None] - np.log(np.clip(q, 1e-12, None))[:, None] - log_scales[None, :]
        loss += (weight[:, None] * np.maximum(tau * error, (tau - 1) * error)).sum(axis=0)
    return loss


def fit_calibration(backtest: PeakBacktest) -> dict[str, Any]:
    """``{"ratio_scale", "ratio_power", "windows", "by_kind", "short_history_windows"}``; identity on too few
    windows.

    The ratio draws times the realised bucket totals against the realised busiest minute:
    minimises the pinball loss of log P50 and log P90, each window kind weighing the same.
    ``short_history_windows``: windows left out, their fold's ratio pool too small (``MIN_RATIO_POOL_SHARE``).
    """
    where, short = _fit_windows(backtest)
    kinds = backtest.rows["kind"].to_numpy()[where]
    by_kind = {str(k): int(n) for k, n in zip(*np.unique(kinds, return_counts=True), strict=True)}
    identity = {"ratio_scale": 1.0, "ratio_power": 1.0, "windows": len(where), "by_kind": by_kind,
                "short_history_windows": short}
    if len(where) < MIN_CALIBRATION_WINDOWS:
        return identity
    weight = _kind_weights(kinds)
    realised = np.log(backtest.rows["realised"].to_numpy(float)[where])
    best = (np.inf, 1.0, 1.0)
    for power in POWERS:
        quantiles = _window_quantiles(backtest, where, PeakCalibration(1.0, float(power)), True, FIT_DRAWS)
        loss = _pinball_loss(realised, quantiles, weight, np.log(SCALES))
        i = int(np.argmin(loss))
        if loss[i] < best[0] - 1e-12:
            best = (float(loss[i]), float(SCALES[i]), float(power))
    return {**identity, "ratio_scale": best[1], "ratio_power": best[2]}


def other_folds_fits(backtest: PeakBacktest) -> dict[Any, dict[str, Any]]:
    """Per fold origin, :func:`fit_calibration` of the other folds."""
    origins = backtest.rows["origin"].to_numpy()
    return {origin: fit_calibration(PeakBacktest(backtest.rows[origins != origin], backtest.blocks))
            for origin in pd.unique(origins)}


def cross_calibrated(backtest: PeakBacktest, fits: Mapping[Any, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The rows with ``p50``, ``p90``, ``under_*`` of each fold: forecast totals, ratios calibrated on the
    other folds (raw if they have too few windows); ``fits``: :func:`other_folds_fits`, where at hand."""
    fits = other_folds_fits(backtest) if fits is None else fits
    rows = backtest.rows.copy()
    rows["p50"], rows["p90"] = rows["p50_raw"].astype(float), rows["p90_raw"].astype(float)
    origins = rows["origin"].to_numpy()
    for origin in pd.unique(origins):
        fold = origins == origin
        calibration = PeakCalibration.from_mapping(fits[origin])
        p50, p90 = _window_quantiles(backtest, np.flatnonzero(fold), calibration, False)
        rows.loc[fold, "p50"], rows.loc[fold, "p90"] = p50, p90
    return rows.assign(under_p50=rows["realised"] <= rows["p50"], under_p90=rows["realised"] <= rows["p90"])


def out_of_fold_losses(backtest: PeakBacktest, fits: Mapping[Any, Mapping[str, Any]]) -> tuple[float, float]:
    """The fit's loss over the windows it uses, each fold's corrected by the other folds' fit, and uncorrected."""
    where, _ = _fit_windows(backtest)
    weight = _kind_weights(backtest.rows["kind"].to_numpy()[where])
    realised = np.log(backtest.rows["realised"].to_numpy(float)[where])
    origins = backtest.rows["origin"].to_numpy()[where]
    losses = np.zeros(2)
    for origin in pd.unique(origins):
        mine = origins == origin
        for i, calibration in enumerate((PeakCalibration.from_mapping(fits[origin]), PeakCalibration())):
            quantiles = _window_quantiles(backtest, where[mine], calibration, True, FIT_DRAWS)
            losses[i] += _pinball_loss(realised[mine], quantiles, weight[mine], np.zeros(1))[0]
    return float(losses[0]), float(losses[1])


def validated_calibration(backtest: PeakBacktest, fits: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """:func:`fit_calibration` of every fold if it carries from fold to fold, else the identity.

    It carries when the folds' peaks, each fold's corrected by the other folds' fit
    (``fits``), score a lower loss than uncorrected. A pair that does not fits the noise of
    a few windows: on a bursty 45-day request log with all three of its 11-day folds let
    in, the other folds' fits ranged from none to 2.0 x ratio^0.9 and scored 1.42 against
    1.17 uncorrected. Adds
    ``out_of_fold_loss``, ``out_of_fold_loss_uncorrected``, ``applied`` and the fitted
    pair (``fitted_scale``, ``fitted_power``), applied or not.
    """
    calibration = fit_calibration(backtest)
    corrected, uncorrected = out_of_fold_losses(backtest, fits)
    applied = corrected < uncorrected
    return {**calibration, "fitted_scale": calibration["ratio_scale"], "fitted_power": calibration["ratio_power"],
            "out_of_fold_loss": corrected, "out_of_fold_loss_uncorrected": uncorrected, "applied": applied,
            **({} if applied else {"ratio_scale": 1.0, "ratio_power": 1.0})}


def simulate_backtest(predictions: pd.DataFrame, history: pd.DataFrame, limits: pd.DataFrame,
                      members: Mapping[str, list[str]], quantile_names: Sequence[str], freq: str,
                      model: PeakModel) -> PeakBacktest:
    """Every fold origin's simulated peaks of each unit, metric and window, with the realised totals and peak."""
    rows, blocks = [], []
    for origin, fold in predictions.groupby("origin", sort=True):
        for unit, series in members.items():
            reads = bool(limits.loc[unit, "itpm_counts_cache_reads"]) if unit in limits.index else False
            for metric in planned_metrics(limits, unit):
                past = history[(history["unit"] == unit) & (history["metric"] == metric)]
                quantiles = driver_quantiles(fold, series, metric, reads, quantile_names, time_column="ds")
                realised = past.set_index("ds")[["peak", "total"]].reindex(quantiles.index)
                known = realised["peak"].notna().to_numpy() & realised["total"].notna().to_numpy()
                quantiles, realised = quantiles[known], realised[known]
                train = past[past["ds"] <= origin]
                if quantiles.empty or not np.isfinite(train["ratio"]).any():
                    continue
                pool_share = ratio_pool_size(train, model.ratio_weeks) / ratio_pool_size(past, model.ratio_weeks)
                draws = bucket_peak_draws(quantiles, train, freq, model,
                                          unit_rng(model.seed, unit, metric, str(origin)))
                ds = pd.DatetimeIndex(quantiles.index)
                peaks = draws.peaks()
                masks: list[np.ndarray] = []
                for window in windows(ds):
                    inside = _inside(ds, window)
                    if window.kind != "horizon" and inside.all():
                        continue  # a month (or a day) that is the whole fold window: counted once, as the whole
                    peak = peaks[:, inside].max(axis=1)
                    rows.append({"model_group": unit, "metric": metric, "origin": origin, "period": window.period,
                                 "kind": window.kind, "start": window.start, "end": window.end,
                                 "p50_raw": float(np.quantile(peak, 0.5)), "p90_raw": float(np.quantile(peak, 0.9)),
                                 "realised": float(realised["peak"].to_numpy()[inside].max()),
                                 "block": len(blocks), "window": len(masks)})
                    masks.append(inside)
                totals = realised["total"].to_numpy(float)
                realised_ratios = realised_ratio_draws(quantiles, totals, train, freq, model,
                                                       unit_rng(model.seed, unit, metric, str(origin), "realised"))
                blocks.append(Block(draws, totals, realised_ratios, masks, pool_share))
    frame = pd.DataFrame(rows, columns=[*BACKTEST_COLUMNS[:10], "block", "window"])
    return PeakBacktest(frame, blocks)


def _inside(ds: pd.DatetimeIndex, window: Window) -> np.ndarray:
    return np.asarray((ds >= window.start) & (ds <= window.end))


def backtest_peaks(predictions: pd.DataFrame, history: pd.DataFrame, limits: pd.DataFrame,
                   members: Mapping[str, list[str]], quantile_names: Sequence[str], freq: str,
                   model: PeakModel) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per fold origin, unit, metric and window (each day ``YYYY-MM-DD``, month ``YYYY-MM``, and
    ``horizon``: the whole window after the origin), raw and cross-fold calibrated; and the calibration
    fitted on every fold."""
    simulated = simulate_backtest(predictions, history, limits, members, quantile_names, freq, model)
    fits = other_folds_fits(simulated)
    rows = cross_calibrated(simulated, fits).reset_index(drop=True).loc[:, list(BACKTEST_COLUMNS)]
    return rows, validated_calibration(simulated, fits)


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
