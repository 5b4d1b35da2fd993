"""Capacity figures: per model group, daily peaks against the rate limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenplan.planning.rate_limits import METRIC_NAMES, METRICS
from tokenplan.reporting.plots import human_axis

__all__ = ["capacity_figure", "capacity_figures", "figure_name"]


def figure_name(group: str) -> str:
    """The report file name of a group's figure."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(group))
    return f"capacity_{safe}.png"


def capacity_figure(group: str, forecast: pd.DataFrame, history: pd.DataFrame, history_days: int,
                    plan: pd.DataFrame | None = None) -> Figure:
    """One panel per metric: realised busiest minute per day, the P50 line and P50–P90 band, the limit, and the
    horizon's first day over at P90 and P50 from ``plan`` (``capacity_plan`` rows of the group).

    The first day over is not where the day's band meets the limit: it is the day by which the limit has been
    hit in 1 draw in 10 (at P50, the median first day over), so it is drawn as its own line.
    """
    metrics = [m for m in METRICS if (forecast["metric"] == m).any()]
    # A bare Figure (no pyplot): no global state, nothing left open between runs.
    figure = Figure(figsize=(10, 2.6 * len(metrics)))
    axes = figure.subplots(len(metrics), 1, sharex=True, squeeze=False)
    for axis, metric in zip(axes[:, 0], metrics, strict=True):
        future = forecast[forecast["metric"] == metric].sort_values("ds")
        past = history[history["metric"] == metric]
        past = past[past["ds"] > future["ds"].min() - pd.Timedelta(days=history_days)]
        past = past.groupby(past["ds"].dt.normalize())["peak"].max().reset_index()  # daily, as the forecast
        axis.plot(past["ds"], past["peak"], color="0.4", lw=0.8, label="realised busiest minute of the day")
        axis.plot(future["ds"], future["p50"], color="C0", lw=1.2, label="forecast P50")
        axis.fill_between(future["ds"], future["p50"], future["p90"], color="C0", alpha=0.25, label="P50–P90")
        limit = float(future["limit"].iloc[0]) if len(future) else np.nan
        if np.isfinite(limit):
            axis.axhline(limit, color="C3", ls="--", lw=1.2, label=f"limit {limit:,.0f}")
            _crossings(axis, plan, metric)
        top = np.nanmax([past["peak"].max(), future["p90"].max(), limit if np.isfinite(limit) else np.nan])
        axis.set_ylim(0, top * 1.3)  # room above the limit line for the legend
        axis.set_ylabel(metric.upper())
        human_axis(axis)
        axis.set_title(f"{group}: peak {METRIC_NAMES[metric]}", fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("day (UTC)")
    figure.tight_layout()
    return figure


def _crossings(axis, plan: pd.DataFrame | None, metric: str) -> None:
    """The horizon's first day over at P90 and at P50, as vertical lines labelled with their quantile."""
    if plan is None or plan.empty:
        return
    rows = plan[(plan["metric"] == metric) & (plan["period"] == "horizon")]
    for quantile, style, chance in (("p90", ":", "1 in 10"), ("p50", "-.", "1 in 2")):
        day = pd.to_datetime(rows[f"first_crossing_{quantile}"], errors="coerce").dropna()
        if len(day):
            axis.axvline(day.iloc[0], color="C3", ls=style, lw=1.0,
                         label=f"limit hit by here, {chance} ({quantile.upper()})")


def capacity_figures(forecast: pd.DataFrame, history: pd.DataFrame, history_days: int,
                     plan: pd.DataFrame | None = None) -> dict[str, Figure]:
    """``{file name: figure}``, one per model group with a peak forecast (``plan``: the capacity plan, for the
    first days over)."""
    history = history.rename(columns={"unit": "model_group"})
    return {figure_name(group): capacity_figure(group, rows, history[history["model_group"] == group], history_days,
                                                None if plan is None else plan[plan["model_group"] == group])
            for group, rows in forecast.groupby("model_group", sort=True)}
