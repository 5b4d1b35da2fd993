"""Migration ROI against the baseline route: monthly cash flow, payback, NPV and break-even.

Month 1 is the first calendar month of the forecast, and the migration is assumed to
take effect then. A forecast month the horizon covers only partly is a month at the
forecast's rate: its forecast days scaled to the whole month (``forecast_days`` of
``month_days``, and ``basis`` says so), so seven forecast days of April are April at their
rate, not the seven days the route table costs. Months after the forecast are an
extrapolation: each route's P50 per day grows at the baseline's monthly growth (two fits, one to
the cost per day of the last whole months of history and the forecast months, one to the forecast
months alone, and the one nearer zero; none, flat at the forecast's rate, with too few whole
months of history; ``extrapolation_growth``), times the
month's days (a 28-day February costs less than a 31-day January at the same rate; fitted
to whole months' costs, October's 31, November's 30 and December's 31 days read as growth), and the interval keeps
widening, its log-width growing with the square root of the months ahead (as a random-walk
level would) until its P90 is ``max_p90_to_p50`` times its P50 (and its P10 as far below),
a plausibility bound that 21 days of history extrapolated twelve months had passed by
month 12 (a P90 monthly bill four times the run rate). Every such month is
flagged ``extrapolated``.

All quantiles treat models, token types and months as moving together (one common
driver, as ``forecast_totals`` does), so a saving's quantile is the difference of the
two routes' costs at the same quantile, and an NPV quantile discounts the months'
savings at that quantile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.planning.routes import Route
from tokenplan.reporting.number_format import day_count

__all__ = ["break_even_credit_rate", "break_even_discount", "cashflow", "extrapolation_growth", "horizon_savings",
           "monthly_route_costs", "npv", "payback_month", "planned_history", "route_months", "route_summary"]


def monthly_route_costs(route_costs: pd.DataFrame, periods: pd.DataFrame, freq: str,
                        quantile_names: list[str]) -> pd.DataFrame:
    """USD per route and forecast month over all priced models, scaled to the whole month.

    ``periods``: ``period, start, end, buckets`` (the forecast's months, as in
    ``forecast_totals``); the result has ``route, period, month, buckets, month_buckets``,
    ``forecast_days`` (the days the forecast covers, ``buckets`` of ``month_buckets`` of the
    month's ``month_days``) and the forecast's ``first_day`` and ``last_day`` in the month.
    """
    months = periods[periods["period"] != "horizon"].drop_duplicates("period").sort_values("period")
    rows = []
    for month, row in enumerate(months.itertuples(), start=1):
        start = pd.Period(row.period, "M").start_time
        full = len(pd.date_range(start, start + pd.offsets.MonthEnd(1) + pd.Timedelta(days=1), freq=freq,
                                 inclusive="left"))
        days = _days(row.period)
        rows.append({"period": row.period, "month": month, "buckets": int(row.buckets), "month_buckets": full,
                     "forecast_days": int(row.buckets) * days / full, "month_days": days,
                     "first_day": f"{pd.Timestamp(row.start):%Y-%m-%d}",
                     "last_day": f"{pd.Timestamp(row.end):%Y-%m-%d}"})
    frame = pd.DataFrame(rows)
    cost = route_costs[route_costs["period"] != "horizon"].groupby(["route", "period"], sort=False,
                                                                   as_index=False)[quantile_names].sum()
    cost = cost.merge(frame, on="period")
    cost[quantile_names] = cost[quantile_names].mul(cost["month_buckets"] / cost["buckets"], axis=0)
    return cost.sort_values("month", kind="stable").sort_values("route", kind="stable", key=lambda r: r.map(
        {route: i for i, route in enumerate(dict.fromkeys(route_costs["route"]))})).reset_index(drop=True)


def _days(period: str) -> int:
    return pd.Period(period, "M").days_in_month


# Per ROI month: the days its forecast covers (0 when extrapolated), the month's days, and the first
# and last forecast day in it.
_DAYS = ["forecast_days", "month_days", "first_day", "last_day"]


def _growth(per_day: pd.Series) -> float:
    """Monthly growth fitted (log-linear) to consecutive months' cost per day."""
    values = per_day.to_numpy(dtype=float)
    if len(values) < 2 or (values <= 0).any():
        return 0.0
    return float(np.exp(np.polyfit(np.arange(len(values)), np.log(values), 1)[0]) - 1)


def planned_history(history_costs: pd.DataFrame, planned_series: set[str], months: int,
                    multipliers: pd.DataFrame | None = None) -> tuple[pd.Series, list[str]]:
    """The baseline cost of the last ``months`` whole months of history, indexed by period (oldest first),
    over the series the plan forecasts only; and the priced series left out in those months.

    ``multipliers`` (``stated_events.monthly_multipliers``: period by model): each series' cost is
    divided by its model's stated effects in force that month, so a launch's step is not read as growth.

    ``history_costs``: ``series, period, observed, whole_month`` (``price_history``). A series the
    forecast leaves out (ended: a retired model, a rotated key) has no cost in the plan; kept in
    the fit, its fall read as decline: a Console export whose Opus usage stopped two months before
    its end fitted -1.9% a month, +9.1% without it.
    """
    whole = history_costs[history_costs["whole_month"]]
    periods = sorted(whole["period"].unique())[-months:] if months > 0 else []
    recent = whole[whole["period"].isin(periods)]
    planned = recent["series"].isin(planned_series)
    per_month = _per_whole_month(recent[planned])
    if multipliers is not None:
        keys = pd.MultiIndex.from_arrays([per_month.index, recent.loc[planned, "model"].to_numpy()])
        per_month = per_month / multipliers.stack().reindex(keys).fillna(1.0).to_numpy()
    cost = per_month.groupby(level=0).sum().reindex(periods, fill_value=0.0)
    cost = cost[cost.gt(0).cummax()]  # months before the planned series began are no history of them
    left_out = sorted(recent.loc[~planned & (recent["observed"] > 0), "series"].unique())
    return cost, left_out


def _per_whole_month(costs: pd.DataFrame) -> pd.Series:
    """Each series' observed cost scaled to its whole month by the share of the month's buckets observed.

    A whole month is one the history spans from its first to its last day, but days inside it may
    be missing (a Console export without seven of June's days): priced as they are, such a month
    reads as a fall and the months after it as growth. ``covered_share`` absent: taken as observed.
    """
    if "covered_share" not in costs:
        return costs.set_index("period")["observed"]
    share = costs["covered_share"].where(costs["covered_share"] > 0)
    return (costs["observed"] / share).fillna(0.0).set_axis(costs["period"])


def extrapolation_growth(monthly: pd.DataFrame, baseline: str, quantile_names: list[str],
                         history: pd.Series | None = None, min_history_months: int = 0,
                         deflator: pd.Series | None = None) -> dict[str, Any]:
    """The monthly growth the months after the forecast are extrapolated at, and the two fits it comes from.

    ``with_history``: fitted to the cost per day of ``history``'s whole months (indexed by period
    ``YYYY-MM``, oldest first) and the forecast months' P50; ``forecast``: to the forecast months
    alone (None with fewer than two). ``used``: the one nearer zero, and zero where they disagree in
    sign (a minmod limiter); ``with_history`` alone where there is no ``forecast`` fit. Fitted with
    the history and the forecast, a usage that doubled ten days before the end of its history read as +20%
    a month for a year while the forecast's three months were flat: the forecast had taken the step
    as a new level, and the extrapolation compounded it.

    ``deflator`` (per forecast period, ``stated_events.deflator``): the factor stated events put on the
    forecast months' cost, divided out before the fits (``history`` comes with them divided out).

    ``enough_history``: ``history`` has at least ``min_history_months`` whole months; without them
    ``used`` is zero (flat at the forecast's rate). One whole month of history and seven forecast days
    fitted +12.7% a month, which eleven months compounded to 3.7 times the forecast's rate.
    """
    median = quantile_names[len(quantile_names) // 2]
    base = monthly[monthly["route"] == baseline].sort_values("month")
    per_day = base[median] / base["period"].map(_days)
    if deflator is not None:
        per_day = per_day / base["period"].map(deflator).fillna(1.0)
    per_day = per_day.reset_index(drop=True)
    past = history / history.index.map(_days) if history is not None and len(history) else pd.Series(dtype=float)
    with_history = _growth(pd.concat([past, per_day], ignore_index=True))
    forecast = _growth(per_day) if len(per_day) >= 2 else None
    enough = len(past) >= min_history_months
    if not enough:
        used = 0.0
    elif forecast is None:
        used = with_history
    else:
        used = 0.0 if with_history * forecast <= 0 else min(with_history, forecast, key=abs)
    return {"with_history": with_history, "forecast": forecast, "used": used, "history_months": len(past),
            "enough_history": enough}


def route_months(monthly: pd.DataFrame, baseline: str, quantile_names: list[str], months: int = 12,
                 growth: float | None = None, history: pd.Series | None = None,
                 max_ratio: float | None = None, min_history_months: int = 0,
                 ratios: Mapping[str, pd.Series | None] | None = None) -> tuple[pd.DataFrame, float]:
    """Each route's monthly cost for months 1..``months`` (forecast, then extrapolated), and the growth used.

    ``growth`` None: the baseline's monthly growth of its cost per day, ``extrapolation_growth``'s
    ``used`` (``history``: the baseline cost of whole months before the forecast, indexed by period
    ``YYYY-MM``, oldest first; with fewer than ``min_history_months`` of them, no growth). ``max_ratio``: an
    extrapolated month's widening stops where its outer quantiles are this many times its P50
    (above) and this many times below it, or at the last forecast month's, if wider; None: no bound.
    ``ratios`` (per route, per extrapolated period, ``stated_events.extrapolated_ratios``): the stated
    effects in force that month against the last forecast month's, weighted by the route's own cost per
    model; a route without: the same.
    """
    median = quantile_names[len(quantile_names) // 2]
    base = monthly[monthly["route"] == baseline].sort_values("month")
    rate = (extrapolation_growth(monthly, baseline, quantile_names, history, min_history_months)["used"]
            if growth is None else growth)
    last = base.iloc[-1]
    # Interval of the last forecast month as ratios to its P50: the common driver's spread.
    log_ratio = np.log(np.clip(last[quantile_names].to_numpy(dtype=float), 1e-12, None) / max(last[median], 1e-12))
    # Each quantile's own bound: the plausibility bound, or the last forecast month's if wider.
    bound = np.maximum(np.log(max_ratio), np.abs(log_ratio)) if max_ratio else np.full(len(log_ratio), np.inf)
    rows = []
    for route, group in monthly.groupby("route", sort=False):
        group = group.sort_values("month")
        for row in group.itertuples():
            basis = ("forecast" if row.buckets == row.month_buckets else
                     f"a month at the forecast's rate: {day_count(row.forecast_days)} forecast days "
                     f"({row.first_day} – {row.last_day}) scaled to the month's {row.month_days}")
            rows.append({"route": route, "month": row.month, "period": row.period, "extrapolated": False,
                         "basis": basis, **{c: getattr(row, c) for c in _DAYS},
                         **{q: getattr(row, q) for q in quantile_names}})
        tail = group.iloc[-1]
        own = (ratios or {}).get(route)
        for month in range(int(tail["month"]) + 1, months + 1):
            ahead = month - int(tail["month"])
            period = str(pd.Period(tail["period"], "M") + ahead)
            p50 = tail[median] / _days(tail["period"]) * (1 + rate) ** ahead * _days(period)
            events = 1.0 if own is None else float(own.get(period, 1.0))
            p50 *= events
            spread = np.clip(log_ratio * np.sqrt(month / int(tail["month"])), -bound, bound)
            rows.append({"route": route, "month": month, "period": period, "extrapolated": True,
                         "basis": f"extrapolated at {rate:+.1%}/month" + (
                             f", stated events x{events:.2f} against month {int(tail['month'])}"
                             if abs(events - 1) >= 0.005 else ""), "forecast_days": 0.0,
                         "month_days": _days(period), "first_day": None, "last_day": None,
                         **dict(zip(quantile_names, np.sort(p50 * np.exp(spread)), strict=True))})
    frame = pd.DataFrame(rows)
    return frame[frame["month"] <= months].reset_index(drop=True), rate


def cashflow(months: pd.DataFrame, baseline: str, quantile_names: list[str]) -> pd.DataFrame:
    """Monthly saving of each candidate route against the baseline, with its quantiles and cumulative sums.

    Columns: ``route, month, period, saving_<q>..., cumulative_<q>..., baseline_cost_p50``, the days
    (``forecast_days, month_days, first_day, last_day``), ``extrapolated, basis``.
    """
    base = months[months["route"] == baseline].set_index("month")
    out = []
    for route, group in months[months["route"] != baseline].groupby("route", sort=False):
        group = group.set_index("month")
        saving = np.sort(base.loc[group.index, quantile_names].to_numpy() - group[quantile_names].to_numpy(), axis=1)
        frame = pd.DataFrame(saving, columns=[f"saving_{q}" for q in quantile_names], index=group.index)
        cumulative = frame.cumsum()
        cumulative.columns = [f"cumulative_{q}" for q in quantile_names]
        out.append(pd.concat([frame, cumulative], axis=1).assign(
            route=route, period=group["period"], extrapolated=group["extrapolated"], basis=group["basis"],
            **{c: group[c] for c in _DAYS},
            baseline_cost_p50=base.loc[group.index, quantile_names[len(quantile_names) // 2]]).reset_index())
    columns = ["route", "month", "period", *[f"saving_{q}" for q in quantile_names],
               *[f"cumulative_{q}" for q in quantile_names], "baseline_cost_p50", *_DAYS, "extrapolated", "basis"]
    return pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)


def payback_month(monthly_saving: list[float] | np.ndarray, one_time_cost: float) -> int | None:
    """First month (1-based) whose cumulative saving is positive and covers the one-time cost; None if none."""
    cumulative = np.cumsum(np.asarray(monthly_saving, dtype=float))
    hits = np.flatnonzero((cumulative > 0) & (cumulative >= one_time_cost))
    return int(hits[0]) + 1 if len(hits) else None


def npv(monthly_saving: list[float] | np.ndarray, one_time_cost: float, annual_rate: float) -> float:
    """Net present value: -one-time cost (now) + each month's saving discounted at the end of its month."""
    saving = np.asarray(monthly_saving, dtype=float)
    months = np.arange(1, len(saving) + 1)
    return float(-one_time_cost + (saving / (1 + annual_rate) ** (months / 12)).sum())


def break_even_discount(baseline_costs: list[float] | np.ndarray, one_time_cost: float) -> float:
    """Share of the baseline cost a route must save over the months given to pay back within them."""
    total = float(np.sum(baseline_costs))
    return one_time_cost / total if total > 0 else float("nan")


def break_even_credit_rate(route: Route, saving_share_needed: float) -> float:
    """The relay credit rate (local currency per USD of list price) at which it saves ``saving_share_needed``
    of the baseline cost; NaN for other kinds or when no positive credit rate does.

    A relay saves share x baseline x (1 - credit / FX x (1 + fees)).
    """
    if route.kind != "relay":
        return float("nan")
    multiplier = 1 - saving_share_needed / route.eligible_share if route.eligible_share else 0.0
    return multiplier * route.fx_rate / (1 + route.fee_share) if multiplier > 0 else float("nan")


def route_summary(route: Route, flow: pd.DataFrame, quantile_names: list[str], annual_rate: float,
                  months: int, applies: bool = True) -> dict[str, Any]:
    """One ``roi_summary`` row: one-time cost, mean monthly saving over the forecast months (each a whole
    month at the forecast's rate), payback month and NPV at each quantile, the break-even, and the
    days the forecast months cover (``forecast_days`` of their ``forecast_month_days``), from the
    route's ``cashflow`` rows."""
    cost = route.one_time.usd
    savings = {q: flow[f"saving_{q}"].to_numpy() for q in quantile_names}
    median = quantile_names[len(quantile_names) // 2]
    needed = break_even_discount(flow["baseline_cost_p50"], cost)
    forecast_months = flow[~flow["extrapolated"]]
    return {"route": route.name, "kind": route.kind, "applies": applies,
            "one_time_cost_usd": cost,
            **{f"monthly_saving_{q}": float(forecast_months[f"saving_{q}"].mean()) for q in quantile_names},
            **{f"payback_month_{q}": payback_month(savings[q], cost) for q in quantile_names},
            **{f"npv_{months}m_{q}": npv(savings[q], cost, annual_rate) for q in quantile_names},
            "annual_discount_rate": annual_rate, "months": months,
            "months_extrapolated": int(flow["extrapolated"].sum()),
            "forecast_months": len(forecast_months), "forecast_days": float(forecast_months["forecast_days"].sum()),
            "forecast_month_days": int(forecast_months["month_days"].sum()),
            "saving_share_p50": float(savings[median].sum() / flow["baseline_cost_p50"].sum()),
            "demo_assumptions": "; ".join(route.demo_assumptions()), "user_inputs": "; ".join(route.user_inputs()),
            "break_even_saving_share": needed, "break_even_credit_rate": break_even_credit_rate(route, needed)}


def horizon_savings(route_costs: pd.DataFrame, baseline: str, quantile_names: list[str]) -> pd.DataFrame:
    """Each route's saving against the baseline over the forecast horizon as forecast (not scaled to
    whole months): ``route, horizon_saving_<q>...``, the route table's saving at each quantile."""
    horizon = route_costs[route_costs["period"] == "horizon"].groupby("route", sort=False)[quantile_names].sum()
    if baseline not in horizon.index:
        return pd.DataFrame(columns=["route", *[f"horizon_saving_{q}" for q in quantile_names]])
    saving = np.sort(horizon.loc[[baseline]].to_numpy() - horizon.to_numpy(), axis=1)
    return pd.DataFrame(saving, columns=[f"horizon_saving_{q}" for q in quantile_names]).assign(
        route=horizon.index)[["route", *[f"horizon_saving_{q}" for q in quantile_names]]]
