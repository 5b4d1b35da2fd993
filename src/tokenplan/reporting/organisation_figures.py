"""The organisation section's figure: cumulative spend against the budget for the teams most at risk."""

from __future__ import annotations

import pandas as pd
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from tokenplan.reporting.number_format import chance

__all__ = ["budget_paths_figure"]


def budget_paths_figure(paths: pd.DataFrame, at_risk: pd.DataFrame) -> Figure:
    """One panel per team at risk: the cumulative P50 and P90 spend of its period in ``at_risk`` (the budget it
    crosses first), the budget and the crossings."""
    # A bare Figure (no pyplot): no global state, nothing left open between runs.
    figure = Figure(figsize=(10, 2.4 * max(len(at_risk), 1)))
    axes = figure.subplots(max(len(at_risk), 1), 1, squeeze=False)[:, 0]
    dollars = FuncFormatter(lambda value, _: f"${value:,.0f}")
    for axis, row in zip(axes, at_risk.itertuples(), strict=False):
        path = paths[(paths["team"] == row.team) & (paths["period"] == row.period)].sort_values("ds")
        axis.plot(path["ds"], path["cumulative_p50"], color="C0", lw=1.4, label="cumulative spend, P50")
        axis.plot(path["ds"], path["cumulative_p90"], color="C0", lw=1.0, ls="--", label="cumulative spend, P90")
        axis.axhline(row.budget_usd, color="C3", lw=1.2, label=f"budget ${row.budget_usd:,.0f}")
        for day, style in ((row.first_crossing_p50, "-"), (row.first_crossing_p90, "--")):
            if day:
                axis.axvline(pd.Timestamp(day), color="C3", lw=0.8, ls=style, alpha=0.6)
        axis.yaxis.set_major_formatter(dollars)
        axis.xaxis.set_major_locator(AutoDateLocator(maxticks=8))
        axis.xaxis.set_major_formatter(DateFormatter("%b %d"))
        axis.set_ylabel("USD")
        over = getattr(row, "crossed_in_recorded", False) == 1  # a bool, or NaN where not given
        already = f", already over on {row.first_crossing_p50} (recorded, before the forecast)" if over else ""
        axis.set_title(f"{row.team}, {row.period}: P(exceed) {chance(row.p_exceed)}{already}", fontsize=10)
        axis.legend(loc="upper left", fontsize=8)
    axes[-1].set_xlabel("day (UTC)")
    if at_risk.empty:
        axes[0].set_title("No team has a budget")
    figure.suptitle("Cumulative spend against the budget: the teams most at risk")
    figure.tight_layout()
    return figure
