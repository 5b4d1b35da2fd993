"""Capacity figures: per model group, daily peaks against the rate limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenplan.planning.rate_limits import METRIC_NAMES, METRICS

__all__ = ["capacity_figure", "capacity_figures", "figure_name"]


def figure_name(group: str) -> str:
    """The report file name of a group's figure."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(group))
    return f"capacity_{safe}.png"


def capacity_figure(group: str, forecast: pd.DataFrame, history: pd.DataFrame, history_days: int) -> Figure:
    """One panel per metric: realised busiest minute per day, the P50 line and P50–P90 band, the limit."""
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
        top = np.nanmax([past["peak"].max(), future["p90"].max(), limit if np.isfinite(limit) else np.nan])
        axis.set_ylim(0, top * 1.3)  # room above the limit line for the legend
        axis.set_ylabel(metric.upper())
        axis.set_title(f"{group}: peak {METRIC_NAMES[metric]}", fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("day (UTC)")
    figure.tight_layout()
    return figure


def capacity_figures(forecast: pd.DataFrame, history: pd.DataFrame, history_days: int) -> dict[str, Figure]:
    """``{file name: figure}``, one per model group with a peak forecast."""
    history = history.rename(columns={"unit": "model_group"})
    return {figure_name(group): capacity_figure(group, rows, history[history["model_group"] == group], history_days)
            for group, rows in forecast.groupby("model_group", sort=True)}
