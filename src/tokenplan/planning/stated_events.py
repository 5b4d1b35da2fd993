"""The stated effects of events per model and month, for reading growth as growth and not as a step.

The ROI extrapolates the months after the forecast at a monthly growth fitted to the cost per day
of whole months of history and of the forecast months. A launch with a stated effect is a step: in
the demo, Opus's agent launch (x1.95, stated) in the twelve months of history and a planned launch
(x1.25) in the forecast read as +9.5% a month of history where the same costs with the stated effects
divided out grow +5.2% (the simulator's own growth is 3-6% a month per model); compounded over nine
extrapolated months, the step had become growth. So the fits read each model's cost with its stated
effects divided out, and the extrapolated months multiply back in what is in force in each of them.

A **launch** is a step that stays: its effect holds from its start on, whatever its end (a calendar
ends it with the plan, as the demo's does). A **campaign** counts only in its own days. Events
without a stated ``effect`` (sized by the forecast from past events of their kind) and holidays are
not divided out: they have no stated size to divide by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.forecasting.features import bucket_shares

__all__ = ["deflator", "events_in", "extrapolated_ratios", "monthly_multipliers"]


def _stated(events: pd.DataFrame | None) -> pd.DataFrame:
    if events is None or events.empty or "effect" not in events:
        return pd.DataFrame(columns=["start", "end", "name", "kind", "scope", "effect"])
    stated = events[events["effect"].notna() & events["kind"].isin(["launch", "campaign"])].copy()
    # A launch's step stays: its effect holds after the calendar's end.
    far = pd.Timestamp("2262-01-01", tz="UTC")
    stated.loc[stated["kind"] == "launch", "end"] = far
    return stated


def monthly_multipliers(events: pd.DataFrame | None, models: list[str], periods: list[str]) -> pd.DataFrame:
    """Each model's mean stated multiplier over each month's days: index ``period`` (``YYYY-MM``), one
    column per model (1.0 where no stated event is in force). An event without ``scope`` is every model's."""
    periods = sorted(set(periods))
    frame = pd.DataFrame(1.0, index=pd.Index(periods, name="period"), columns=list(dict.fromkeys(models)))
    stated = _stated(events)
    if stated.empty or not periods:
        return frame
    days = pd.date_range(pd.Period(periods[0], "M").start_time, pd.Period(periods[-1], "M").end_time.normalize(),
                         freq="D")
    month_of = days.to_period("M").astype(str)
    scope = stated["scope"].fillna("").astype(str)
    for model in frame.columns:
        mine = stated[(scope == "") | (scope == model)]
        daily = np.ones(len(days))
        for event, share in bucket_shares(mine, days, "D"):
            daily *= 1.0 + (float(event.effect) - 1.0) * share
        frame[model] = pd.Series(daily, index=days).groupby(month_of).mean().reindex(periods).to_numpy()
    return frame


def events_in(events: pd.DataFrame | None, models: list[str], first: str, last: str) -> list[str]:
    """The stated events (``name (xeffect)``) touching ``models`` between months ``first`` and ``last``."""
    stated = _stated(events)
    if stated.empty:
        return []
    start, end = pd.Period(first, "M").start_time.tz_localize("UTC"), pd.Period(last, "M").end_time.tz_localize("UTC")
    scope = stated["scope"].fillna("").astype(str)
    # A launch before the first month is in force all along: it moves no month against another.
    hit = stated[((scope == "") | scope.isin(models)) & (stated["start"] <= end) & (stated["end"] >= start)
                 & ((stated["kind"] != "launch") | (stated["start"] >= start))]
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
