"""Whether the forecast carries the trend of the history's last weeks, and what a faded one would cost.

A method chosen a quarter ahead from a few weeks of history may hold the recent level (the
ensemble's median of members that do not extrapolate, the seasonal naive) while the history
grew every week. That is a choice, not an error: five weeks of 11% growth carried for twenty
compound to eight times the level, and the plan's backtest cannot tell a trend that goes on
from one that stops. But the planner must read it beside the numbers, and how much it is
worth: a request log that grew 88K, 98K, 109K, 121K and 134K requests a week got a forecast
of 134.5K in every one of its twenty weeks, and neither the summary nor its risks said so.

``carried_trends`` compares, per series and target, the log-linear growth of the last
``WEEKS`` complete weeks of history (at least ``MIN_WEEKS``) with the forecast's P50 over its
first weeks (with one forecast week, its growth over the history's last week; with none, no
check). A trend is *not carried* where the history's is clear (its t statistic at least
``MIN_T``, at least ``MIN_WEEKLY`` a week) and the forecast's differs from it by at least half
of it and ``MIN_WEEKLY``. What it would be worth is read off a damped trend (Gardner and
McKenzie's; ``DAMPING``): the gap between the two growths, each week ``DAMPING`` times the
week before's, multiplied onto the forecast, which bounds its compounding (a gap of 10% a week
adds at most ``exp(0.1 * 0.9 / 0.1)``, 2.5 times).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DAMPING", "MIN_T", "MIN_WEEKLY", "MIN_WEEKS", "WEEKS", "carried_trends", "log_slope", "week_totals"]

WEEKS = 8
MIN_WEEKS = 4
MIN_T = 3.0
MIN_WEEKLY = np.log(1.02)
DAMPING = 0.9
_COLUMNS = ["series", "target", "weeks", "history_weekly", "forecast_weekly", "first_week", "last_week", "t",
            "carried", "plan_total", "damped_total", "start_change"]


def week_totals(times: pd.Series, values: pd.Series, anchor: pd.Timestamp, per_week: int, before: bool) -> np.ndarray:
    """Totals of the complete weeks counted from the bucket ``anchor``: backward (ending with it, oldest
    first) or forward (starting at it); a week with a missing or absent bucket ends the run of weeks."""
    offset = (anchor - times) if before else (times - anchor)
    week = (offset // pd.Timedelta(days=7)).to_numpy()
    frame = pd.DataFrame({"week": week, "y": values.to_numpy(dtype=float)})
    grouped = frame.groupby("week")["y"].agg(["sum", "count", lambda v: v.notna().all()])
    grouped.columns = ["sum", "count", "complete"]
    totals = []
    for w in range(int(grouped.index.max()) + 1 if len(grouped) else 0):
        if w not in grouped.index or not grouped.at[w, "complete"] or grouped.at[w, "count"] < per_week:
            break
        totals.append(float(grouped.at[w, "sum"]))
    return np.asarray(totals[::-1] if before else totals)


def log_slope(totals: np.ndarray) -> tuple[float, float]:
    """(The weekly log growth of ``totals`` by least squares, its t statistic); (nan, nan) on a zero week."""
    if len(totals) < 2 or (totals <= 0).any():
        return np.nan, np.nan
    x = np.arange(len(totals), dtype=float)
    slope, intercept = np.polyfit(x, np.log(totals), 1)
    residual = np.log(totals) - (slope * x + intercept)
    dof, squares = len(totals) - 2, float((residual ** 2).sum())
    if dof <= 0:
        return float(slope), np.nan
    if squares == 0:
        return float(slope), np.inf
    se = np.sqrt(squares / dof / ((x - x.mean()) ** 2).sum())
    return float(slope), float(abs(slope) / se)


def carried_trends(history: pd.DataFrame, forecast: pd.DataFrame, median: str) -> pd.DataFrame:
    """Per ``series, target`` with ``MIN_WEEKS`` complete weeks of history: the weekly log growth of its last
    weeks (``history_weekly``, t statistic ``t``) and of the forecast's first weeks (``forecast_weekly``),
    their first and last week totals, the forecast's first week over the history's last (``start_change``),
    whether the forecast carries it (``carried``: the module docstring),
    and the horizon's P50 total as forecast and with the gap faded in as a damped trend."""
    rows = []
    if forecast is None or forecast.empty or history.empty:
        return pd.DataFrame(columns=_COLUMNS)
    history_end = pd.Timestamp(history["ds"].max())
    step = pd.Series(np.sort(history["ds"].unique())).diff().median()
    per_week = max(1, round(pd.Timedelta(days=7) / step)) if pd.notna(step) else 7
    start = pd.Timestamp(forecast["timestamp"].min())
    for (series, target), past in history.groupby(["series", "target"], observed=True, sort=True):
        ahead = forecast[(forecast["series"] == series) & (forecast["target"] == target)]
        if ahead.empty:
            continue
        weeks = week_totals(past["ds"], past["y"], history_end, per_week, before=True)[-WEEKS:]
        if len(weeks) < MIN_WEEKS:
            continue
        history_weekly, t = log_slope(weeks)
        forecast_weeks = week_totals(ahead["timestamp"], ahead[median], start, per_week, before=False)[:WEEKS]
        if not np.isfinite(history_weekly) or not len(forecast_weeks):
            continue  # a horizon shorter than a week has no weekly growth to compare
        # One forecast week: its growth is over the history's last week (read as none, a week ahead of a
        # series growing 8% a week and forecast 8.5% above its last week was said not to carry it).
        forecast_weekly, _ = log_slope(forecast_weeks if len(forecast_weeks) > 1
                                        else np.r_[weeks[-1:], forecast_weeks])
        # No growth where none is (a least-squares slope of equal weeks is 1e-17 either side: "falls 0.0% a week").
        forecast_weekly = forecast_weekly if np.isfinite(forecast_weekly) and abs(forecast_weekly) > 1e-9 else 0.0
        gap = history_weekly - forecast_weekly
        clear = t >= MIN_T and abs(history_weekly) >= MIN_WEEKLY
        carried = not (clear and abs(gap) >= max(MIN_WEEKLY, abs(history_weekly) / 2))
        week_ahead = ((pd.to_datetime(ahead["timestamp"]) - start) // pd.Timedelta(days=7)).to_numpy() + 1
        faded = gap * DAMPING * (1 - DAMPING ** week_ahead) / (1 - DAMPING)
        plan = ahead[median].to_numpy(dtype=float)
        rows.append({"series": series, "target": target, "weeks": len(weeks), "history_weekly": history_weekly,
                     "forecast_weekly": forecast_weekly, "first_week": weeks[0], "last_week": weeks[-1], "t": t,
                     "carried": carried, "plan_total": float(np.nansum(plan)),
                     "damped_total": float(np.nansum(plan * np.exp(faded))),
                     # The forecast's first week against the history's last: a plan may start off its level too.
                     "start_change": float(forecast_weeks[0] / weeks[-1] - 1) if weeks[-1] > 0 else np.nan})
    return pd.DataFrame(rows, columns=_COLUMNS)
