"""The stated effects of events per model and month, for reading growth as growth and not as a step.

The ROI extrapolates the months after the forecast at a monthly growth fitted to the cost per day
of whole months of history and of the forecast months. A launch with a stated effect is a step: in
the demo, Opus's agent launch (x1.95, stated) in the twelve months of history read as +9.5% a month
of history alone, +5.2% with the stated effects divided out (the simulator's own growth is 3-6% a
month per model); with the forecast months, the fit the ROI used went from +8.4% to +5.1%. So the
fits read each model's cost with its stated effects divided out, and the extrapolated months
multiply back in what is in force in each of them.

An event counts over ``[start, end)``, as the forecast reads it, with one exception: a **launch**
still in force on the forecast's last day stays in force after it (a calendar ends a launch with the
plan, as the demo's does; a step does not end with the plan). A launch that ended before that, or a
campaign, counts only in its own days. Only events whose effect the planner stated count (``basis``
``stated`` where the calendar says): the measured month-start and month-end days and events without
an effect are sized by the forecast, not stated, and are not divided out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tokenplan.forecasting.features import bucket_shares, stated_offsets
from tokenplan.schemas import naive_utc

__all__ = ["added_by_events", "daily_multipliers", "deflator", "events_in", "extrapolated_ratios",
           "monthly_multipliers"]

_FAR = pd.Timestamp("2262-01-01", tz="UTC")


def _stated(events: pd.DataFrame | None, forecast_end: pd.Timestamp | None = None) -> pd.DataFrame:
    """The stated launches and campaigns; a launch in force on ``forecast_end`` (a day) held after it."""
    if events is None or events.empty or "effect" not in events:
        return pd.DataFrame(columns=["start", "end", "name", "kind", "scope", "effect"])
    stated = events["effect"].notna() & events["kind"].isin(["launch", "campaign"])
    if "basis" in events:  # "stated" as the feature engineering marks the planner's effects
        stated &= events["basis"].eq("stated")
    stated = events[stated].copy()
    if forecast_end is not None:
        last = pd.Timestamp(forecast_end)
        last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
        held = (stated["kind"] == "launch") & (stated["start"] <= last) & (stated["end"] > last)
        stated.loc[held, "end"] = _FAR
    return stated


def monthly_multipliers(events: pd.DataFrame | None, models: list[str], periods: list[str],
                        spans: Mapping[str, tuple[str, str]] | None = None,
                        forecast_end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Each model's mean stated multiplier over each month's days: index ``period`` (``YYYY-MM``), one
    column per model (1.0 where no stated event is in force). An event without ``scope`` is every model's.

    ``spans``: per period, the first and last day (``YYYY-MM-DD``) its cost covers, where not the whole
    month (a forecast month the horizon covers in part); ``forecast_end``: the forecast's last day (a launch
    in force then is held after it)."""
    periods = sorted(set(periods))
    frame = pd.DataFrame(1.0, index=pd.Index(periods, name="period"), columns=list(dict.fromkeys(models)))
    stated = _stated(events, forecast_end)
    if stated.empty or not periods:
        return frame
    days = pd.date_range(pd.Period(periods[0], "M").start_time, pd.Period(periods[-1], "M").end_time.normalize(),
                         freq="D")
    month_of = pd.Series(days.to_period("M").astype(str), index=days)
    for period, (first, last) in (spans or {}).items():
        outside = (month_of == period) & ((days < pd.Timestamp(first)) | (days > pd.Timestamp(last)))
        month_of[outside] = None  # days of the month the cost does not cover
    daily = _per_day(stated, list(frame.columns), days)
    for model in frame.columns:
        frame[model] = daily[model].groupby(month_of.to_numpy()).mean().reindex(periods).fillna(1.0).to_numpy()
    return frame


def _per_day(stated: pd.DataFrame, models: list[str], days: pd.DatetimeIndex) -> pd.DataFrame:
    """Each model's stated multiplier on each of ``days`` (naive UTC day starts): one column per model."""
    scope = stated["scope"].fillna("").astype(str)
    frame = pd.DataFrame(1.0, index=days, columns=list(dict.fromkeys(models)))
    for model in frame.columns:
        for event, share in bucket_shares(stated[(scope == "") | (scope == model)], days, "D"):
            frame[model] *= 1.0 + (float(event.effect) - 1.0) * share
    return frame


def daily_multipliers(events: pd.DataFrame | None, models: list[str], days: pd.DatetimeIndex,
                      forecast_end: pd.Timestamp) -> tuple[pd.DataFrame, pd.Series]:
    """Each model's stated multiplier on each of ``days`` (naive UTC day starts; one column per model), and
    the one in force after ``forecast_end`` (the forecast's last day: a launch in force then is held, a
    campaign is over)."""
    stated = _stated(events, forecast_end)
    daily = _per_day(stated, models, pd.DatetimeIndex(days))
    after_day = pd.DatetimeIndex([pd.Timestamp(forecast_end).normalize() + pd.Timedelta(days=1)])
    after_day = after_day.tz_localize(None) if after_day.tz is not None else after_day
    # Only a step lasts: a campaign still running the day after the forecast ends with its own days.
    return daily, _per_day(stated[stated["kind"] == "launch"], models, after_day).iloc[0]


