"""The report's routes and ROI section as Markdown: every number comes from the planning tables.

Figures are referenced by file name (``route_costs.png``, ``roi_cashflow.png``,
``roi_tornado.png``); the tables it summarises sit beside ``report.md`` as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.planning.prices import PRICED_TARGETS, UnitPrices
from tokenplan.planning.routes import Route, relay_multiplier
from tokenplan.reporting.markdown import markdown_table as _table

__all__ = ["RoutesSectionInputs", "render_routes_section"]

FIGURES = ("route_costs.png", "roi_cashflow.png", "roi_tornado.png")


@dataclass
class RoutesSectionInputs:
    """The planning tables and settings the section states."""

    route_costs: pd.DataFrame
    route_rates: pd.DataFrame
    roi_summary: pd.DataFrame
    roi_cashflow: pd.DataFrame
    roi_sensitivity: pd.DataFrame
    price_check: pd.DataFrame
    prices: dict[str, UnitPrices | None]
    params: dict[str, Any]              # planning parameters (routes, roi)
    quantile_names: list[str]


def _usd(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"-${-value:,.0f}" if value < -0.5 else f"${abs(value):,.0f}"


def _share(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.1%}"


def _interval(row: Any, names: list[str], prefix: str = "") -> str:
    lo, mid, hi = (row[f"{prefix}{n}"] for n in (names[0], names[len(names) // 2], names[-1]))
    return f"{_usd(mid)} ({_usd(lo)} – {_usd(hi)})"


def _unpriced(inputs: RoutesSectionInputs) -> str:
    missing = sorted(m for m, p in inputs.prices.items() if p is None)
    if not missing:
        return ""
    return ("**No price:** " + ", ".join(f"`{m}`" for m in missing) + " — add it to the price table "
            "(`price_table`: model, input/cache_write/cache_read/output USD per million tokens, source, date). "
            "These models are left out of every cost and saving below.\n\n")


def _horizon_table(inputs: RoutesSectionInputs, baseline: str) -> str:
    names = inputs.quantile_names
    horizon = inputs.route_costs[inputs.route_costs["period"] == "horizon"]
    totals = horizon.groupby("route", sort=False)[names].sum()
    median = names[len(names) // 2]
    base = totals.loc[baseline, median]
    rows = [{"route": route, "cost over the forecast horizon": _interval(row, names),
             f"saving vs {baseline} ({median.upper()})": _usd(base - row[median]),
             "saving share": _share((base - row[median]) / base if base else np.nan)}
            for route, row in totals.iterrows()]
    return _table(pd.DataFrame(rows))


def _gaps_in_rates(inputs: RoutesSectionInputs) -> str:
    """Where a route could not be priced as configured (no batch rate in force, a model not offered), by month."""
    rates = inputs.route_rates
    notes = rates["note"].str.extract(r"; ((?:no |not offered).*)$")[0]
    flagged = rates.assign(gap=notes).dropna(subset=["gap"])
    if flagged.empty:
        return ""
    lines = [f"- **{route}**, `{model}`: {gap} in {', '.join(sorted(group['period'].unique()))}"
             for (route, model, gap), group in flagged.groupby(["route", "model", "gap"], sort=False)]
    return ("\n\nWhere a route could not be priced as configured, it costs what the baseline does (no saving "
            "is assumed):\n\n" + "\n".join(lines))


def _monthly_table(inputs: RoutesSectionInputs) -> str:
    names = inputs.quantile_names
    months = inputs.route_costs[inputs.route_costs["period"] != "horizon"]
    total = months.groupby(["route", "period"], sort=False, as_index=False)[names].sum()
    total["cost"] = [_interval(r, names) for _, r in total.iterrows()]
    wide = total.pivot_table(index="route", columns="period", values="cost", aggfunc="first", sort=False)
    return _table(wide.reset_index())


def _rates_table(inputs: RoutesSectionInputs) -> str:
    rates = inputs.route_rates
    first = rates[rates["period"] == rates["period"].min()]
    wide = first.pivot_table(index=["route", "model", "note"], columns="token_type", values="usd_per_mtok",
                             aggfunc="mean", sort=False)
    wide = wide[[t for t in PRICED_TARGETS if t in wide.columns]].map(lambda v: f"{v:.4g}")
    wide.columns = [f"{c.removesuffix('_tokens')} $/MTok" for c in wide.columns]
    return (f"Effective rates in {first['period'].min()} (priced on {first['price_date'].min()}; every month's "
            f"rates are in `route_rates.csv`):\n\n" + _table(wide.reset_index()))


def _route_inputs(route: Route) -> str:
    if route.kind == "batch":
        inputs = [f"eligible share {route.eligible_share:.0%} of each model's traffic at Batch API rates"]
    elif route.kind == "caching":
        inputs = [f"eligible share {route.eligible_share:.0%} of today's uncached input read from the cache",
                  f"{route.reads_per_write:g} reads per cached token written ({route.cache_write_ttl} write rate)"]
    elif route.kind == "reseller":
        inputs = [f"{route.eligible_share:.0%} of traffic at provider `{route.provider}` with ids "
                  + ", ".join(f"`{k}` → `{v}`" for k, v in route.model_ids.items())]
    elif route.kind == "relay":
        inputs = [f"{route.eligible_share:.0%} of traffic; credit rate {route.credit_rate:g} {route.currency} "
                  f"per 1 USD of list-price usage; FX {route.fx_rate:g} {route.currency} per USD "
                  f"({route.fx_date}, {route.fx_source}); fees {route.fee_share:.1%} of payments"]
    else:
        inputs = []
    one_time = route.one_time
    inputs.append(f"one-time cost {_usd(one_time.usd)} = {one_time.engineering_days:g} engineer-days × "
                  f"{_usd(one_time.day_rate_usd)} + {_usd(one_time.other_usd)}"
                  + (f" ({one_time.source})" if one_time.source else ""))
    lines = [f"- **{route.name}** ({route.kind}): " + "; ".join(inputs)
             + (f". Source: {route.source}" if route.source else "") + (f" ({route.date})" if route.date else "")]
    if route.constraints:
        lines.append("  - constraints: " + "; ".join(route.constraints))
    if route.risks:
        lines.append("  - risks: " + "; ".join(route.risks))
    return "\n".join(lines)


def _relay_arithmetic(inputs: RoutesSectionInputs, routes: list[Route], baseline: str) -> str:
    relays = [r for r in routes if r.kind == "relay"]
    if not relays:
        return ""
    names = inputs.quantile_names
    median = names[len(names) // 2]
    horizon = inputs.route_costs[inputs.route_costs["period"] == "horizon"].groupby("route")[median].sum()
    base = horizon.get(baseline, np.nan)
    risk_free = [r for r in routes if r.kind in ("batch", "caching")]
    parts = []
    for relay in relays:
        multiplier = relay_multiplier(relay)
        cost = horizon.get(relay.name, np.nan)
        parts.append(
            f"**{relay.name}:** {relay.credit_rate:g} {relay.currency} buys 1 USD of list-price usage; "
            f"at {relay.fx_rate:g} {relay.currency}/USD ({relay.fx_date}; {relay.fx_source}), "
            f"1 USD of list price costs {relay.credit_rate:g} / {relay.fx_rate:g} × (1 + {relay.fee_share:g} fees) "
            f"= **{multiplier:.4f} USD**, i.e. {1 - multiplier:.1%} below list on the "
            f"{relay.eligible_share:.0%} of traffic moved, before any risk is priced. On this forecast "
            f"({median.upper()}, whole horizon): {_usd(base)} on {baseline} vs {_usd(cost)} on the relay, "
            f"a saving of {_usd(base - cost)} ({_share((base - cost) / base if base else np.nan)}).")
    for route in risk_free:
        cost = horizon.get(route.name, np.nan)
        parts.append(f"Beside it, on the same forecast and without a third party: **{route.name}** saves "
                     f"{_usd(base - cost)} ({_share((base - cost) / base if base else np.nan)}).")
    parts.append("The relay's saving buys the risks listed with it above; none of them is priced in these "
                 "numbers (no premium for latency, outages, suspension or FX moves).")
    return "### The relay's arithmetic\n\n" + "\n\n".join(parts)


def _payback(value: float, months: int) -> str:
    return f"month {int(value)}" if pd.notna(value) else f"does not pay back within {months} months"


def _roi_table(inputs: RoutesSectionInputs) -> str:
    names = inputs.quantile_names
    median = names[len(names) // 2]
    rows = []
    for _, row in inputs.roi_summary.iterrows():
        months = int(row["months"])
        credit = row["break_even_credit_rate"]
        rows.append({
            "route": row["route"], "one-time cost": _usd(row["one_time_cost_usd"]),
            "monthly saving (forecast months)": _interval(row, names, "monthly_saving_"),
            f"payback ({median.upper()})": _payback(row[f"payback_month_{median}"], months),
            f"payback ({names[0].upper()})": _payback(row[f"payback_month_{names[0]}"], months),
            f"{months}-month NPV": _interval(row, names, f"npv_{months}m_")
                                   + (f", {int(row['months_extrapolated'])} months extrapolated"
                                      if row["months_extrapolated"] else ""),
            "break-even": f"saves ≥ {_share(row['break_even_saving_share'])} of baseline"
                          + (f"; credit rate ≤ {credit:.3g}" if pd.notna(credit) else ""),
        })
    return _table(pd.DataFrame(rows))


def _cashflow_table(inputs: RoutesSectionInputs) -> str:
    median = inputs.quantile_names[len(inputs.quantile_names) // 2]
    flow = inputs.roi_cashflow.assign(
        label=lambda f: f["month"].astype(str) + " " + f["period"] + np.where(f["extrapolated"], " (extrap.)", ""),
        value=lambda f: f[f"cumulative_{median}"].map(_usd))
    wide = flow.pivot_table(index="label", columns="route", values="value", aggfunc="first", sort=False)
    return _table(wide.reset_index().rename(columns={"label": "month"}))


def _price_check(inputs: RoutesSectionInputs) -> str:
    check = inputs.price_check
    if check.empty:
        return ("No billed costs were supplied (`billed_costs`: a CSV with `date, amount_usd`, or the Admin API "
                "cost report), so the price model is **not checked against a bill**: the costs above are list "
                "prices applied to the usage, nothing more.")
    shown = pd.DataFrame({
        "month": check["period"], "priced (list rates)": check["priced_usd"].map(_usd),
        "billed": check["billed_usd"].map(_usd), "gap (billed - priced)": check["gap_usd"].map(_usd),
        "gap share of bill": check["gap_share"].map(_share), "missing usage buckets": check["missing_buckets"]})
    worst = check.loc[check["gap_share"].abs().idxmax()] if check["gap_share"].notna().any() else None
    note = (f" The largest gap is {_share(worst['gap_share'])} of the bill in {worst['period']}: until it is "
            "explained (discounts, credits, long-context tiers, usage the source misses), read the route costs "
            "with that margin." if worst is not None else "")
    return ("The usage history priced at the baseline route's rates, beside what was billed, per month present "
            "in both:\n\n" + _table(shown) + "\n\n" + note.strip())


def render_routes_section(inputs: RoutesSectionInputs) -> str:
    """Markdown for the routes, ROI and price-check section (starts with a level-2 heading)."""
    routes = [Route(**r) for r in inputs.params["routes"]["definitions"]]
    baseline = inputs.params["routes"]["baseline"]
    names = inputs.quantile_names
    lower, median, upper = names[0], names[len(names) // 2], names[-1]
    roi = inputs.params["roi"]
    summary = inputs.roi_summary
    growth = summary["growth_after_forecast"].iloc[0] if len(summary) else np.nan
    fit_months = int(summary["growth_fit_history_months"].iloc[0]) if len(summary) else 0
    parts = [
        "## Cost per route and migration ROI",
        _unpriced(inputs)
        + f"What the forecast costs on each route, {median.upper()} ({lower.upper()} – {upper.upper()}) in USD, "
          f"at the price in force on each month's first day; each model is priced by its own provider in "
          f"genai-prices (or the price table). Intervals assume all token types and models move together "
          f"(comonotone), which is how the forecast's period totals get their intervals (one backtested scale per "
          f"period), so adding quantiles is exact under that assumption; long-context (>200K input) tiers are not "
          f"applied.\n\n" + _horizon_table(inputs, baseline) + _gaps_in_rates(inputs),
        "Per month (all priced models):\n\n" + _monthly_table(inputs) + "\n\n![Cost per route and month](route_costs.png)",
        "### Routes and their assumptions\n\n" + "\n".join(_route_inputs(r) for r in routes)
        + "\n\n" + _rates_table(inputs),
        _relay_arithmetic(inputs, routes, baseline),
        f"### Migration ROI against {baseline}\n\n"
        f"Month 1 is the first forecast month and each route is assumed live from then. Months after the "
        f"forecast are **extrapolated**: the baseline's growth of {_share(growth)}/month, fitted (log-linear) to "
        f"{fit_months} whole months of priced history and the forecast months' {median.upper()}, with intervals that keep widening (log-width × √(months ahead)). NPV discounts each month's "
        f"saving at {_share(roi['annual_discount_rate'])} a year ({roi.get('discount_rate_source', 'config')}) "
        f"over {roi['months']} months, less the one-time cost paid now. Payback is the first month whose "
        f"cumulative saving covers the one-time cost; break-even is the share of the baseline cost a route must "
        f"save to pay back within {roi['months']} months (for a relay, the credit rate at which it does).\n\n"
        + _roi_table(inputs)
        + f"\n\nCumulative saving, {median.upper()}, before the one-time cost (`roi_cashflow.csv` has every "
          f"quantile):\n\n" + _cashflow_table(inputs) + "\n\n![Cumulative cash flow](roi_cashflow.png)",
        f"### Sensitivity\n\nEach input moved down and up by {roi['sensitivity']['swing']:.0%} (traffic growth "
        f"after the forecast by {roi['sensitivity']['growth_swing']:.0%} points a month), the others held; the "
        f"bars show the {roi['months']}-month NPV at {median.upper()} (`roi_sensitivity.csv`).\n\n"
        "![Sensitivity of the NPV](roi_tornado.png)",
        "### Prices checked against the bill\n\n" + _price_check(inputs),
    ]
    return "\n\n".join(p for p in parts if p)
