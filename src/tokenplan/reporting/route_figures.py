"""Figures of the routes and ROI section: cost per route and month, cumulative cash flow, tornado."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenplan.reporting.plots import human_axis, subplots

__all__ = ["cashflow_figure", "route_cost_figure", "tornado_figure"]


def route_cost_figure(route_costs: pd.DataFrame, quantile_names: list[str]) -> Figure:
    """USD per route and forecast month (all priced models), P50 with the outer interval as error bars."""
    lower, median, upper = quantile_names[0], quantile_names[len(quantile_names) // 2], quantile_names[-1]
    months = route_costs[route_costs["period"] != "horizon"]
    total = months.groupby(["route", "period"], sort=False, as_index=False)[quantile_names].sum()
    periods = sorted(total["period"].unique())
    routes = list(dict.fromkeys(total["route"]))
    width = 0.8 / len(routes)
    figure, ax = subplots(figsize=(max(7, 1.6 * len(periods) * len(routes) / 3), 4.5))
    for i, route in enumerate(routes):
        data = total[total["route"] == route].set_index("period").reindex(periods)
        x = np.arange(len(periods)) + (i - (len(routes) - 1) / 2) * width
        # Arrays, not Series: matplotlib's checks call float() on a one-month Series (a FutureWarning).
        mid = data[median].to_numpy()
        ax.bar(x, mid, width, label=route,
               yerr=[mid - data[lower].to_numpy(), data[upper].to_numpy() - mid], capsize=2)
    ax.set_xticks(np.arange(len(periods)), periods)
    ax.set_xlabel("forecast month (UTC calendar month; a partly covered month is its forecast days only)")
    ax.set_ylabel("USD per month")
    human_axis(ax)
    ax.set_title(f"Cost per route and month: {median.upper()}, bars {lower.upper()}–{upper.upper()}")
    ax.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    return figure


def cashflow_figure(roi_cashflow: pd.DataFrame, roi_summary: pd.DataFrame, quantile_names: list[str]) -> Figure:
    """Cumulative saving minus one-time cost per candidate route (USD), P50 line, interval band, payback marker;
    a route that prices none of the usage differently (``applies`` false) is no candidate and is not drawn."""
    lower, median, upper = quantile_names[0], quantile_names[len(quantile_names) // 2], quantile_names[-1]
    figure, ax = subplots(figsize=(9, 5))
    summary = roi_summary.set_index("route")
    paybacks: dict[int, list[tuple[str, str]]] = {}  # month -> (route, colour): routes paying back together
    for route, flow in roi_cashflow.groupby("route", sort=False):
        if not summary.loc[route].get("applies", True):  # carries none of the usage: no candidate
            continue
        cost = float(summary.loc[route, "one_time_cost_usd"])
        months = np.concatenate([[0], flow["month"]])
        net = {q: np.concatenate([[-cost], flow[f"cumulative_{q}"] - cost]) for q in (lower, median, upper)}
        (line,) = ax.plot(months, net[median], marker="o", ms=3, label=route)
        ax.fill_between(months, net[lower], net[upper], color=line.get_color(), alpha=0.15)
        payback = summary.loc[route, f"payback_month_{median}"]
        if pd.notna(payback):
            paybacks.setdefault(int(payback), []).append((str(route), line.get_color()))
    for month, routes in paybacks.items():  # one marker a month, naming every route that pays back in it
        colour = routes[0][1] if len(routes) == 1 else "0.3"
        ax.axvline(float(month), color=colour, ls=":", lw=1)
        named = f" ({', '.join(r for r, _ in routes)})" if len(routes) > 1 else ""
        ax.annotate(f"payback month {month}{named}", (float(month), 0), rotation=90, fontsize=7, color=colour,
                    xytext=(2, 4), textcoords="offset points")
    extrapolated = roi_cashflow.loc[roi_cashflow["extrapolated"], "month"]
    if len(extrapolated):
        ax.axvspan(extrapolated.min() - 0.5, extrapolated.max() + 0.5, color="0.9", zorder=0,
                   label="extrapolated (after the forecast)")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xlabel("month after the migration (month 1 = first forecast month)")
    ax.set_ylabel("cumulative saving - one-time cost (USD)")
    human_axis(ax)
    ax.set_title(f"Cumulative cash flow against the baseline: {median.upper()}, band {lower.upper()}–{upper.upper()}")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def tornado_figure(sensitivity: pd.DataFrame) -> Figure:
    """Per candidate route: 12-month NPV (P50, USD) with each input moved down and up, widest on top."""
    routes = list(dict.fromkeys(sensitivity["route"]))
    figure, axes = subplots(len(routes), 1, figsize=(9, 1.0 + 0.6 * len(routes) + 0.45 * len(sensitivity)),
                                squeeze=False)
    for ax, route in zip(axes[:, 0], routes, strict=True):
        rows = sensitivity[sensitivity["route"] == route].iloc[::-1]
        base = float(rows["npv_base"].iloc[0])
        y = np.arange(len(rows))
        ax.barh(y, rows["npv_low"] - base, left=base, color="tab:red", alpha=0.7, label="input moved down")
        ax.barh(y, rows["npv_high"] - base, left=base, color="tab:green", alpha=0.7, label="input moved up")
        ax.axvline(base, color="0.2", lw=1)
        # "$" would start matplotlib mathtext: escape it in the input values.
        ax.set_yticks(y, [f"{r.input} ({r.low} / {r.high})".replace("$", r"\$") for r in rows.itertuples()],
                      fontsize=7)
        ax.set_title(f"{route}: 12-month NPV {base:,.0f} USD at P50", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        human_axis(ax, "x")
    axes[-1, 0].set_xlabel("12-month NPV at P50 (USD)")
    axes[0, 0].legend(fontsize=7)
    figure.tight_layout()
    return figure