def events_in(events: pd.DataFrame | None, models: list[str], first: str, last: str,
              forecast_end: pd.Timestamp | None = None) -> list[str]:
    """The stated events (``name (xeffect)``) touching ``models`` between months ``first`` and ``last``
    (a launch before ``first`` and in force all along moves no month against another: not named)."""
    stated = _stated(events, forecast_end)
    if stated.empty:
        return []
    start, end = pd.Period(first, "M").start_time.tz_localize("UTC"), pd.Period(last, "M").end_time.tz_localize("UTC")
    scope = stated["scope"].fillna("").astype(str)
    hit = stated[((scope == "") | scope.isin(models)) & (stated["start"] <= end) & (stated["end"] >= start)
                 & ((stated["kind"] != "launch") | (stated["start"] >= start) | (stated["end"] <= end))]
    return [f"{row.name} (x{float(row.effect):g})" for row in hit.sort_values("start").itertuples()]


def deflator(costs: pd.Series, multipliers: pd.DataFrame) -> pd.Series:
    """Per period, the factor the stated effects put on the summed cost: ``costs`` (indexed by
    ``period, model``) over the same costs with each model's multiplier divided out."""
    if costs.empty:
        return pd.Series(dtype=float)
    m = multipliers.stack().rename("m").reindex(costs.index).fillna(1.0)
    summed = costs.groupby(level="period").sum()
    without = (costs / m).groupby(level="period").sum()
    return (summed / without.where(without > 0)).fillna(1.0)


def extrapolated_ratios(tail: pd.Series, tail_period: str, multipliers: pd.DataFrame, periods: list[str]) -> pd.Series:
    """Per month after the forecast, the stated effects in force against the last forecast month's,
    weighted by that month's cost per model (``tail``, indexed by model): 1.0 where nothing changes, a
    campaign's lift in its own month, a planned launch's step from its month on."""
    if tail.empty or tail.sum() <= 0:
        return pd.Series(1.0, index=periods)
    at_tail = multipliers.loc[tail_period].reindex(tail.index).fillna(1.0)
    ratios = [float((tail * multipliers.loc[p].reindex(tail.index).fillna(1.0) / at_tail).sum() / tail.sum())
              for p in periods]
    return pd.Series(ratios, index=periods)


def added_by_events(forecast: pd.DataFrame, events: pd.DataFrame | None, median: str) -> pd.DataFrame:
    """Per series, target and stated event, what the event adds to the forecast's ``median`` over the horizon:
    ``series, target, driver, kind, volume`` (``driver`` named as the driver breakdown names it; ``kind``
    ``stated``, or ``stated, in force`` for an event begun before the forecast).

    Read off the forecast and the calendar, as every candidate multiplies the stated effects in: a series
    the tuned model does not forecast has no SHAP breakdown, and the summary's risk of a stated campaign
    left out one of the six series it lifts (the demo organisation's pilots). Events overlapping in a bucket
    share what they add by their log multipliers, as the breakdown shares them.
    """
    columns = ["series", "target", "driver", "kind", "volume"]
    if events is None or forecast is None or forecast.empty:
        return pd.DataFrame(columns=columns)
    stated = _stated(events)  # the planner's: not the measured month days and year-end
    if stated.empty:
        return pd.DataFrame(columns=columns)
    rows = forecast.assign(ds=naive_utc(forecast["timestamp"]))
    times = pd.DatetimeIndex(sorted(rows["ds"].unique()))
    freq = "h" if len(times) > 1 and times.to_series().diff().min() < pd.Timedelta(days=1) else "D"
    offsets, in_force, _ = stated_offsets(rows, stated, freq)  # as the driver breakdown reads them
    if not offsets:
        return pd.DataFrame(columns=columns)
    total = sum(offsets.values())
    added = forecast[median].to_numpy(float) * -np.expm1(-total)
    parts = []
    for name, offset in offsets.items():
        volume = np.divide(added * offset, total, out=np.zeros(len(forecast)), where=total != 0)
        frame = pd.DataFrame({"series": forecast["series"].astype(str).to_numpy(),
                              "target": forecast["target"].astype(str).to_numpy(), "volume": volume})
        summed = frame.groupby(["series", "target"], sort=True)["volume"].sum().reset_index()
        kind = "stated, in force" if name in in_force else "stated"
        parts.append(summed[summed["volume"] != 0].assign(driver=name, kind=kind))
    return pd.concat(parts, ignore_index=True).reindex(columns=columns)
