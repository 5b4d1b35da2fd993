"""Intervals for period totals (months, the quarter), computed for the totals themselves.

Adding daily P10s does not give the P10 of a month: daily errors are correlated (a
level error persists for weeks), so the sum of quantiles misstates the total's spread.
Instead, for each forecast period covering steps ``a..b`` after the origin, we take the
backtest folds' realised log-ratio ``log(sum(y) / sum(p50))`` over the same steps, per
fold, series and target. The interval therefore reflects how wrong the model's totals
actually were out of sample at that distance from the origin.

There are few such ratios, and they are not independent: the token types of one
series in one fold move together. So rather than taking empirical quantiles of them
(which, from a handful of effective samples, badly understate the tails), the
log-ratio is treated as a normal prediction problem with ``n`` = the number of
(fold, series) pairs: quantile ``q`` of the next ratio is
``mean + t_q(n - 1) * sd * sqrt(1 + 1/n)``, Student's t for the uncertainty of a mean
and spread estimated from ``n`` values.

One spread is pooled over all series. Normalising the log-ratios by each series' daily
noise scale (as ``tokenplan.conformal`` does for daily intervals) was tried and
measured worse: on the demo's realised quarter the totals covered 10 of 15 instead of
15 of 15. A series' day-to-day noise says little about the error of its quarter total,
which comes from level and event-size errors (the steady chat model with campaigns got
a +-3% interval and missed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from tokenplan.forecaster import quantile_columns

__all__ = ["forecast_periods", "period_totals"]


def forecast_periods(ds: pd.Series) -> pd.DataFrame:
    """Calendar months of the forecast and the whole horizon, with their step ranges."""
    days = pd.Series(pd.to_datetime(ds).sort_values().unique())
    month = days.dt.to_period("M").astype(str)
    rows = [{"period": m, "start": g.min(), "end": g.max(), "buckets": len(g)} for m, g in days.groupby(month)]
    rows.append({"period": "horizon", "start": days.min(), "end": days.max(), "buckets": len(days)})
    return pd.DataFrame(rows)


def _ratio_quantiles(backtest: pd.DataFrame, first_step: int, last_step: int, quantiles: list[float],
                     median: str, method: str) -> tuple[float, np.ndarray]:
    """Mean log-ratio of realised to forecast totals over the steps, and the quantiles' offsets from it."""
    model = backtest[(backtest["method"] == method) & backtest["step"].between(first_step, last_step)]
    sums = model.groupby(["origin", "series", "target"])[["y", median]].sum()
    ratios = np.log(sums["y"].clip(lower=1e-9) / sums[median].clip(lower=1e-9))
    n = len(sums.index.droplevel("target").unique())
    if n < 2:
        return 0.0, np.zeros(len(quantiles))
    spread = float(ratios.std(ddof=1)) * np.sqrt(1 + 1 / n)
    return float(ratios.mean()), student_t.ppf(quantiles, df=n - 1) * spread


def _period_scale(backtest: pd.DataFrame, first: int, last: int, quantiles: list[float], median: str,
                  method: str, window: int) -> tuple[float, np.ndarray]:
    """As ``_ratio_quantiles``; a period past the backtested ``window`` is extrapolated.

    Its spread is that of the last backtested stretch of the same length, times
    ``sqrt(mid-step of the period / mid-step of that stretch)`` (a level error that
    accumulates like a random walk); the bias is not extrapolated.
    """
    if last <= window:
        return _ratio_quantiles(backtest, first, last, quantiles, median, method)
    length = min(last - first + 1, window)
    a, b = window - length + 1, window
    bias, offsets = _ratio_quantiles(backtest, a, b, quantiles, median, method)
    return bias, offsets * np.sqrt(((first + last) / 2) / ((a + b) / 2))


def period_totals(forecast: pd.DataFrame, backtest: pd.DataFrame, quantiles: list[float],
                  method: str = "xgboost") -> pd.DataFrame:
    """Totals per series, target and period with quantiles from backtested total errors of ``method``.

    Months beyond the backtest windows are extrapolated (``_period_scale``), and a later
    month's interval is never relatively narrower than an earlier month's.
    """
    names = quantile_columns(quantiles)
    median = names[int(np.argmin(np.abs(np.array(quantiles) - 0.5)))]
    window = int(backtest.loc[backtest["method"] == method, "step"].max()) if len(backtest) else 0
    rows = []
    times = forecast["timestamp"].dt.tz_convert(None)  # UTC calendar months
    widest = np.zeros(len(quantiles))
    for period in forecast_periods(times).itertuples():
        window_rows = forecast[(times >= period.start) & (times <= period.end)]
        first, last = int(window_rows["step"].min()), int(window_rows["step"].max())
        bias, offsets = _period_scale(backtest, first, last, quantiles, median, method, max(window, 1))
        if period.period != "horizon":
            widest = np.sign(offsets) * np.maximum(np.abs(offsets), np.abs(widest))
            offsets = widest
        scale = np.exp(bias + offsets)
        sums = window_rows.groupby(["series", "target"])[median].sum()
        for (series, target), total in sums.items():
            rows.append({"series": series, "target": target, "period": period.period,
                         "start": period.start, "end": period.end, "buckets": period.buckets,
                         **{n: float(total * s) for n, s in zip(names, scale, strict=True)}})
    return pd.DataFrame(rows)
