"""Capacity figures: per model group, daily peaks and the busiest minute so far against the rate limits."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenplan.planning.peaks import assumed_factor, whole_days
from tokenplan.planning.rate_limits import METRIC_NAMES, METRICS
from tokenplan.reporting.markdown import BUCKET_NAMES
from tokenplan.reporting.plots import human_axis

__all__ = ["capacity_figure", "capacity_figures", "figure_name", "history_label"]

def figure_name(group: str) -> str:
    """The report file name of a group's figure."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(group))
    return f"capacity_{safe}.png"


def history_label(measured: bool, assumed_peak_to_mean: Mapping[str, float] | None = None,
                  usage_freq: str = "D") -> str:
    """What the history line is: measured busiest minutes, or assumed ones and the one factor they rest on, the
    one for the usage's own buckets (``usage_freq``: a daily export's, not the hourly factor too)."""
    if measured:
        return "history: busiest minute of each day, measured"
    if not assumed_peak_to_mean:
        return "history: busiest minute of each day, ASSUMED: mean minute x assumed_peak_to_mean"
    factor = assumed_factor(assumed_peak_to_mean, usage_freq)
    return (f"history: busiest minute of each day, ASSUMED: mean minute x{factor:g} "
            f"({BUCKET_NAMES.get(usage_freq, usage_freq)} usage) or Poisson arrivals' if more")


def _whole(frame: pd.DataFrame, whole: pd.Series) -> pd.DataFrame:
    return frame[frame["ds"].map(whole).fillna(False).astype(bool)]


