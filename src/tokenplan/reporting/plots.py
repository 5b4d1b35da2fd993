"""Report figures: one function per figure, matplotlib Agg, titled, labelled, with units.

Figures are drawn for the report's html width (about 1200 px at 110 dpi, i.e. 11 in):
axes use human units (K, M, B; USD) and never offset notation, and each model gets its
own figure rather than one grid of every model and token type.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from tokenplan.reporting.number_format import human

__all__ = ["PNG_SAVE_ARGS", "backtest_figure", "drivers_figure", "figure_png", "forecast_figures", "human_axis"]

TARGET_LABELS = {"requests": "requests", "input_tokens": "uncached input tokens",
                 "cache_write_tokens": "cache-write tokens", "cache_read_tokens": "cache-read tokens",
                 "output_tokens": "output tokens"}
METHOD_LABELS = {"chosen": "chosen per series", "ensemble": "ensemble", "xgboost": "tuned model (XGBoost)",
                 "mstl": "MSTL", "seasonal_mean": "seasonal mean", "seasonal_naive": "seasonal naive",
                 "daily_naive": "daily naive"}
_PER = {"D": "day", "h": "hour"}
_WIDTH_IN = 11.0  # the report's html width at PNG_SAVE_ARGS' dpi

PNG_SAVE_ARGS = {"dpi": 110, "bbox_inches": "tight"}


def human_axis(ax: Axes, axis: str = "y") -> None:
    """Label ``ax``'s axis in human units (1.2M), never with an offset or ``1e8`` multiplier."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda value, _: human(value, 1)))


