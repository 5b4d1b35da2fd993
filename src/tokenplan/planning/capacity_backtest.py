"""Backtest and calibration of the peak forecast on held-out windows of history.

At each backtest fold's origin, the out-of-sample forecast of the bucket totals (the
training backtest's predictions) and the peak-to-mean ratios seen up to the origin
give the simulated peaks of every day, month and of the whole window after it, exactly
as the capacity plan does for the future (``p50_raw``, ``p90_raw``).

Calibration (split-conformal, per window kind, pooled over groups and metrics): the
P50 multiplier is the median of ``realised / p50_raw``, the P90 multiplier the 0.9
quantile of ``realised / p90_raw``, so that on these windows half the realised peaks
fall under P50 and nine in ten under P90. A kind with fewer than
``MIN_CALIBRATION_WINDOWS`` windows borrows the next shorter kind's multipliers
(horizon from month, month from day). The plan applies multipliers fitted on every
fold; the coverage the backtest reports for a fold uses multipliers fitted on the
*other* folds only (``p50``, ``p90``, ``under_p50``, ``under_p90``), so it is honest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tokenplan.planning.capacity import (
    PeakModel,
    bucket_peak_draws,
    driver_quantiles,
    unit_rng,
    window_kind,
    windows,
)
from tokenplan.planning.rate_limits import METRICS

BACKTEST_COLUMNS = ("model_group", "metric", "origin", "period", "kind", "start", "end", "p50_raw", "p90_raw",
                    "realised", "p50", "p90", "under_p50", "under_p90")
MIN_CALIBRATION_WINDOWS = 5
_SHORTER = {"horizon": "month", "month": "day"}

__all__ = ["BACKTEST_COLUMNS", "backtest_peaks", "calibration_factors", "coverage_summary", "cross_calibrated"]


def calibration_factors(rows: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per window kind: ``{"p50": m50, "p90": m90, "windows": n, "from": kind used}``."""
    raw = {}
    for kind, group in rows.groupby("kind"):
        ok = group[(group["p50_raw"] > 0) & (group["p90_raw"] > 0)]
        if len(ok) >= MIN_CALIBRATION_WINDOWS:
            raw[kind] = {"p50": float(np.median(ok["realised"] / ok["p50_raw"])),
                         "p90": float(np.quantile(ok["realised"] / ok["p90_raw"], 0.9)), "windows": len(ok)}
    out = {}
    for kind in ("day", "month", "horizon"):
        source = kind
        while source not in raw and source in _SHORTER:
            source = _SHORTER[source]
        if source in raw:
            out[kind] = {**raw[source], "from": source}
    return out


def cross_calibrated(rows: pd.DataFrame) -> pd.DataFrame:
    """``p50``, ``p90``, ``under_*`` of each fold with multipliers fitted on the other folds (1 if none)."""
    parts = []
    for origin, fold in rows.groupby("origin", sort=True):
        factors = calibration_factors(rows[rows["origin"] != origin])
        m50 = fold["kind"].map(lambda k: factors.get(k, {}).get("p50", 1.0))
        m90 = fold["kind"].map(lambda k: factors.get(k, {}).get("p90", 1.0))
        p50 = fold["p50_raw"] * m50
        parts.append(fold.assign(p50=p50, p90=np.maximum(fold["p90_raw"] * m90, p50)))
    out = pd.concat(parts) if parts else rows.assign(p50=np.nan, p90=np.nan)
    return out.assign(under_p50=out["realised"] <= out["p50"], under_p90=out["realised"] <= out["p90"])


def backtest_peaks(predictions: pd.DataFrame, history: pd.DataFrame, limits: pd.DataFrame,
                   members: Mapping[str, list[str]], quantile_names: Sequence[str], freq: str,
                   model: PeakModel) -> pd.DataFrame:
    """One row per fold origin, unit, metric and window (each day ``YYYY-MM-DD``, month ``YYYY-MM``, and
    ``horizon``: the whole window after the origin), raw and cross-fold calibrated."""
    rows = []
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
                    peak = draws[:, inside].max(axis=1)
                    rows.append({"model_group": unit, "metric": metric, "origin": origin, "period": window.period,
                                 "kind": window.kind, "start": window.start, "end": window.end,
                                 "p50_raw": float(np.quantile(peak, 0.5)), "p90_raw": float(np.quantile(peak, 0.9)),
                                 "realised": float(actual[inside].max())})
    frame = pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS[:10]))
    return cross_calibrated(frame).reset_index(drop=True).loc[:, list(BACKTEST_COLUMNS)]


def coverage_summary(backtest: pd.DataFrame) -> pd.DataFrame:
    """Per metric and window kind: windows, share of realised peaks under P50 and P90, calibrated
    (other folds' multipliers) and raw."""
    frame = backtest.assign(window=window_kind(backtest["period"]),
                            under_p50_raw=backtest["realised"] <= backtest["p50_raw"],
                            under_p90_raw=backtest["realised"] <= backtest["p90_raw"])
    frame["window"] = frame["window"].replace({"horizon": "whole window"})
    return (frame.groupby(["metric", "window"]).agg(
        windows=("realised", "size"), under_p50=("under_p50", "mean"), under_p90=("under_p90", "mean"),
        under_p50_raw=("under_p50_raw", "mean"), under_p90_raw=("under_p90_raw", "mean")).reset_index())
