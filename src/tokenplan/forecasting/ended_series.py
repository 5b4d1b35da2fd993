"""A series without usage in the history's last weeks has ended: the forecast plans nothing for it.

Usage sources list only what was used: a Console export, a usage CSV or a usage API has
no row for a key nobody called. A series whose usage stops while the history goes on
has stopped (a key rotated, a model retired, a team's work moved). Its grid ends at its
own last row, and the forecast carried it on at its old level: a model unused for the
last 20 days of a history was priced for the whole next quarter at its old rate (252K
requests), while the organisation view called it ended and planned it nothing.

One rule, one threshold (``feature_engineering.ended_days``): a series whose last usage
(any count above zero) is at least ``ended_days`` whole days before the history's last
day has ended. The forecast leaves it out and says so (``forecast.attrs["ended"]``), the
report names it with its last day of usage, and the organisation view calls the same
series ended. Its history stays as it was read: the backtest and the last quarter's
actual still count it.

A pause longer than ``ended_days`` reads as a stop too; the report names the series, so
a planner who knows it resumes can raise ``feature_engineering.ended_days``.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["ended_series", "idle_days"]


def idle_days(last_usage: pd.Series, end: pd.Timestamp) -> pd.Series:
    """Whole days from each last usage (timestamps) to ``end``, the history's last bucket."""
    return (pd.Timestamp(end).normalize() - pd.to_datetime(last_usage).dt.normalize()).dt.days


def ended_series(history: pd.DataFrame, ended_days: int) -> dict[str, pd.Timestamp]:
    """``{series: last day with usage}`` for the series of ``history`` (``series, target, ds, y``) whose
    last usage is at least ``ended_days`` days before the history's last bucket (0: none; a series
    never used is left to the forecast, which plans it at zero)."""
    if history.empty or ended_days <= 0:
        return {}
    used = history[history["y"] > 0]
    last = used.groupby(used["series"].astype(str))["ds"].max()
    gone = last[idle_days(last, history["ds"].max()) >= ended_days]
    return {str(s): pd.Timestamp(d).normalize() for s, d in gone.items()}
