"""Report figures: one function per figure, matplotlib Agg, titled, labelled, with units.

Figures are drawn for the report's html width (about 1200 px at 110 dpi, i.e. 11 in):
axes use human units (K, M, B; USD) and never offset notation, and each model gets its
own figure rather than one grid of every model and token type.
"""

from __future__ import annotations

import io
import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter

from tokenplan.reporting.data_notes import observed_days
from tokenplan.reporting.number_format import SCALES

__all__ = ["PNG_SAVE_ARGS", "HumanFormatter", "backtest_figure", "drivers_figure", "figure_png", "forecast_figures",
           "human_axis", "series_colours", "subplots"]

TARGET_LABELS = {"requests": "requests", "input_tokens": "uncached input tokens",
                 "cache_write_tokens": "cache-write tokens", "cache_read_tokens": "cache-read tokens",
                 "output_tokens": "output tokens"}
METHOD_LABELS = {"chosen": "chosen per series", "ensemble": "ensemble", "xgboost": "tuned model (XGBoost)",
                 "lag_xgboost": "lag model (XGBoost)", "level_xgboost": "lag model on levels (XGBoost)", "mstl": "MSTL", "seasonal_mean": "seasonal mean", "seasonal_naive": "seasonal naive",
                 "daily_naive": "daily naive"}
_PER = {"D": "day", "h": "hour"}
_WIDTH_IN = 11.0  # the report's html width at PNG_SAVE_ARGS' dpi

PNG_SAVE_ARGS = {"dpi": 110, "bbox_inches": "tight"}


def series_colours(series: list[str] | pd.Index) -> dict[str, tuple[float, ...]]:
    """One fixed colour per series, by name (tab10, tab20 past ten series, then around again), so each series is the
    same colour in every chart that draws it: by size in one chart and by name in the next, the notebook's Opus
    was orange in one and green in the other."""
    names = sorted({str(s) for s in series})
    palette = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"].colors
    return {name: palette[k % len(palette)] for k, name in enumerate(names)}


class HumanFormatter(Formatter):
    """Tick labels in human units with one suffix for the whole axis (``0``, ``5K``, ``10K``; ``2.5M``)
    and the fewest decimals that write every tick exactly (``2.5M``, not ``2M``), never an offset
    or ``1e8`` multiplier. ``percent``: signed percentages of a fraction (``+2.5%``)."""

    _MAX_DIGITS = 4

    def __init__(self, percent: bool = False) -> None:
        self._percent = percent
        self._digits, self._scale, self._suffix = 0, 1.0, ""

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        finite = [float(v) for v in locs if np.isfinite(v)]
        largest = max((abs(v) for v in finite), default=0.0)
        if self._percent:
            self._scale, self._suffix = 0.01, "%"
        else:
            self._scale, self._suffix = next(((limit, suffix) for limit, suffix in SCALES
                                              if largest >= max(limit, 1e4)), (1.0, ""))
        numbers = [v / self._scale for v in finite]
        self._digits = next((d for d in range(self._MAX_DIGITS + 1)
                             if all(abs(x * 10**d - round(x * 10**d)) < 1e-6 * max(1.0, abs(x) * 10**d)
                                    for x in numbers)), self._MAX_DIGITS)

    def __call__(self, value: float, pos: int | None = None) -> str:
        shown = value / self._scale + 0.0  # + 0.0: no "-0"
        if self._percent:
            return f"{shown:+.{self._digits}f}%"
        if shown == 0:
            return "0"
        return f"{shown:,.{self._digits}f}{self._suffix}"


def subplots(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] | None = None,
             **kwargs) -> tuple[Figure, np.ndarray | Axes]:
    """``plt.subplots`` without pyplot: the figure is drawn by Agg and never registered with pyplot,
    so a report of many figures neither keeps them all open nor trips the "more than 20 figures"
    warning; the report folder saves and frees them."""
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, **kwargs)


