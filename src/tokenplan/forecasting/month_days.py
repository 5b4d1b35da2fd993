"""Recurring days of the month (a month-end batch run, a report on the 1st), measured and applied like a stated effect.

Every candidate reads the history through the week: its seasons are a day and a week, and
none knows where a month ends. A job that runs on the last day of every month (billing,
reconciliation, a monthly evaluation) then looks like a one-off burst: each such day is
far above the same weekday around it, so the burst check (``tokenplan.forecasting.outages``)
masked all seven month-ends of a simulated file at eight times the usual day, and the plan
had no month-end at all: its P50 was 0.88 of the usage the file's process gives over the
quarter, and each month's P50 total 16% under it. Unmasked, a weekly method would only smear the
spikes over whichever weekdays they fell on.

So, per model, the size of each day of the month listed in ``days`` (``1``: the first, ``-1``:
the last) is measured against the days around it, and where it stands out it is treated
like an event with a stated effect (``tokenplan.forecasting.features``): divided out of the
history every method reads and multiplied back in on those days of the forecast, the guard's
envelope lifted by it, and never flagged as a burst or an outage (a calendar event covers
it). The report lists it beside the planner's events, with its size and how many months
it was measured on.

The estimate, per series and target: for each such day with at least half of the
``reference_days`` days either side observed, its ``log1p`` daily total minus what the
days around it give for the same weekday (the year-end's arithmetic,
``tokenplan.forecasting.calendar_effects``), the other listed days of the month left out
of the reference; the mean over months, and the median over the model's series and
targets. It is applied where at least ``min_months`` months were measured and the mean is
``min_z`` standard errors or more from none (the larger of the days' noise and the months'
disagreement): a pattern that recurs, not a busy day or two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.calendar_effects import _against_reference, _daily, _pooled, _present

__all__ = ["estimate_month_days", "month_day_events"]

_COLUMNS = ["start", "end", "name", "kind", "scope", "effect", "basis"]
_ESTIMATES = ["scope", "day", "log_effect", "std_error", "months", "z"]


def _name(day: int) -> str:
    return "last day of the month" if day == -1 else ("first day of the month" if day == 1
                                                      else f"day {day} of the month")


def _month_day(dates: pd.DatetimeIndex, day: int) -> pd.DatetimeIndex:
    """The ``day``-th day (1-based; negative counts from the month's end) of each month of ``dates``."""
    starts = dates.to_period("M").unique().to_timestamp()
    if day > 0:
        return starts + pd.Timedelta(days=day - 1)
    return starts + pd.offsets.MonthEnd(0) + pd.Timedelta(days=day + 1)


def estimate_month_days(series: pd.DataFrame, freq: str, days: list[int], reference_days: int = 14) -> pd.DataFrame:
    """One row per model and listed day: ``scope, day, log_effect, std_error, months, z`` (none measured: no row)."""
    daily = _daily(series, freq)
    if daily.empty:
        return pd.DataFrame(columns=_ESTIMATES)
    dates = pd.DatetimeIndex(pd.to_datetime(daily["day"]).unique()).sort_values()
    listed = {day: _month_day(dates, day) for day in days}
    every = pd.DatetimeIndex(np.concatenate([d.to_numpy() for d in listed.values()]))
    rows = []
    for (name, target), group in daily.groupby(["series", "target"], sort=True):
        values = pd.Series(np.log1p(group["y"].to_numpy(float)), index=pd.DatetimeIndex(pd.to_datetime(group["day"])))
        calendar = pd.date_range(values.index.min() - pd.Timedelta(days=reference_days),
                                 values.index.max() + pd.Timedelta(days=reference_days), freq="D")
        dense = values.reindex(calendar)
        reference = dense.where(~dense.index.isin(every))  # the other listed days are no reference
        position = pd.Series(np.arange(len(calendar)), index=calendar)
        numbers = calendar.to_numpy().astype("datetime64[D]").astype(np.int64)
        for day, when in listed.items():
            effects, errors = [], []
            for moment in when[when.isin(values.index)]:
                at = int(position[moment])
                window = dense.to_numpy()[at:at + 1]
                before = reference.to_numpy()[at - reference_days:at]
                after = reference.to_numpy()[at + 1:at + 1 + reference_days]
                if np.isnan(window).all() or min(_present(before), _present(after)) < 0.5:
                    continue
                effect, error = _against_reference(window, before, after, numbers[at:at + 1], reference_days)
                effects.append(effect)
                errors.append(error)
            if not effects:
                continue
            effect, error = _pooled(effects, errors)
            rows.append({"scope": str(name).split("/")[0], "day": day, "log_effect": effect, "std_error": error,
                         "months": len(effects)})
    if not rows:
        return pd.DataFrame(columns=_ESTIMATES)
    out = pd.DataFrame(rows).groupby(["scope", "day"]).agg(log_effect=("log_effect", "median"),
                                                           std_error=("std_error", "median"),
                                                           months=("months", "max")).reset_index()
    out["z"] = out["log_effect"].abs() / out["std_error"].clip(lower=1e-9)
    return out[_ESTIMATES]


def month_day_events(series: pd.DataFrame, freq: str, until: pd.Timestamp,
                     params: dict[str, Any] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events (events-calendar columns plus ``basis``) on every listed day of the month from the
    history's start to ``until``, per model whose measured effect stands out, and the estimates
    (with ``applied`` and, where it is not, ``why``: within the noise, or too few months).

    ``params`` (``feature_engineering.month_days``): ``days`` (``[1, -1]``: the first and the last),
    ``reference_days``, ``min_z`` and ``min_months``; None or ``enabled: false`` turns it off.
    """
    empty = pd.DataFrame(columns=_COLUMNS)
    if params is None or not params.get("enabled", True) or series.empty:
        return empty, pd.DataFrame(columns=[*_ESTIMATES, "applied", "why"])
    days = [int(day) for day in params.get("days", [1, -1])]
    if any(day == 0 or abs(day) > 28 for day in days):
        raise ValueError(f"feature_engineering.month_days.days must be days of the month from 1 to 28, or -1 to -28 "
                         f"counted from its end, got {days}")
    estimates = estimate_month_days(series, freq, days, params.get("reference_days", 14))
    enough = estimates["months"] >= params.get("min_months", 3)
    estimates["applied"] = (estimates["z"] >= params.get("min_z", 3.0)) & enough
    estimates["why"] = np.where(estimates["applied"], "", np.where(enough, "within the noise", "too few months"))
    start = pd.Timestamp(series["ds"].min()).tz_localize(None).normalize()
    calendar = pd.date_range(start, pd.Timestamp(until).tz_localize(None), freq="D")
    events = []
    for row in estimates[estimates["applied"]].itertuples():
        basis = (f"estimated from {row.months} past months: x{np.exp(row.log_effect):.2f} "
                 f"({row.z:.1f} standard errors from none)")
        for moment in _month_day(calendar, row.day):
            if start <= moment <= calendar[-1]:
                events.append({"start": moment.tz_localize("UTC"),
                               "end": (moment + pd.Timedelta(days=1)).tz_localize("UTC"),
                               "name": _name(row.day), "kind": "campaign", "scope": row.scope,
                               "effect": float(np.exp(row.log_effect)), "basis": basis})
    return (pd.DataFrame(events, columns=_COLUMNS) if events else empty), estimates
