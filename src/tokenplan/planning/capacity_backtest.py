"""Backtest of the peak forecast: held-out windows of history, realised peak against forecast P50 and P90.

At each backtest fold's origin, the out-of-sample forecast of the bucket totals (the
training backtest's predictions) and the peak-to-mean ratios seen up to the origin
give the simulated peaks of every month and of the whole window after it, exactly as
the capacity plan does for the future. The realised peak of each window is then
under the P50 in about half the windows and under the P90 in about nine in ten, if the
peak model is calibrated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from tokenplan.planning.capacity import PeakModel, bucket_peak_draws, driver_quantiles, unit_rng
from tokenplan.planning.rate_limits import METRICS
from tokenplan.totals import forecast_periods

BACKTEST_COLUMNS = ("model_group", "metric", "origin", "period", "start", "end", "buckets", "p50", "p90",
                    "realised", "under_p50", "under_p90")

__all__ = ["BACKTEST_COLUMNS", "backtest_peaks", "coverage_summary"]


class _Window(NamedTuple):
    period: str
    start: pd.Timestamp
    end: pd.Timestamp


def backtest_peaks(predictions: pd.DataFrame, history: pd.DataFrame, limits: pd.DataFrame,
                   members: Mapping[str, list[str]], quantile_names: Sequence[str], freq: str,
                   model: PeakModel) -> pd.DataFrame:
    """One row per fold origin, unit, metric and window (each day ``YYYY-MM-DD``, month ``YYYY-MM``, and
    ``horizon``: the whole window after the origin)."""
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
                days = [(f"{day:%Y-%m-%d}", day, day + pd.Timedelta(days=1) - pd.Timedelta(1, "ns"))
                        for day in ds.normalize().unique()]
                for period in [*forecast_periods(pd.Series(ds)).itertuples(index=False, name=None), *days]:
                    period = _Window(*period[:3])
                    inside = np.asarray((ds >= period.start) & (ds <= period.end))
                    window = draws[:, inside].max(axis=1)
                    peak = float(actual[inside].max())
                    p50, p90 = float(np.quantile(window, 0.5)), float(np.quantile(window, 0.9))
                    rows.append({"model_group": unit, "metric": metric, "origin": origin, "period": period.period,
                                 "start": period.start, "end": period.end, "buckets": int(inside.sum()),
                                 "p50": p50, "p90": p90, "realised": peak,
                                 "under_p50": peak <= p50, "under_p90": peak <= p90})
    return pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))


def coverage_summary(backtest: pd.DataFrame) -> pd.DataFrame:
    """Per metric and window kind (day, month, whole window): windows, share under P50 and under P90."""
    kind = np.where(backtest["period"] == "horizon", "whole window",
                    np.where(backtest["period"].str.len() > 7, "day", "month"))
    frame = backtest.assign(window=kind)
    summary = frame.groupby(["metric", "window"]).agg(windows=("realised", "size"),
                                                      under_p50=("under_p50", "mean"),
                                                      under_p90=("under_p90", "mean")).reset_index()
    return summary
