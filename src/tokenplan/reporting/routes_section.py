"""The report's routes and ROI section as Markdown: every number comes from the planning tables.

The words live in ``templates/routes_section.md.j2`` (Jinja2); this module formats the
numbers and tables it fills in. Figures are referenced by file name
(``route_costs.png``, ``roi_cashflow.png``, ``roi_tornado.png``); the tables it
summarises sit beside ``report.md`` as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from tokenplan.planning.prices import PRICED_TARGETS, UnitPrices
from tokenplan.planning.route_config import configured_routes
from tokenplan.planning.routes import Route, relay_multiplier
from tokenplan.reporting.long_context_mix import long_context_days
from tokenplan.reporting.markdown import markdown_table as _table
from tokenplan.reporting.number_format import day_count, partial_month

__all__ = ["RoutesSectionInputs", "render_routes_section"]

# Markdown, not HTML: no autoescape (report.html escapes when it renders the Markdown).
_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("tokenplan.reporting", "templates"),
                                trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
                                undefined=jinja2.StrictUndefined, autoescape=False)


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


def _growth_fits(summary: pd.DataFrame, roi: dict[str, Any]) -> dict[str, Any]:
    """The growth fits the extrapolation chose between (``growth_forecast`` None: one fit only), whether the
    history was long enough to fit one, what an unused fit would have compounded to, and the series the
    history fit left out (not in this plan)."""
    first = summary.iloc[0] if len(summary) else pd.Series(dtype=float)
    forecast, with_history = first.get("growth_fit_forecast"), first.get("growth_fit_with_history")
    after = int(first.get("months_extrapolated", 0) or 0)
    enough = first.get("growth_enough_history")
    return {"growth_with_history": _share(with_history),
            "growth_forecast": _share(forecast) if forecast is not None and pd.notna(forecast) else None,
            "growth_history_months": int(first.get("growth_fit_history_months", 0) or 0),
            "growth_enough_history": True if enough is None or pd.isna(enough) else bool(enough),
            "growth_min_history_months": int(roi.get("min_growth_history_months", 0)),
            "months_after": after,
            "growth_compounded": (f"{(1 + with_history) ** after:.1f}" if with_history is not None
                                  and pd.notna(with_history) else "–"),
            "growth_left_out": first.get("growth_fit_left_out") or "",
            "growth_stated_events": first.get("growth_stated_events") or "",
            "stated_after": first.get("stated_events_after_forecast") or ""}


def _scaled_months(inputs: RoutesSectionInputs) -> list[dict[str, str]]:
    """The forecast months the horizon covers only partly, each a month at the forecast's rate in the ROI:
    ``period``, its forecast ``days`` of ``month_days``, and the ``first`` and ``last`` forecast day."""
    flow = inputs.roi_cashflow
    if "forecast_days" not in flow.columns:
        return []
    partial = flow[~flow["extrapolated"].astype(bool) & (flow["forecast_days"] < flow["month_days"] - 1e-9)]
    return [{"period": r.period, "days": day_count(r.forecast_days), "month_days": str(int(r.month_days)),
             "first": r.first_day, "last": r.last_day}
            for r in partial.drop_duplicates("period").sort_values("period").itertuples()]


def _forecast_rate_example(inputs: RoutesSectionInputs) -> dict[str, Any] | None:
    """The highest-NPV candidate's monthly saving beside its saving over the horizon as forecast."""
    names = inputs.quantile_names
    median = names[len(names) // 2]
    summary = inputs.roi_summary
    if "horizon_saving_p50" not in summary.columns or summary.empty:
        return None
    candidates = summary[summary.get("applies", pd.Series(True, index=summary.index)).astype(bool)]
    if candidates.empty:
        return None
    row = candidates.sort_values(f"npv_{int(candidates['months'].iloc[0])}m_{median}", ascending=False).iloc[0]
    return {"route": row["route"], "monthly": _usd(row[f"monthly_saving_{median}"]),
            "horizon": _usd(row[f"horizon_saving_{median}"]), "months": int(row["forecast_months"]),
            "days": day_count(row["forecast_days"]), "month_days": str(int(row["forecast_month_days"]))}


def _interval(row: Any, names: list[str], prefix: str = "") -> str:
    lo, mid, hi = (row[f"{prefix}{n}"] for n in (names[0], names[len(names) // 2], names[-1]))
    return f"{_usd(mid)} ({_usd(lo)} – {_usd(hi)})"


def _horizon_table(inputs: RoutesSectionInputs, baseline: str) -> str:
    names = inputs.quantile_names
    horizon = inputs.route_costs[inputs.route_costs["period"] == "horizon"]
    totals = horizon.groupby("route", sort=False)[names].sum()
    median = names[len(names) // 2]
    base = totals.loc[baseline, median]
    saving = f"saving vs {baseline} ({median.upper()})"
    rows = [{"route": route, "cost over the forecast horizon": _interval(row, names),
             saving: _usd(base - row[median]), "saving share": _share((base - row[median]) / base if base else np.nan)}
            if route == baseline or _applies(inputs.roi_summary, str(route)) else
            {"route": route, "cost over the forecast horizon": _interval(row, names),
             saving: "does not apply", "saving share": "–"}  # "$0 | 0.0%" read as a route that saves nothing
            for route, row in totals.iterrows()]
    return _table(pd.DataFrame(rows))


def _gaps_in_rates(inputs: RoutesSectionInputs) -> list[dict[str, str]]:
    """Where a route could not be priced as configured (no batch rate in force, a model not offered), by month."""
    rates = inputs.route_rates
    notes = rates["note"].str.extract(r"; ((?:no |not offered|batch rate in genai-prices from ).*)$")[0]
    flagged = rates.assign(gap=notes).dropna(subset=["gap"])
    return [{"route": route, "model": model, "gap": gap, "months": ", ".join(sorted(group["period"].unique()))}
            for (route, model, gap), group in flagged.groupby(["route", "model", "gap"], sort=False)]


def _monthly_table(inputs: RoutesSectionInputs) -> str:
    """Each route's cost per forecast month; a month the forecast covers only partly is headed with its days."""
    names = inputs.quantile_names
    months = inputs.route_costs[inputs.route_costs["period"] != "horizon"]
    total = months.groupby(["route", "period"], sort=False, as_index=False)[names].sum()
    total["cost"] = [_interval(r, names) for _, r in total.iterrows()]
    wide = total.pivot_table(index="route", columns="period", values="cost", aggfunc="first", sort=False)
    wide = wide.rename(columns={m["period"]: partial_month(m["period"], m["first"], m["last"], m["days"],
                                                           m["month_days"]) for m in _scaled_months(inputs)})
    return _table(wide.reset_index())


def _rates_table(inputs: RoutesSectionInputs) -> str:
    rates = inputs.route_rates
    first = rates[rates["period"] == rates["period"].min()]
    wide = first.pivot_table(index=["route", "model", "note"], columns="token_type", values="usd_per_mtok",
                             aggfunc="mean", sort=False)
    wide = wide[[t for t in PRICED_TARGETS if t in wide.columns]].map(lambda v: f"{v:.4g}")
    wide.columns = [f"{c.removesuffix('_tokens')} $/MTok" for c in wide.columns]
    return _table(wide.reset_index())


def _fx_date_and_source(relay: Route) -> tuple[str, str]:
    """The relay's FX date and source as the report states them: a rate the user set without its source is theirs,
    and the shipped date and source were the shipped rate's (where it was set, the route's list says)."""
    if relay.user_set("fx_rate") is None or relay.user_set("fx_source") is not None:
        return str(relay.fx_date), str(relay.fx_source)
    return (str(relay.fx_date) if relay.user_set("fx_date") else "no date given"), "set by you"


def _route(route: Route, user_inputs: str = "") -> dict[str, Any]:
    """A route's configured inputs as phrases, with its one-time cost's arithmetic, source, constraints, risks, and
    the inputs the user set over the configuration (``user_inputs``, ``roi_summary``'s: each with where)."""
    share = f"{route.eligible_share:.0%}"
    if route.kind == "batch":
        inputs = [f"eligible share {share} of each model's traffic at Batch API rates"]
    elif route.kind == "caching":
        written = route.eligible_share / route.reads_per_write
        inputs = [f"eligible share {share} of today's uncached input read from the cache",
                  f"{route.reads_per_write:g} reads per cached token written ({route.cache_write_ttl} write rate)",
                  f"so today's input is priced {1 - route.eligible_share - written:.0%} uncached + {share} cache "
                  f"read + {written:.0%} cache write (input rate = (1 − s − s/r) × input + s × read + s/r × "
                  f"write, s = {route.eligible_share:g}, r = {route.reads_per_write:g}: every token once)"]
    elif route.kind == "reseller":
        inputs = [f"{share} of traffic at provider `{route.provider}` with ids "
                  + ", ".join(f"`{k}` → `{v}`" for k, v in route.model_ids.items())]
    elif route.kind == "relay":
        inputs = [f"{share} of traffic; credit rate {route.credit_rate:g} {route.currency} per 1 USD of list-price "
                  f"usage; FX {route.fx_rate:g} {route.currency} per USD ({', '.join(_fx_date_and_source(route))}); "
                  f"fees {route.fee_share:.1%} of payments"]
    else:
        inputs = ["the official API as used today"]
    cost = route.one_time
    source = cost.source
    parts = [] if route.user_set("one_time.source") else [
        f"{part} set by you ({where})" for part in ("engineering_days", "day_rate_usd", "other_usd")
        if (where := route.user_set(f"one_time.{part}"))]
    if parts:  # the shipped source was for the shipped numbers
        source = "; ".join(parts) + (f"; the configuration's: {cost.source}" if cost.source else "")
    one_time = (f"{_usd(cost.usd)} = {cost.engineering_days:g} engineer-days × {_usd(cost.day_rate_usd)} + "
                f"{_usd(cost.other_usd)}" + (f" ({source})" if source else ""))
    return {"name": route.name, "kind": route.kind, "inputs": inputs, "one_time": one_time, "source": route.source,
            "date": route.date, "constraints": route.constraints, "risks": route.risks,
            "user_inputs": user_inputs or "; ".join(route.user_inputs())}


def _saving(horizon: pd.Series, baseline: str, route: str) -> dict[str, str]:
    base, cost = horizon.get(baseline, np.nan), horizon.get(route, np.nan)
    return {"cost": _usd(cost), "saving": _usd(base - cost), "saving_share": _share((base - cost) / base if base else np.nan),
            "saves": bool(base - cost > 0), "extra": _usd(cost - base)}


def _summary_text(roi_summary: pd.DataFrame, route: str | None, column: str) -> str:
    """``roi_summary``'s text in ``column`` for ``route`` (None: the first row's), "" where it has none."""
    if column not in roi_summary.columns:
        return ""
    rows = roi_summary if route is None else roi_summary.loc[roi_summary["route"] == route]
    value = rows[column].iloc[0] if len(rows) else None
    return value if isinstance(value, str) else ""


def _applies(roi_summary: pd.DataFrame, route: str) -> bool:
    """False where the ROI found the route takes none of this usage (no rate of its kind for these models)."""
    rows = roi_summary.loc[roi_summary["route"] == route]
    return bool(rows["applies"].iloc[0]) if len(rows) and "applies" in rows else True


def _relays(routes: list[Route], horizon: pd.Series, baseline: str) -> list[dict[str, str]]:
    """Each relay's arithmetic: what 1 USD of list price costs, and its saving on the forecast."""
    out = []
    for relay in (r for r in routes if r.kind == "relay"):
        multiplier = relay_multiplier(relay)
        fx_date, fx_source = _fx_date_and_source(relay)
        out.append({"name": relay.name, "credit_rate": f"{relay.credit_rate:g}", "currency": relay.currency,
                    "fx_rate": f"{relay.fx_rate:g}",
                    "fx_date": fx_date, "fx_source": fx_source,
                    "fee_share": f"{relay.fee_share:g}", "multiplier": f"{multiplier:.4f}",
                    "discount": f"{1 - multiplier:.1%}", "eligible_share": f"{relay.eligible_share:.0%}",
                    **_saving(horizon, baseline, relay.name)})
    return out


NOT_APPLICABLE = ("does not apply: takes none of this usage (see the notes on the rates), so it is not a "
                  "candidate")


def _payback(value: float, months: int) -> str:
    return f"month {int(value)}" if pd.notna(value) else f"does not pay back within {months} months"


def _roi_table(inputs: RoutesSectionInputs) -> str:
    names = inputs.quantile_names
    median = names[len(names) // 2]
    currency = {r.name: r.currency for r in configured_routes(inputs.params["routes"])}  # overrides applied
    saving_header = ("monthly saving (a month at the forecast's rate)" if _scaled_months(inputs)
                     else "monthly saving (forecast months)")
    rows = []
    for _, row in inputs.roi_summary.iterrows():
        months = int(row["months"])
        credit = row["break_even_credit_rate"]
        if not row.get("applies", True):
            rows.append({"route": row["route"], "one-time cost": _usd(row["one_time_cost_usd"]),
                         saving_header: NOT_APPLICABLE})
            continue
        rows.append({
            "route": row["route"], "one-time cost": _usd(row["one_time_cost_usd"]),
            saving_header: _interval(row, names, "monthly_saving_"),
            f"payback ({median.upper()})": _payback(row[f"payback_month_{median}"], months),
            f"payback ({names[0].upper()})": _payback(row[f"payback_month_{names[0]}"], months),
            f"{months}-month NPV": _interval(row, names, f"npv_{months}m_")
                                   + (f", {int(row['months_extrapolated'])} months extrapolated"
                                      if row["months_extrapolated"] else ""),
            "break-even": f"saves ≥ {_share(row['break_even_saving_share'])} of baseline"
                          + (f"; credit rate ≤ {credit:.3g} {currency.get(row['route']) or ''} per USD of list-price "
                             "usage".replace("  ", " ") if pd.notna(credit) else ""),
        })
    return _table(pd.DataFrame(rows).fillna("–"))


def _cashflow_table(inputs: RoutesSectionInputs) -> str:
    median = inputs.quantile_names[len(inputs.quantile_names) // 2]
    scaled = {m["period"]: f" ({m['days']} forecast days scaled to {m['month_days']})" for m in _scaled_months(inputs)}
    flow = inputs.roi_cashflow.assign(
        label=lambda f: f["month"].astype(str) + " " + f["period"] + np.where(
            f["extrapolated"], " (extrap.)", f["period"].map(scaled).fillna("")),
        value=lambda f: f[f"cumulative_{median}"].map(_usd))
    wide = flow.pivot_table(index="label", columns="route", values="value", aggfunc="first", sort=False)
    return _table(wide.reset_index().rename(columns={"label": "month"}))


def _price_check(inputs: RoutesSectionInputs) -> tuple[str, dict[str, str] | None]:
    """The priced-vs-billed table (empty string without a bill) and the month of the largest gap."""
    check = inputs.price_check
    if check.empty:
        return "", None
    shown = pd.DataFrame({
        "month": check["period"], "priced (list rates)": check["priced_usd"].map(_usd),
        "billed": check["billed_usd"].map(_usd), "gap (billed - priced)": check["gap_usd"].map(_usd),
        "gap share of bill": check["gap_share"].map(_share), "days billed": check["billed_days"],
        "history covers the month": check["whole_month"].map({True: "yes", False: "partly"}),
        "missing usage buckets": check["missing_buckets"]})
    if not check["gap_share"].notna().any():
        return _table(shown), None
    worst = check.loc[check["gap_share"].abs().idxmax()]
    return _table(shown), {"share": _share(worst["gap_share"]), "month": worst["period"]}


def render_routes_section(inputs: RoutesSectionInputs) -> str:
    """Markdown for the routes, ROI and price-check section (starts with a level-2 heading)."""
    routes = configured_routes(inputs.params["routes"])
    baseline = inputs.params["routes"]["baseline"]
    names = inputs.quantile_names
    median = names[len(names) // 2]
    roi = inputs.params["roi"]
    summary = inputs.roi_summary
    horizon = inputs.route_costs[inputs.route_costs["period"] == "horizon"].groupby("route")[median].sum()
    rates = inputs.route_rates
    price_check_table, worst_gap = _price_check(inputs)
    context = {
        "lo": names[0].upper(), "mid": median.upper(), "hi": names[-1].upper(), "baseline": baseline,
        "unpriced": sorted(m for m, p in inputs.prices.items() if p is None),
        "long_context_days": long_context_days(inputs.prices),
        "horizon_table": _horizon_table(inputs, baseline), "rate_gaps": _gaps_in_rates(inputs),
        "monthly_table": _monthly_table(inputs), "routes": [_route(r, _summary_text(summary, r.name, "user_inputs"))
                                                            for r in routes],
        "rates_month": rates["period"].min(), "rates_date": rates["price_date"].min(), "rates_table": _rates_table(inputs),
        "relays": _relays(routes, horizon, baseline), "baseline_cost": _usd(horizon.get(baseline, np.nan)),
        "risk_free": [{"name": r.name, "applies": _applies(summary, r.name), **_saving(horizon, baseline, r.name)}
                      for r in routes if r.kind in ("batch", "caching")],
        "growth": _share(summary["growth_after_forecast"].iloc[0] if len(summary) else np.nan),
        **_growth_fits(summary, roi), "scaled_months": _scaled_months(inputs),
        "forecast_rate_example": _forecast_rate_example(inputs),
        "discount_rate": _share(roi["annual_discount_rate"]),
        "max_ratio": f"{roi['max_p90_to_p50']:g}" if roi.get("max_p90_to_p50") else None,
        "discount_rate_source": _summary_text(summary, None, "discount_rate_source")
                                or roi.get("discount_rate_source", "config"), "months": roi["months"],
        "roi_table": _roi_table(inputs), "cashflow_table": _cashflow_table(inputs),
        "swing": f"{roi['sensitivity']['swing']:.0%}", "growth_swing": f"{roi['sensitivity']['growth_swing']:.0%}",
        "price_check_table": price_check_table, "worst_gap": worst_gap,
    }
    return _TEMPLATES.get_template("routes_section.md.j2").render(context).strip()
