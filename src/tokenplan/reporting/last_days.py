"""The history's last days against the plan: a move too young for the level to read, either way.

A level that moved is read once it has lasted about a week and a half
(``tokenplan.forecasting.level_shifts``). Before that, two things can happen, and the
summary says which: the plan stays near the level before while the last days run beyond
its first week (``recent_departures``: a launch the direct model does not read yet, or a
young fall the outage check left missing for the forecast), or a method that reads the
last days (MSTL, the lag model) carries a move of a few days into the whole horizon
(``followed_moves``: a rise, or a fall within the series' noise or with the outage check
off). Following is right for a migration and wrong for an outage, a backfill or a
partial export; only the planner knows which it is, and the summary names it with the
event that would tell the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.features import bucket_shares
from tokenplan.forecasting.outages import outage_runs
from tokenplan.reporting.carried_trend import WEEKS, log_slope, week_totals

__all__ = ["DEPARTURE_DAYS", "MOVE_RATIO", "followed_moves", "masked_tail", "recent_departures", "young_ramps"]

DEPARTURE_DAYS = 3  # the history's last days beyond the plan's first week, each day, before the summary says so
# A longer run is no move too recent for the level to read (about a week and a half): the plan departs from a level
# the history has held for weeks (a review's wind-down, every one of its 147 days above the plan's P90 for a decline
# carried on, had read "a move too recent ... re-run once it has lasted").
LONG_DEPARTURE_DAYS = 14


def _daily(frame: pd.DataFrame, time: str, columns: list[str]) -> pd.DataFrame:
    """Whole days' sums of ``columns`` (a day with fewer buckets than the most any day has is left out)."""
    times = pd.to_datetime(frame[time])
    times = times.dt.tz_convert(None) if times.dt.tz is not None else times  # UTC days, as the history's
    grouped = frame.groupby(times.dt.normalize())
    sums, counts = grouped[columns].sum(min_count=1), grouped.size()
    return sums[counts >= counts.max()]


def _excused(days: pd.DatetimeIndex, series: str, events: pd.DataFrame | None) -> np.ndarray:
    """Whether an event of the calendar (a campaign, a holiday, an outage) covers each day for ``series``' model."""
    covered = np.zeros(len(days), dtype=bool)
    if events is None or events.empty:
        return covered
    model = series.split("/")[0]
    for event, share in bucket_shares(events, days, "D"):  # as the forecast's features read the calendar
        scope = getattr(event, "scope", "")
        if not isinstance(scope, str) or scope in ("", model):
            covered |= share > 0
    return covered


