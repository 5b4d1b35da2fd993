"""Report figures: one function per figure, matplotlib Agg, titled, labelled, with units."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["backtest_figure", "forecast_figure"]

_UNITS = {"requests": "requests", "input_tokens": "uncached input tokens",
          "cache_write_tokens": "cache-write tokens", "cache_read_tokens": "cache-read tokens",
          "output_tokens": "output tokens"}
_PER = {"D": "day", "h": "hour"}


def forecast_figure(forecast: pd.DataFrame, history: pd.DataFrame, history_days: int,
                    quantile_names: list[str], freq: str = "D") -> Figure:
    """Fan chart per series (rows) and target (columns): recent history, P50 and the outer interval."""
    series_list = sorted(forecast["series"].unique())
    targets = [t for t in _UNITS if t in set(forecast["target"])]
    lower, median, upper = quantile_names[0], quantile_names[len(quantile_names) // 2], quantile_names[-1]
    forecast = forecast.assign(ds=forecast["timestamp"].dt.tz_convert(None))  # naive UTC, as the history
    start = pd.Timestamp(forecast["ds"].min()) - pd.Timedelta(days=history_days)
    figure, axes = plt.subplots(len(series_list), len(targets), figsize=(4.2 * len(targets), 2.8 * len(series_list)),
                                squeeze=False, sharex=True)
    for i, series in enumerate(series_list):
        for j, target in enumerate(targets):
            ax = axes[i, j]
            past = history[(history["series"] == series) & (history["target"] == target) & (history["ds"] >= start)]
            future = forecast[(forecast["series"] == series) & (forecast["target"] == target)].sort_values("ds")
            ax.plot(past["ds"], past["y"], color="0.3", lw=0.8, label="history")
            ax.fill_between(future["ds"], future[lower], future[upper], color="tab:blue", alpha=0.25,
                            label=f"{lower.upper()}–{upper.upper()}")
            ax.plot(future["ds"], future[median], color="tab:blue", lw=1.0, label=median.upper())
            ax.set_title(f"{series}\n{target}", fontsize=9)
            ax.set_ylabel(f"{_UNITS[target]} / {_PER.get(freq, freq)}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.tick_params(axis="x", rotation=30)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    figure.suptitle(f"Forecast per model and token type (UTC {_PER.get(freq, freq)}s)", fontsize=12)
    figure.tight_layout()
    return figure


def backtest_figure(metrics: pd.DataFrame) -> Figure:
    """MASE of the median forecast per target and series, model vs baselines (lower is better)."""
    data = metrics[metrics["series"] != "all"]
    methods = sorted(data["method"].unique(), key=lambda m: (m != "chosen", m))
    labels = [f"{s}\n{t}" for s, t in data[["series", "target"]].drop_duplicates().itertuples(index=False)]
    keys = data[["series", "target"]].drop_duplicates()
    width = 0.8 / len(methods)
    figure, ax = plt.subplots(figsize=(max(8, 0.7 * len(labels)), 4.5))
    x = np.arange(len(keys))
    for k, method in enumerate(methods):
        values = keys.merge(data[data["method"] == method], on=["series", "target"], how="left")["mase"]
        ax.bar(x + k * width, values, width, label=method)
    ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
    ax.set_xticks(x + width * (len(methods) - 1) / 2, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("MASE of P50 (1 = in-sample weekly naive error)")
    ax.set_title("Backtest: out-of-sample accuracy per series and target (lower is better)")
    ax.legend()
    figure.tight_layout()
    return figure


PNG_SAVE_ARGS = {"dpi": 110, "bbox_inches": "tight"}


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, drawn as the report folder's PNG files are."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **PNG_SAVE_ARGS)
    return buffer.getvalue()