def _forecast_panel(ax: Axes, past: pd.DataFrame, future: pd.DataFrame, names: list[str], unit: str,
                    masked: pd.DatetimeIndex | None = None) -> None:
    lower, median, upper = names[0], names[len(names) // 2], names[-1]
    ax.plot(past["ds"], past["y"], color="0.35", lw=0.9, label="history")
    if masked is not None and len(masked):
        shown = past[past["ds"].isin(masked)]
        ax.plot(shown["ds"], shown["y"], "x", color="tab:red", ms=6, mew=1.5, label="suspected outage (not learned from)")
    ax.fill_between(future["ds"], future[lower], future[upper], color="tab:blue", alpha=0.25,
                    label=f"forecast {lower.upper()}–{upper.upper()}")
    ax.plot(future["ds"], future[median], color="tab:blue", lw=1.2, label=f"forecast {median.upper()}")
    ax.set_ylabel(unit, fontsize=9)
    ax.set_ylim(bottom=0)
    human_axis(ax)
    # Auto ticks with concise labels: month ticks labelled "%b\n%Y" ran into each other on
    # a ten-month panel, and gave a five-day hourly history no tick at all.
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


def forecast_figures(forecast: pd.DataFrame, history: pd.DataFrame, history_days: int,
                     quantile_names: list[str], freq: str = "D",
                     outages: pd.DataFrame | None = None) -> dict[str, Figure]:
    """One fan-chart figure per series, ``{"forecast_<series>.png": figure}``: a panel per target
    with recent history (its suspected outages marked, ``outages``: ``series, ds``), the P50
    and the outer interval."""
    forecast = forecast.assign(ds=forecast["timestamp"].dt.tz_convert(None))  # naive UTC, as the history
    start = pd.Timestamp(forecast["ds"].min()) - pd.Timedelta(days=history_days)
    per = _PER.get(freq, freq)
    figures = {}
    for series in sorted(forecast["series"].astype(str).unique()):
        targets = [t for t in TARGET_LABELS if t in set(forecast.loc[forecast["series"] == series, "target"])]
        columns = 3 if len(targets) > 2 else len(targets)
        rows = -(-len(targets) // columns)
        figure, axes = plt.subplots(rows, columns, figsize=(_WIDTH_IN, 2.9 * rows + 0.6), squeeze=False,
                                    sharex=True)
        for ax, target in zip(axes.flat, targets, strict=False):
            past = history[(history["series"] == series) & (history["target"] == target) & (history["ds"] >= start)]
            future = forecast[(forecast["series"] == series) & (forecast["target"] == target)].sort_values("ds")
            masked = (pd.DatetimeIndex(outages.loc[outages["series"].astype(str) == series, "ds"])
                      if outages is not None else None)
            _forecast_panel(ax, past, future, quantile_names, f"{TARGET_LABELS[target]} per {per}", masked)
            ax.set_title(TARGET_LABELS[target].capitalize(), fontsize=10)
        spare = list(axes.flat[len(targets):])
        for ax in spare:
            ax.axis("off")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if spare:
            spare[0].legend(handles, labels, loc="center", fontsize=10, frameon=False)
        else:
            axes.flat[0].legend(fontsize=8, loc="upper left")
        first = history.loc[(history["series"] == series) & (history["ds"] >= start), "ds"].min()
        days = (pd.Timestamp(forecast["ds"].min()) - first).days if pd.notna(first) else 0
        span = f"last {history_days} days of history" if days >= history_days else f"all {days} days of history"
        figure.suptitle(f"{series}: usage per {per} (UTC), {span} and the forecast", fontsize=12)
        figure.tight_layout()
        figures[f"forecast_{_file_safe(series)}.png"] = figure
    return figures


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def backtest_figure(metrics: pd.DataFrame) -> Figure:
    """Out-of-sample MASE of the P50 per series, a panel per target: the model beside each baseline."""
    data = metrics[metrics["series"] != "all"]
    order = list(METHOD_LABELS)
    methods = sorted(data["method"].unique(), key=lambda m: order.index(m) if m in order else len(order))
    targets = [t for t in TARGET_LABELS if t in set(data["target"])]
    series = sorted(data["series"].astype(str).unique(), reverse=True)
    columns = 3 if len(targets) > 2 else len(targets)
    rows = -(-len(targets) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(_WIDTH_IN, (0.45 * len(series) * len(methods) / 2 + 1.4)
                                                        * rows + 0.8), squeeze=False, sharey=True)
    y = np.arange(len(series))
    height = 0.8 / len(methods)
    colors = {"chosen": "black", "ensemble": "tab:purple", "xgboost": "tab:blue", "mstl": "tab:orange",
              "seasonal_mean": "tab:green", "seasonal_naive": "0.6", "daily_naive": "0.8"}
    for ax, target in zip(axes.flat, targets, strict=False):
        subset = data[data["target"] == target].set_index(["series", "method"])["mase"]
        for k, method in enumerate(methods):
            values = [subset.get((s, method), np.nan) for s in series]
            offset = (len(methods) - 1 - k) * height  # the model's bar on top
            ax.barh(y + offset, values, height, color=colors.get(method), label=METHOD_LABELS.get(method, method))
        ax.axvline(1.0, color="0.3", lw=0.8, ls="--")
        ax.set_yticks(y + height * (len(methods) - 1) / 2, series, fontsize=9)
        ax.set_title(TARGET_LABELS[target].capitalize(), fontsize=10)
        ax.set_xlabel("MASE of P50 (lower is better)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    spare = list(axes.flat[len(targets):])
    for ax in spare:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    (spare[0] if spare else axes.flat[0]).legend(handles, labels, loc="center" if spare else "lower right",
                                                 fontsize=9, frameon=False)
    figure.suptitle("Backtest: out-of-sample error per model and target (dashed line: in-sample weekly naive = 1)",
                    fontsize=12)
    figure.tight_layout()
    return figure


def drivers_figure(drivers: pd.DataFrame, target: str = "requests", smallest: float = 0.005) -> Figure:
    """Per model, each driver's effect on each month's ``target`` (from ``forecast_drivers``):
    a panel per model, a bar per driver and month; drivers under ``smallest`` in every month
    of a model are left out."""
    rows = drivers[(drivers["target"] == target) & ~drivers["kind"].isin(["total", "anchor"])]
    series = sorted(rows["series"].unique())
    months = sorted(rows["period"].unique())
    kept = {s: [d for d, g in rows[rows["series"] == s].groupby("driver", sort=False)
                if (g["effect"].abs() >= smallest).any()] for s in series}
    heights = [max(len(kept[s]), 1) * 0.17 * len(months) + 0.8 for s in series]
    figure, axes = plt.subplots(len(series), 1, figsize=(_WIDTH_IN, sum(heights) + 0.8), squeeze=False,
                                gridspec_kw={"height_ratios": heights})
    colors = plt.get_cmap("Blues")(np.linspace(0.45, 0.9, len(months)))
    for ax, s in zip(axes[:, 0], series, strict=True):
        effects = rows[rows["series"] == s].pivot_table(index="driver", columns="period", values="effect", sort=False)
        effects = effects.reindex(index=kept[s][::-1], columns=months)
        y = np.arange(len(effects))
        height = 0.8 / len(months)
        for k, month in enumerate(months):
            ax.barh(y + (len(months) - 1 - k) * height, effects[month].to_numpy(), height, color=colors[k],
                    label=pd.Period(month, freq="M").strftime("%B %Y"))
        ax.set_yticks(y + height * (len(months) - 1) / 2, effects.index, fontsize=9)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{round(v * 100, 1):+g}%"))
        ax.set_title(s, fontsize=10, loc="left")
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].legend(fontsize=9, loc="lower right")
    axes[-1, 0].set_xlabel(f"effect on the month's {TARGET_LABELS.get(target, target)} "
                           "(multiplier on the level at the forecast origin, minus one)", fontsize=9)
    figure.suptitle(f"What moves each month: drivers of the {TARGET_LABELS.get(target, target)} forecast per model",
                    fontsize=12)
    figure.tight_layout()
    return figure


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, drawn as the report folder's PNG files are."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **PNG_SAVE_ARGS)
    return buffer.getvalue()
