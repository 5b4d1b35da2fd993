"""A series without usage in the history's last weeks has ended: the forecast plans nothing for it.

Usage sources list only what was used: a Console export, a usage CSV or a usage API has
no row for a key nobody called. A series whose usage stops while the history goes on
has stopped (a key rotated, a model retired, a team's work moved). Its grid ends at its
own last row, and the forecast carried it on at its old level: a model unused for the
last 20 days of a history was priced for the whole next quarter at its old rate (252K
requests), while the organisation view called it ended and planned it nothing.

One rule, one threshold (``feature_engineering.ended_days``): a series whose last usage
(any count above zero) is at least ``ended_days`` whole days before the history's last
day, and at least twice its longest gap between days of usage before that, has ended (a
job that runs on the last day of each month has not ended three weeks after its last
run). The forecast leaves it out and says so (``forecast.attrs["ended"]``), the
report names it with its last day of usage, and the organisation view calls the same
series ended. Its history stays as it was read: the backtest and the last quarter's
actual still count it.

A series' zeros after its last usage (a usage source reports the buckets it covers; a
series without a row in them used nothing, ``sources.quiet_buckets``) are left out of
what the forecast learns from once they span a day (``without_idle_tails``): they
measure a stop, not demand. Scored in every fold, a key stopped four weeks before the
end and a team's move to another model six days before it switched the trend chosen for
every series to a local linear one and lifted a review's organisation plan by 17%
(every team's series 25-35%), and put the moved series' P90 at eight times its P50. A
stop of three days or more but shorter than ``ended_days`` is named in the summary (the
last days below the plan; a week or more: idle), and every stop shorter than ``ended_days``
is planned at the series' level before it, as any fall younger than about a week and a
half is (``tokenplan.forecasting.outages``): a stop of one or two days is not named yet, and
where the traffic moved to a model already in use (not a migration's new model) both are
planned (a review's request log, Sonnet 4 stopped two days before the end); hours without usage after a quiet model's
last call on the history's last day stay zeros, so that day is complete.

A pause longer than ``ended_days`` reads as a stop too; the report names the series, so
a planner who knows it resumes can raise ``feature_engineering.ended_days``.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["GAP_FACTOR", "ended_since", "ended_series", "idle_days", "without_idle_tails"]

GAP_FACTOR = 2  # an idle run this many times the longest earlier gap between days of usage, at least, ends a series


def idle_days(last_usage: pd.Series, end: pd.Timestamp) -> pd.Series:
    """Whole days from each last usage (timestamps) to ``end``, the history's last bucket."""
    return (pd.Timestamp(end).normalize() - pd.to_datetime(last_usage).dt.normalize()).dt.days


def ended_series(history: pd.DataFrame, ended_days: int) -> dict[str, pd.Timestamp]:
    """``{series: last day with usage}`` for the series of ``history`` (``series, target, ds, y``) that have
    ended (:func:`ended_since`; 0: none; a series never used is left to the forecast, which plans it at zero)."""
    if history.empty or ended_days <= 0:
        return {}
    used = history[history["y"] > 0]
    return ended_since(used["series"], used["ds"], history["ds"].max(), ended_days)


def ended_since(series: pd.Series, used_at: pd.Series, end: pd.Timestamp, ended_days: int) -> dict[str, pd.Timestamp]:
    """``{series: last day with usage}`` for each series whose last usage (``used_at``: the times it was used)
    is at least ``ended_days`` days before ``end`` and at least ``GAP_FACTOR`` times its longest gap between
    days of usage before it: a job that runs once a month has not ended three weeks after its last run."""
    if ended_days <= 0 or series.empty:
        return {}
    days = pd.DataFrame({"series": series.astype(str).to_numpy(),
                         "day": pd.to_datetime(used_at).dt.normalize().to_numpy()}).drop_duplicates()
    days = days.sort_values(["series", "day"])
    gaps = days.groupby("series")["day"].diff().dt.days.groupby(days["series"]).max().fillna(0)
    last = days.groupby("series")["day"].max()
    idle = idle_days(last, end)
    gone = last[(idle >= ended_days) & (idle >= GAP_FACTOR * gaps.reindex(last.index).fillna(0))]
    return {str(s): pd.Timestamp(d) for s, d in gone.items()}


def without_idle_tails(history: pd.DataFrame) -> pd.DataFrame:
    """``history`` (``series, target, ds, y``) less each series' buckets after its last usage (any target above
    zero) where they span at least a day to the history's last bucket: the forecast learns from the series up to
    its stop, as from a series whose rows end there."""
    if history.empty:
        return history
    stamps = pd.to_datetime(history["ds"])
    series = history["series"].astype(str)
    last = stamps[history["y"].gt(0).to_numpy()].groupby(series[history["y"].gt(0).to_numpy()]).max()
    idle_from = series.map(last)
    idle = (stamps.max() - idle_from) >= pd.Timedelta(days=1)
    after = stamps.gt(idle_from) & idle & idle_from.notna()
    return history[~after.to_numpy()].reset_index(drop=True)