def human_axis(ax: Axes, axis: str = "y") -> None:
    """Label ``ax``'s axis in human units (1.2M), never with an offset or ``1e8`` multiplier."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(HumanFormatter())


def _all_zero(ax: Axes, what: str) -> None:
    """An axis whose data are all zero: one tick at 0 and a note, not a column of ticks all reading "0"."""
    ax.set_ylim(0, 1)
    ax.set_yticks([0])
    # Wrapped to the panel: one line ran across the y-axis label of a three-column figure.
    ax.text(0.5, 0.5, textwrap.fill(f"all zero: no {what}", width=24), transform=ax.transAxes, ha="center",
            va="center", fontsize=9, color="0.3", multialignment="center")


class _YearMarked(mdates.ConciseDateFormatter):
    """Concise date ticks across a new year: the first tick and the first of each new year carry the year ("Oct
    2026, Nov, Dec, Jan 2027, Feb"), the others not. Every month tick with its year ("Oct 2026 Nov 2026 Dec 2026")
    ran into its neighbours on a panel a third of the figure wide (four months of history and four ahead)."""

    def format_ticks(self, values):
        labels = super().format_ticks(values)
        years = [mdates.num2date(v).year for v in values]
        return [label if not label or str(year) in label or (i and year == years[i - 1]) else f"{label} {year}"
                for i, (label, year) in enumerate(zip(labels, years, strict=True))]


def _forecast_panel(ax: Axes, past: pd.DataFrame, future: pd.DataFrame, names: list[str], unit: str,
                    masked: pd.DatetimeIndex | None = None) -> None:
    lower, median, upper = names[0], names[len(names) // 2], names[-1]
    ax.plot(past["ds"], past["y"], color="0.35", lw=0.9, label="history")
    if masked is not None and len(masked):
        shown = past[past["ds"].isin(masked)]
        ax.plot(shown["ds"], shown["y"], "x", color="tab:red", ms=6, mew=1.5, label="suspected outage or burst (not learned from)")
    ax.fill_between(future["ds"], future[lower], future[upper], color="tab:blue", alpha=0.25,
                    label=f"forecast {lower.upper()}–{upper.upper()}")
    ax.plot(future["ds"], future[median], color="tab:blue", lw=1.2, label=f"forecast {median.upper()}")
    ax.set_ylabel(unit, fontsize=9)
    ax.set_ylim(bottom=0)
    human_axis(ax)
    values = np.concatenate([past["y"].to_numpy(dtype=float), future[upper].to_numpy(dtype=float)])
    if not np.nanmax(np.abs(values), initial=0.0) > 0:
        _all_zero(ax, f"{unit.split(' per ')[0]} recorded or forecast")
    # Auto ticks with concise labels: month ticks labelled "%b\n%Y" ran into each other on
    # a ten-month panel, and gave a five-day hourly history no tick at all. A day tick names
    # its month and the offset only the year: the default "15, Nov, 15, Dec" under "2026-Dec"
    # read October's 15th as December's.
    # Across a new year one offset "2027" made December 2026 read as December 2027: there the first tick and the
    # first of each new year name the year (_YearMarked) and the offset is left empty.
    times = pd.concat([past["ds"], future["ds"]])
    crosses = len(times) and times.min().year != times.max().year
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter((_YearMarked if crosses else mdates.ConciseDateFormatter)(
        locator, formats=["%Y", "%b", "%b %d", "%H:%M", "%H:%M", "%S.%f"],
        zero_formats=["", "%b %Y" if crosses else "%Y", "%b", "%b %d", "%H:%M", "%H:%M"],
        offset_formats=["", "", "", "", "%Y-%b-%d", "%Y-%b-%d %H:%M"] if crosses
        else ["", "%Y", "%Y", "%Y", "%Y-%b-%d", "%Y-%b-%d %H:%M"]))
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
    shown = sorted(forecast["series"].astype(str).unique())
    # The recent rows of the series drawn, found once: a scan of the whole history per panel took
    # most of the figures' time at 1,000 series.
    history = history[(history["ds"] >= start) & history["series"].isin(shown)]
    figures = {}
    for series in shown:
        targets = [t for t in TARGET_LABELS if t in set(forecast.loc[forecast["series"] == series, "target"])]
        columns = 3 if len(targets) > 2 else len(targets)
        rows = -(-len(targets) // columns)
        figure, axes = subplots(rows, columns, figsize=(_WIDTH_IN, 2.9 * rows + 0.6), squeeze=False,
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
        else:  # below the panels: inside one it covered the forecast's top (a P90 band reaching the axis' top)
            figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
        days = observed_days(history[(history["series"] == series) & (history["ds"] >= start)])
        span = f"last {history_days} days of history" if days >= history_days else f"all {days} days of history"
        figure.suptitle(f"{series}: usage per {per} (UTC), {span} and the forecast", fontsize=12)
        figure.tight_layout(rect=(0, 0 if spare else 0.07, 1, 1))
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
    figure, axes = subplots(rows, columns, figsize=(_WIDTH_IN, (0.45 * len(series) * len(methods) / 2 + 1.4)
                                                        * rows + 0.8), squeeze=False, sharey=True)
    y = np.arange(len(series))
    height = 0.8 / len(methods)
    colors = {"chosen": "black", "ensemble": "tab:purple", "xgboost": "tab:blue", "lag_xgboost": "tab:cyan",
              "level_xgboost": "tab:olive", "mstl": "tab:orange",
              "seasonal_mean": "tab:green", "seasonal_naive": "0.6", "daily_naive": "0.8"}
    for ax, target in zip(axes.flat, targets, strict=False):
        subset = data[data["target"] == target].set_index(["series", "method"])["mase"]
        undefined = 0
        for k, method in enumerate(methods):
            values = np.array([subset.get((s, method), np.nan) for s in series], dtype=float)
            # A MASE the metrics hold but cannot state (a constant or all-zero history has no naive error to
            # scale by: no value, or an infinite one) has no bar; a pair the method did not forecast is no row.
            scored = np.array([(s, method) in subset.index for s in series])
            undefined += int((scored & ~np.isfinite(values)).sum())
            values[~np.isfinite(values)] = np.nan
            offset = (len(methods) - 1 - k) * height  # the model's bar on top
            ax.barh(y + offset, values, height, color=colors.get(method), label=METHOD_LABELS.get(method, method))
        if undefined:
            ax.text(0.98, 0.02, f"{undefined} bar(s) not drawn: MASE undefined\n(constant or all-zero history)",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.3")
        human_axis(ax, "x")
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
    figure.suptitle("Backtest: out-of-sample error per model and target (dashed line: the in-sample seasonal naive = 1)",
                    fontsize=12)
    figure.tight_layout()
    return figure


IN_FORCE = "stated, in force"  # forecast_drivers kind: a stated event that started before the horizon


def drivers_figure(drivers: pd.DataFrame, target: str = "requests", smallest: float = 0.005,
                   not_explained: dict[str, str] | None = None) -> Figure:
    """Per model, each driver's effect on each month's ``target`` (from ``forecast_drivers``):
    a panel per model, a bar per driver and month; drivers under ``smallest`` in every month
    of a model are left out.

    A stated event in force since before the horizon is not drawn: it is divided out of the
    level at the origin and multiplied back in, so its bar would be the same in every month
    and dwarf what does move them; the panel's title names it with its size, on the same
    level as the bars (and the report's table). ``not_explained`` (series -> how it is forecast) lists the models the
    breakdown does not cover, named under the figure with the reason.
    """
    rows = drivers[(drivers["target"] == target) & ~drivers["kind"].isin(["total", "anchor"])]
    in_force = rows[rows["kind"] == IN_FORCE]
    rows = rows[rows["kind"] != IN_FORCE]
    series = sorted(set(rows["series"]) | set(in_force["series"]))
    months = sorted(set(rows["period"]) | set(in_force["period"]))
    kept = {s: [d for d, g in rows[rows["series"] == s].groupby("driver", sort=False)
                if (g["effect"].abs() >= smallest).any()] for s in series}
    heights = [max(len(kept[s]), 1) * 0.17 * len(months) + 0.8 for s in series]
    missing = not_explained or {}
    note = ("Not broken down: " + "; ".join(f"{s} (forecast by {how})" for s, how in sorted(missing.items()))
            + ". The breakdown explains the tuned model's (XGBoost's) forecasts only.") if missing else ""
    figure, axes = subplots(max(len(series), 1), 1, figsize=(_WIDTH_IN, sum(heights) + 0.8 + 0.3 * bool(note)),
                                squeeze=False, gridspec_kw={"height_ratios": heights or [1]})
    colors = matplotlib.colormaps["Blues"](np.linspace(0.45, 0.9, len(months)))
    for ax, s in zip(axes[:, 0], series, strict=False):
        effects = rows[rows["series"] == s].pivot_table(index="driver", columns="period", values="effect", sort=False)
        effects = effects.reindex(index=kept[s][::-1], columns=months)
        y = np.arange(len(effects))
        height = 0.8 / len(months)
        for k, month in enumerate(months):
            ax.barh(y + (len(months) - 1 - k) * height, effects[month].to_numpy(), height, color=colors[k],
                    label=pd.Period(month, freq="M").strftime("%B %Y"))
        ax.set_yticks(y + height * (len(months) - 1) / 2, effects.index, fontsize=9)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.xaxis.set_major_formatter(HumanFormatter(percent=True))
        standing = in_force[in_force["series"] == s].groupby("driver", sort=False)["effect"].mean()
        standing = standing[standing.abs() >= smallest]
        title = s + "".join(f"; not drawn: {d}, in force before the horizon ({e * 100:+.1f}% on the level, "
                            "which has it divided out)" for d, e in standing.items())
        ax.set_title(title, fontsize=10, loc="left")
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    if series:
        axes[0, 0].legend(fontsize=9, loc="best")
    else:
        axes[0, 0].axis("off")
    axes[-1, 0].set_xlabel(f"effect on the month's {TARGET_LABELS.get(target, target)} (multiplier on the level "
                           "at the forecast origin, stated events in force divided out, minus one)", fontsize=9)
    figure.suptitle(f"What moves each month: drivers of the {TARGET_LABELS.get(target, target)} forecast per model",
                    fontsize=12)
    if note:
        figure.text(0.01, 0.005, note, fontsize=9, ha="left", va="bottom", wrap=True)
    figure.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    return figure


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, drawn as the report folder's PNG files are."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **PNG_SAVE_ARGS)
    return buffer.getvalue()