def _compared(history: pd.DataFrame, forecast: pd.DataFrame,
              skip: set[str]) -> Iterator[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """Per planned series not in ``skip``: (series, target, its forecast rows of that target, its history of it);
    requests, else the first target."""
    for series, rows in forecast.groupby(forecast["series"].astype(str)):
        targets = set(rows["target"])
        target = "requests" if "requests" in targets else sorted(targets)[0]
        past = history[(history["series"].astype(str) == series) & (history["target"] == target)]
        if series not in skip and not past.empty:
            yield series, target, rows[rows["target"] == target], past


def recent_departures(history: pd.DataFrame, forecast: pd.DataFrame | None, quantiles: list[str],
                       skip: set[str], events: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Series whose last ``DEPARTURE_DAYS`` or more days each lie beyond the plan's first week on the same
    weekday (above its P90's sum, or below its P10's): a move too recent for the level to have read it
    (``tokenplan.forecasting.level_shifts``), largest departure first; ``long``: a run of more than
    ``LONG_DEPARTURE_DAYS`` (from ``since``), the plan departing from a level held for weeks, no recent move.
    Requests, else the first target. A day an event of ``events`` covers (a campaign ending, a holiday) is not
    counted: the plan knows why it differs."""
    if forecast is None or forecast.empty:
        return []
    low, median, high = quantiles[0], quantiles[len(quantiles) // 2], quantiles[-1]
    out = []
    for series, target, rows, past in _compared(history, forecast, skip):
        days = _daily(past, "ds", ["y"])["y"].dropna()
        plan = _daily(rows, "timestamp", [low, median, high]).head(7)
        plan.index = plan.index.dayofweek
        if len(plan) < DEPARTURE_DAYS or len(days) < DEPARTURE_DAYS:  # a weekday the plan lacks stops a run
            continue
        bounds = plan.reindex(days.index.dayofweek)
        plain = ~_excused(pd.DatetimeIndex(days.index), series, events)
        above = (plain & (days.to_numpy() > bounds[high].to_numpy()))[::-1]
        below = (plain & (days.to_numpy() < bounds[low].to_numpy()))[::-1]
        for side, beyond in (("above", above), ("below", below)):
            run = int(np.argmin(beyond)) if not beyond.all() else len(beyond)
            if run > LONG_DEPARTURE_DAYS and _continues_trend(days.iloc[-run:], plan, low, high):
                continue
            if run >= DEPARTURE_DAYS:
                last = bounds.iloc[-1]
                out.append({"series": series, "target": target, "side": side, "days": run,
                            "long": run > LONG_DEPARTURE_DAYS, "since": days.index[-run],
                            "day": days.index[-1], "value": float(days.iloc[-1]), "p50": float(last[median]),
                            "bound": float(last[high if side == "above" else low]),
                            "ratio": float(days.iloc[-1] / last[median]) if last[median] > 0 else np.inf})
    return sorted(out, key=lambda d: -abs(np.log(max(d["ratio"], 1e-9))))


def _continues_trend(days: pd.Series, plan: pd.DataFrame, low: str, high: str) -> bool:
    """Whether the plan's first week (``plan``: its days' quantiles) holds the week after ``days`` (the history's
    run beyond it, by day) on their own log-linear weekly trend: a plan that carries the history's growth on is
    no departure from it, however many of its days lie below it. M4 series rising 8% a week, forecast on that
    path (MASE 0.13-0.37 against the last week repeated's 1.02-1.35), had read "the plan rises above a level
    the history has held for weeks" beside a risk saying their trend was not carried."""
    weeks = week_totals(pd.Series(days.index), days, days.index[-1], 7, before=True)[-WEEKS:]
    if len(weeks) < 3 or len(plan) < 7:
        return False
    slope, _ = log_slope(weeks)
    if not np.isfinite(slope):
        return False
    return bool(plan[low].sum() <= weeks[-1] * np.exp(slope) <= plan[high].sum())


MOVE_RATIO = 2.0  # each of the last days beyond every same weekday of the weeks before by this factor
MOVE_WEEKS = 4  # the same weekdays looked at, at least two of them recorded
POISSON_SIGMAS = 4.0  # a move beyond this many Poisson standard deviations of the usual day, as the outage check


def _young_run(days: pd.Series, plain: np.ndarray, below: bool) -> int:
    """How many of the last whole days each lie beyond every recorded same weekday of the ``MOVE_WEEKS`` weeks
    before by ``MOVE_RATIO``, none of them an event's day; 0 for a week or more (the level shift's to read)."""
    run = 0
    for k in range(1, min(8, len(days) + 1)):
        day, value = days.index[-k], days.iloc[-k]
        weeks = days.reindex([day - pd.Timedelta(weeks=w) for w in range(1, MOVE_WEEKS + 1)]).dropna()
        # A weekday with a zero before it (a weekend of a weekday service, a sparse model) says nothing of a move,
        # nor a difference a count's own chance makes (Poisson: 2 requests on a day that sees 1 or 3).
        if len(weeks) < 2 or not plain[-k] or not np.isfinite(value) or (weeks <= 0).any():
            break
        usual = float(weeks.median())
        if not (value < weeks.min() / MOVE_RATIO if below else value > weeks.max() * MOVE_RATIO):
            break
        if abs(value - usual) <= POISSON_SIGMAS * np.sqrt(usual):
            break
        run += 1
    return run if run < 7 else 0


def followed_moves(history: pd.DataFrame, forecast: pd.DataFrame | None, quantiles: list[str], skip: set[str],
                   events: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Series whose plan follows a move of its last two to six whole days: each day more than ``MOVE_RATIO``
    times below the lowest (or above the highest) same weekday of the weeks before, and the plan's first-week
    P50 on those weekdays nearer the last days than the weeks before (in log). Requests, else the first
    target; a day an event covers is not counted; largest move first."""
    if forecast is None or forecast.empty:
        return []
    median = quantiles[len(quantiles) // 2]
    out = []
    for series, target, rows, past in _compared(history, forecast, skip):
        days = _daily(past, "ds", ["y"])["y"]
        if len(days) < 3:
            continue
        days = days.asfreq("D")
        plan = _daily(rows, "timestamp", [median]).head(7)[median]
        plan.index = plan.index.dayofweek
        plain = ~_excused(pd.DatetimeIndex(days.index), series, events)
        for side, below in (("below", True), ("above", False)):
            run = _young_run(days, plain, below)
            if run < 2:
                continue
            last = days.iloc[-run:]
            before = pd.Series([days.reindex([d - pd.Timedelta(weeks=w) for w in range(1, MOVE_WEEKS + 1)]).median()
                                for d in last.index], index=last.index)
            planned = plan.reindex(last.index.dayofweek).to_numpy(float)
            if not np.isfinite(planned).any():
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                to_last = np.nanmedian(np.abs(np.log(np.maximum(planned, 1e-9) / np.maximum(last.to_numpy(), 1e-9))))
                to_before = np.nanmedian(np.abs(np.log(np.maximum(planned, 1e-9) / before.to_numpy())))
            if not to_last < to_before:
                continue
            out.append({"series": series, "target": target, "side": side, "days": run, "first": last.index[0],
                        "day": last.index[-1], "value": float(last.iloc[-1]), "before": float(before.iloc[-1]),
                        "p50": float(planned[-1]), "ratio": float(last.iloc[-1] / before.iloc[-1])
                        if before.iloc[-1] > 0 else np.inf})
    return sorted(out, key=lambda d: -abs(np.log(min(max(d["ratio"], 1e-9), 1e9))))


YOUNG_DAYS = 14  # a series first used within the history's last this many days is young
RAMP_DAYS = 3  # its last days, against the same weekdays a week before
RAMP_RATIO = 1.5  # ... this many times them: still rising
RAMP_GAP = 1.1  # ... and this many times the plan's first week: the plan holds a level the series has passed
EMPTY_SHARE = 0.1  # a plan day under this share of its week's busiest is an empty day (a weekend), not a level


def young_ramps(history: pd.DataFrame, forecast: pd.DataFrame | None, quantiles: list[str],
                skip: set[str]) -> list[dict[str, Any]]:
    """Series first used in the history's last ``YOUNG_DAYS`` days (a week or more of them) that were still
    rising: their last ``RAMP_DAYS`` whole days at least ``RAMP_RATIO`` times the same weekdays a week before
    (at least two of those on or after the first use: a day before it says nothing of a ramp) and ``RAMP_GAP``
    times the plan's first week a day (its empty days, a weekday service's weekend, left out). With under two
    weeks of usage every method holds about the last week, the ramp included, and the same-weekday check
    (``recent_departures``) cannot see it: the plan's first week is that week.
    ``{series, target, first, age, last_days, week_ratio, plan, gap}``, largest gap first."""
    if forecast is None or forecast.empty:
        return []
    median = quantiles[len(quantiles) // 2]
    out = []
    for series, target, rows, past in _compared(history, forecast, skip):
        days = _daily(past, "ds", ["y"])["y"].asfreq("D")
        used = pd.to_datetime(past.loc[past["y"] > 0, "ds"])  # its first day counts even where only partly covered
        if used.empty or days.empty:
            continue
        first = used.min().normalize()
        age = int((days.index[-1] - first).days) + 1
        last = days.iloc[-RAMP_DAYS:]
        # The same weekdays a week before, on or after the first use (a day before it says nothing of a ramp).
        before = days.reindex(last.index - pd.Timedelta(weeks=1))
        before = before[before.index >= first]
        plan = _daily(rows, "timestamp", [median]).head(7)[median]
        plan = plan[plan >= EMPTY_SHARE * plan.max()]  # a weekday service's empty weekend is no level
        if not 7 <= age <= YOUNG_DAYS or last.isna().any() or before.isna().any() or len(before) < 2 \
                or plan.empty or not plan.mean() > 0:
            continue
        level, was = float(last.mean()), float(before.mean())
        if level >= RAMP_RATIO * was and level >= RAMP_GAP * float(plan.mean()):
            out.append({"series": series, "target": target, "first": first, "age": age, "last_days": level,
                        "week_ratio": level / was if was > 0 else np.inf, "plan": float(plan.mean()),
                        "gap": level / float(plan.mean()) - 1.0})
    return sorted(out, key=lambda r: -r["gap"])


def masked_tail(outages: pd.DataFrame | None, history: pd.DataFrame) -> list[dict[str, Any]]:
    """Series whose last buckets the outage check left missing for the forecast (an outage run ending at the
    series' last bucket): the plan is at the level before them, and a fall of two days is too short for
    ``recent_departures`` to name. ``{series, first, last (text), buckets, unit, target, recorded, expected}``,
    the largest shortfall first."""
    if outages is None or outages.empty or history.empty:
        return []
    times = pd.DatetimeIndex(sorted(history["ds"].unique()))
    freq = "h" if len(times) > 1 and pd.Series(times).diff().median() < pd.Timedelta(days=1) else "D"
    runs = outage_runs(outages[outages["kind"] == "outage"] if "kind" in outages else outages, freq)
    ends = history.groupby(history["series"].astype(str))["ds"].max()
    tail = runs[[pd.Timestamp(r.last) == ends.get(str(r.series)) for r in runs.itertuples()]]
    shown = "%Y-%m-%d %H:%M" if freq == "h" else "%Y-%m-%d"
    unit = "hours" if freq == "h" else "days"
    out = [{"series": str(r.series), "first": f"{pd.Timestamp(r.first):{shown}}",
            "last": f"{pd.Timestamp(r.last):{shown}}", "buckets": int(r.buckets), "unit": unit, "target": r.target,
            "recorded": float(r.recorded), "expected": float(r.expected)} for r in tail.itertuples()]
    return sorted(out, key=lambda t: t["recorded"] - t["expected"])