def capacity_figure(group: str, forecast: pd.DataFrame, history: pd.DataFrame, history_days: int,
                    plan: pd.DataFrame | None = None, freq: str = "D",
                    assumed_peak_to_mean: Mapping[str, float] | None = None, usage_freq: str | None = None) -> Figure:
    """One panel per metric: history's busiest minute per day, the forecast's per day (P50 line, P50–P90 band),
    the busiest minute since the horizon began at P50 and P90, the limit, and the horizon's first day over at P90
    and P50 from ``plan`` (``capacity_plan`` rows of the group).

    The first days over are where the busiest-minute-so-far lines cross the limit; a day's own band may stay under
    it (a limit no day is likely to hit, some day of the quarter may). Days with only some of their buckets of
    ``freq`` (the history's last, the horizon's first and last in an hourly run) are left out of the per-day lines,
    and the caption says so.
    """
    metrics = [m for m in METRICS if (forecast["metric"] == m).any()]
    # A bare Figure (no pyplot): no global state, nothing left open between runs.
    figure = Figure(figsize=(10, 2.9 * len(metrics) + 0.6))
    axes = figure.subplots(len(metrics), 1, sharex=True, squeeze=False)
    partial: set[pd.Timestamp] = set()
    start = None
    limited = False
    for axis, metric in zip(axes[:, 0], metrics, strict=True):
        future = forecast[forecast["metric"] == metric].sort_values("ds")
        start = future["ds"].min()
        past = history[history["metric"] == metric]
        past = past[pd.DatetimeIndex(past["ds"]).normalize() > start.normalize() - pd.Timedelta(days=history_days)]
        whole_past = whole_days(past["ds"], freq)
        measured = bool(past["measured"].all()) if "measured" in past else True
        days = past.groupby(pd.DatetimeIndex(past["ds"]).normalize())["peak"].max().rename_axis("ds").reset_index()
        shown_past = _whole(days, whole_past)
        whole_future = (future["whole_day"].astype(bool) if "whole_day" in future
                        else pd.Series(True, index=future.index))
        shown_future = future[whole_future.to_numpy()]
        partial |= set(days["ds"][~days["ds"].isin(shown_past["ds"])]) | set(future["ds"][~whole_future.to_numpy()])
        if len(shown_past):  # no history shown: no line, and no legend calling an empty one measured
            axis.plot(shown_past["ds"], shown_past["peak"], color="0.4", lw=0.8,
                      label=history_label(measured, assumed_peak_to_mean, usage_freq or freq))
        axis.plot(shown_future["ds"], shown_future["p50"], color="C0", lw=1.0,
                  label="forecast: busiest minute of each day, P50 (band to P90)")
        axis.fill_between(shown_future["ds"], shown_future["p50"], shown_future["p90"], color="C0", alpha=0.2)
        if "p90_so_far" in future:
            so_far = f"forecast: busiest minute since {start:%Y-%m-%d} so far"
            axis.plot(future["ds"], future["p50_so_far"], color="C1", lw=1.6, label=f"{so_far}, P50")
            axis.plot(future["ds"], future["p90_so_far"], color="C1", lw=1.6, ls="--", label=f"{so_far}, P90")
        limit = float(future["limit"].iloc[0]) if len(future) else np.nan
        if np.isfinite(limit):
            limited = True
            axis.axhline(limit, color="C3", ls="-", lw=1.2, label=f"rate limit {limit:,.0f}/min")
            over = shown_past[shown_past["peak"] > limit]
            if len(over):
                axis.plot(over["ds"], over["peak"], "o", color="C3", ms=3,
                          label=f"history over the limit ({len(over)} days shown)")
            _crossings(axis, plan, metric)
        top = np.nanmax([days["peak"].max(), future["p90"].max(), future.get("p90_so_far", future["p90"]).max(),
                         limit if np.isfinite(limit) else np.nan])
        axis.set_ylim(0, top * 1.45)  # room above the lines for the legend
        axis.set_ylabel(f"{metric.upper()} (per minute)")
        human_axis(axis)
        axis.set_title(f"{group}: peak {METRIC_NAMES[metric]}", fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", fontsize=7, ncol=2)
    axes[-1, 0].set_xlabel("day (UTC)")
    figure.text(0.01, 0.005, _caption(partial, limited), fontsize=7, va="bottom", wrap=True)
    figure.tight_layout(rect=(0, 0.045, 1, 1))
    return figure


def _caption(partial: set[pd.Timestamp], limited: bool = True) -> str:
    """What the lines are (against a limit where a panel has one), and which days the per-day lines leave out."""
    if limited:
        text = ("The orange lines are the busiest minute from the horizon's start to each day: where they cross the "
                "limit are the plan's first days over (P90: hit with a chance of 1 in 10 by then; P50: more likely "
                "than not). The blue band is one day's own busiest minute, which may stay under the limit.")
    else:
        text = ("The orange lines are the busiest minute from the horizon's start to each day, the peak to size a "
                "limit for (no rate limit was given for this group). The blue band is one day's own busiest minute.")
    if partial:
        days = sorted(partial)
        shown = ", ".join(f"{d:%Y-%m-%d}" for d in days[:6]) + (f" and {len(days) - 6} more" if len(days) > 6 else "")
        text += f" Left out of the per-day lines, as only part of the day is in the data: {shown}."
    return text


def _crossings(axis, plan: pd.DataFrame | None, metric: str) -> None:
    """The horizon's first day over at P90 and at P50, as vertical lines labelled with their quantile."""
    if plan is None or plan.empty:
        return
    rows = plan[(plan["metric"] == metric) & (plan["period"] == "horizon")]
    for quantile, style, chance in (("p90", ":", "1 in 10"), ("p50", "-.", "1 in 2")):
        day = pd.to_datetime(rows[f"first_crossing_{quantile}"], errors="coerce").dropna()
        if len(day):
            axis.axvline(day.iloc[0], color="C3", ls=style, lw=1.0,
                         label=f"limit hit by here, {chance} ({quantile.upper()}): {day.iloc[0]:%Y-%m-%d}")


def capacity_figures(forecast: pd.DataFrame, history: pd.DataFrame, history_days: int,
                     plan: pd.DataFrame | None = None, freq: str = "D",
                     assumed_peak_to_mean: Mapping[str, float] | None = None,
                     usage_freq: str | None = None) -> dict[str, Figure]:
    """``{file name: figure}``, one per model group with a peak forecast (``plan``: the capacity plan, for the
    first days over; ``freq``: the forecast buckets, to tell whole days; ``assumed_peak_to_mean``: the factors
    history's busiest minutes are assumed from where it has no per-minute data; ``usage_freq``: the usage's own
    bucket width, whose factor was applied, default ``freq``)."""
    history = history.rename(columns={"unit": "model_group"})
    return {figure_name(group): capacity_figure(group, rows, history[history["model_group"] == group], history_days,
                                                None if plan is None else plan[plan["model_group"] == group],
                                                freq, assumed_peak_to_mean, usage_freq)
            for group, rows in forecast.groupby("model_group", sort=True)}
