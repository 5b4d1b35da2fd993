"""The report's organisation section: the organisation's spend, the top teams by spend and by risk, chargeback.

Every number comes from the organisation pipeline's tables (``hierarchy_backtest``,
``organisation_forecast``, ``team_budgets``, ``teams_at_risk``, ``chargeback``,
``organisation_series``); the rest of the teams are in the CSV tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tokenplan.forecasting.migrations import traffic_ids
from tokenplan.organisation.budgets import AT_RISK_CHANCE, at_risk, litellm_month
from tokenplan.organisation.dimensions import shared_keys, unpriced_text
from tokenplan.organisation.hierarchy import PLAN_METHOD, best_method
from tokenplan.reporting.markdown import markdown_table as table
from tokenplan.reporting.number_format import apart, chance, percent, usd

__all__ = ["WIDE_COVERAGE", "OrganisationSectionInputs", "organisation_coverage", "render_organisation_section"]


@dataclass(frozen=True)
class OrganisationSectionInputs:
    """The organisation pipeline's tables and settings the section reads."""

    series: pd.DataFrame              # organisation_series
    hierarchy_backtest: pd.DataFrame
    forecast: pd.DataFrame            # organisation_forecast (daily USD per node)
    team_budgets: pd.DataFrame
    teams_at_risk: pd.DataFrame
    chargeback: pd.DataFrame
    chargeback_rule: dict[str, Any]
    params: dict[str, Any]            # organisation parameters
    litellm_team_budgets: list[dict] = field(default_factory=list)  # /team/new payloads
    cost_forecast: pd.DataFrame | None = None  # per series and period: what the forecast prices
    migrations: pd.DataFrame | None = None  # traffic forecast as one series (tokenplan.forecasting.migrations)


def _band(p10: float, p50: float, p90: float) -> str:
    return f"{usd(p50)} ({usd(p10)} – {usd(p90)})"


def _backtest_table(scores: pd.DataFrame) -> pd.DataFrame:
    wide = scores.pivot_table(index="level", columns="method", values="mase", sort=False)
    coverage = scores[scores["chosen"]].set_index("level")["coverage"]
    out = wide.map(lambda v: f"{v:.2f}").reset_index()
    out["coverage (bottom_up, the plan's)"] = out["level"].map(coverage).map(lambda v: percent(v))
    return out.rename(columns={"level": "level (MASE)"})


# A chosen method's daily P10-P90 coverage under this share, at the organisation or team level, is too narrow to
# call the added intervals wide: two folds of days read 67% at the organisation on the demo.
NARROW_COVERAGE = 0.75
# At or above this share the added daily intervals are read as wide: adding the parts' quantiles assumes they move
# together, the widest interval the parts allow (a review measured the demo_org organisation's daily P10-P90 holding
# 96% of days, its October interval 2.66 times what independent series' errors would give).
WIDE_COVERAGE = 0.85


def _narrow_levels(scores: pd.DataFrame) -> list[dict[str, str]]:
    """The organisation and team levels whose added daily intervals held fewer days than ``NARROW_COVERAGE``."""
    if scores.empty:
        return []
    chosen = scores[scores["chosen"] & scores["level"].isin(["organisation", "team"])]
    return [{"level": row.level, "coverage": percent(row.coverage)}
            for row in chosen.itertuples() if pd.notna(row.coverage) and row.coverage < NARROW_COVERAGE]


def _level_coverage(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """The organisation's and the teams' daily P10-P90 coverage of the plan's (bottom-up) intervals on the backtest,
    each with ``wide`` (at least ``WIDE_COVERAGE``); none where the backtest has no coverage for them."""
    if scores.empty:
        return []
    chosen = scores[scores["chosen"] & scores["level"].isin(["organisation", "team"])]
    whose = {"organisation": "the organisation's", "team": "the teams'"}
    return [{"level": row.level, "whose": whose[row.level], "coverage": percent(row.coverage),
             "value": float(row.coverage), "wide": bool(row.coverage >= WIDE_COVERAGE)}
            for row in chosen.itertuples() if pd.notna(row.coverage)]


def organisation_coverage(scores: pd.DataFrame | None) -> float | None:
    """The organisation's daily P10-P90 coverage of the plan's intervals on the hierarchy backtest; None without."""
    found = [c for c in _level_coverage(scores) if c["level"] == "organisation"] if scores is not None else []
    return found[0]["value"] if found else None


_METHOD_NAMES = {"mint_ols": "MinTrace (OLS)", "mint_shrink": "MinTrace (shrunk covariance)"}


def _method_scores(scores: pd.DataFrame) -> dict[str, str]:
    """The best-scoring method that adds up and its mean MASE over the levels, beside the plan's own (bottom-up)."""
    if scores.empty or not (scores["method"] == PLAN_METHOD).any():
        return {"scored": False, "best_method": PLAN_METHOD}
    best = best_method(scores)
    mean = scores.groupby("method")["mase"].mean()
    if best == PLAN_METHOD:
        return {"scored": True, "best_method": best, "plan_mase": f"{mean[best]:.2f}"}
    best_mase, plan_mase = apart(mean[best], mean[PLAN_METHOD])  # a lower score must not read as a tie
    return {"scored": True, "best_method": best, "best_name": _METHOD_NAMES.get(best, best),
            "best_mase": best_mase, "plan_mase": plan_mase}


def _period_days(period: str, first: pd.Timestamp, last: pd.Timestamp,
                 history_start: pd.Timestamp | None = None) -> str:
    """The days a month's or quarter's figures cover when not wholly forecast (``first`` to ``last``):
    ``11-01 – 11-16 recorded, 11-17 – 11-30 forecast``, and ``07-01 – 07-17 not in the history`` before
    ``history_start``; "" for a period the forecast covers."""
    span = pd.Period(period.replace("-Q", "Q"), freq="Q" if "-Q" in period else "M")
    start, end = span.start_time, span.end_time.normalize()
    if start >= first and end <= last:
        return ""
    known = max(start, history_start) if history_start is not None and history_start < first else start
    parts = [f"{start:%m-%d} – {known - pd.Timedelta(days=1):%m-%d} not in the history"] if known > start else []
    parts += [f"{known:%m-%d} – {first - pd.Timedelta(days=1):%m-%d} recorded"] if known < first else []
    return ", ".join([*parts, f"{max(start, first):%m-%d} – {min(end, last):%m-%d} forecast"])


def _period_label(period: str, first: pd.Timestamp, last: pd.Timestamp,
                  history_start: pd.Timestamp | None = None) -> str:
    """``period``, with the days its figures cover when they are not the whole period: ``2026-11 (11-01 – 11-16
    recorded, 11-17 – 11-30 forecast)`` for a month the forecast (``first`` to ``last``) starts in; the days
    before ``history_start`` (the history's first day) are named as not in it."""
    if period == "horizon":
        return f"horizon ({first:%Y-%m-%d} – {last:%Y-%m-%d})"
    days = _period_days(period, first, last, history_start)
    return f"{period} ({days})" if days else period


def _organisation_table(budgets: pd.DataFrame, today: str, last: str,
                        history_start: pd.Timestamp | None = None) -> pd.DataFrame:
    """Teams' spend added per period; a period that began before the forecast shows the part recorded in it."""
    checked = budgets[budgets["spend_p50"].notna()]  # a budget the forecast does not reach has no spend
    totals = checked.groupby("period", sort=True)[["spend_p10", "spend_p50", "spend_p90", "recorded_usd"]].sum()
    first, end = pd.Timestamp(today), pd.Timestamp(last)
    rows = [{"period": _period_label(period, first, end, history_start),
             "teams' spend added": _band(r.spend_p10, r.spend_p50, r.spend_p90),
             f"recorded before {today}": usd(r.recorded_usd) if r.recorded_usd > 0 else ""}
            for period, r in totals.iterrows()]
    out = pd.DataFrame(rows)
    return out if (totals["recorded_usd"] > 0).any() else out.drop(columns=f"recorded before {today}")


def _unpriced(charge: pd.DataFrame, budgets: pd.DataFrame) -> dict[str, list[dict[str, str]]]:
    """Teams with usage the plan does not price (``chargeback``'s ``unpriced_models``): ``whole`` (none of its
    models priced: no spend, no horizon row) and ``part`` (some models priced)."""
    if "unpriced_models" not in charge.columns:
        return {"whole": [], "part": []}
    named = charge[charge["unpriced_models"].fillna("") != ""].drop_duplicates("team").sort_values("team")
    planned = set(budgets.loc[budgets["period"] == "horizon", "team"])
    rows = [{"team": r.team, "models": r.unpriced_models, "text": unpriced_text(r.unpriced_models)}
            for r in named.itertuples()]
    return {"whole": [r for r in rows if r["team"] not in planned], "part": [r for r in rows if r["team"] in planned]}


def _spend_table(budgets: pd.DataFrame, top: int, unpriced: list[dict[str, str]], horizon_label: str) -> pd.DataFrame:
    """The top teams by horizon spend, the rest added, then each team none of whose usage is priced."""
    horizon = budgets[budgets["period"] == "horizon"].sort_values("spend_p50", ascending=False)
    total = horizon["spend_p50"].sum()
    shown = horizon.head(top)
    column = f"spend over the {horizon_label}"
    rows = [{"team": r.team, column: _band(r.spend_p10, r.spend_p50, r.spend_p90),
             "share of the organisation": percent(r.spend_p50 / total if total else float("nan"))}
            for r in shown.itertuples()]
    rest = horizon.iloc[top:]
    if len(rest):
        rows.append({"team": f"{len(rest)} other teams", column: usd(rest["spend_p50"].sum()),
                     "share of the organisation": percent(rest["spend_p50"].sum() / total if total else float("nan"))})
    rows += [{"team": u["team"], column: f"not priced: {u['text']}", "share of the organisation": "–"}
             for u in unpriced]
    return pd.DataFrame(rows)


def _crossing(day: str, lead, recorded: bool) -> str:
    """A crossing date with its lead time; one the recorded spend had already reached says so, not a lead time."""
    if not isinstance(day, str) or not day:
        return "not crossed"
    return f"{day} (already over: recorded, before the forecast)" if recorded else f"{day} ({int(lead)} days)"


def _at_risk_table(at_risk: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """The teams at risk, each at the budget it crosses first, with every other budget of it at risk."""
    rows = []
    for r in at_risk.itertuples():
        recorded = bool(getattr(r, "crossed_in_recorded", False) == 1)  # a bool, or NaN where not given
        rows.append({
            "team": r.team, "period": _period_label(r.period, first, last), "budget": usd(r.budget_usd),
            "spend": _band(r.spend_p10, r.spend_p50, r.spend_p90), "P(exceed)": chance(r.p_exceed),
            "crossed at P50": _crossing(r.first_crossing_p50, r.lead_days_p50, recorded),
            "crossed at P90": _crossing(r.first_crossing_p90, r.lead_days_p90, recorded),
            "its other budgets at risk": getattr(r, "other_at_risk", "") or "none"})
    return pd.DataFrame(rows)


def _teams_beyond(budgets: pd.DataFrame, shown: pd.DataFrame) -> list[dict[str, Any]]:
    """The teams not in the at-risk table with a budget at risk (``at_risk``), each with how many."""
    risky = budgets[at_risk(budgets) & ~budgets["team"].isin(set(shown["team"]))]
    return [{"team": team, "count": len(rows)} for team, rows in risky.groupby("team", sort=True)]


def _unchecked(budgets: pd.DataFrame) -> list[dict[str, str]]:
    """The budgets the plan has no spend for (outside the forecast, or a team whose models have no price), or only
    part of it (a period that began before the history): ``not_checked`` says why."""
    reason = budgets["not_checked"].fillna("").astype(str) if "not_checked" in budgets.columns else ""
    rows = budgets[budgets["budget_usd"].notna() & (budgets["spend_p50"].isna() | reason.ne(""))]
    reasons = rows["not_checked"].fillna("") if "not_checked" in rows.columns else pd.Series("", index=rows.index)
    return [{"team": r.team, "period": r.period, "usd": usd(r.budget_usd), "reason": reason or "outside the forecast"}
            for r, reason in zip(rows.itertuples(), reasons, strict=True)]


def _capped(payloads: list[dict]) -> list[dict[str, str]]:
    """The LiteLLM budgets lowered to what a longer budget period leaves (``capped_by`` in their metadata)."""
    out = []
    for p in payloads:
        cap = p.get("metadata", {}).get("capped_by")
        if cap:
            out.append({"team": p["team_alias"], "period": p["metadata"]["budget_period"], "usd": usd(p["max_budget"]),
                        "by": cap["period"], "budget": usd(cap["budget_usd"]), "spent": usd(cap["spent_before_usd"])})
    return out


def _without_litellm_budget(budgets: pd.DataFrame, payloads: list[dict]) -> list[str]:
    """The teams with a budget but no LiteLLM payload (none for the payloads' month or a quarter it starts)."""
    budgeted = budgets.loc[budgets["budget_usd"].notna(), "team"]
    return sorted(set(budgeted) - {p["team_alias"] for p in payloads})


def _changes(series: pd.DataFrame, cost_forecast: pd.DataFrame | None,
             migrations: pd.DataFrame | None = None) -> list[dict[str, str]]:
    """New and ended series; an ended one the forecast still prices (it does not know the key was retired)
    with that amount, as the cost tables carry it and the organisation's do not. A model of a migrated traffic
    says so: the newest is forecast on the whole traffic's history, not on its own few weeks."""
    moved = traffic_ids(migrations)
    texts = {"new": "new — first usage {first}, a short history: its forecast rests on few weeks",
             "new_moved": "new — first usage {first}; it took over the traffic of {others} and is forecast with "
                          "them on their whole history (see the summary)",
             "ended_moved": "ended — last usage {last}; its traffic moved to {traffic}, forecast with it",
             "ended": "ended — last usage {last}; no future spend is planned for it",
             "ended_priced": "ended — last usage {last}; the organisation plans no spend for it, but the forecast "
                             "and cost tables above still price {usd} for it over the horizon (P50)"}
    horizon = pd.Series(dtype=float) if cost_forecast is None else \
        cost_forecast[cost_forecast["period"] == "horizon"].set_index("series")["p50"]
    out = []
    for r in series.itertuples():
        priced = r.status == "ended" and horizon.get(r.series, 0.0) > 0.005
        status = "ended_priced" if priced else r.status
        traffic = moved.get(str(r.series))
        if traffic is not None and status in ("new", "ended", "ended_priced"):
            status = "new_moved" if traffic == str(r.series) else "ended_moved"
        others = ", ".join(sorted(s for s, t in moved.items() if t == traffic and s != str(r.series)))
        if status in texts:
            out.append({"series": r.series, "team": r.team, "api_key": r.api_key, "text": texts[status].format(
                first=r.first_usage, last=r.last_usage, usd=usd(horizon.get(r.series, 0.0)), traffic=traffic,
                others=others)})
    return out


def _shared_keys(series: pd.DataFrame, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Keys used by more than one team (unless key names repeat across teams by design), with each team's dates."""
    if params.get("key_names_per_team"):
        return []
    return [{"api_key": key, "count": len(uses),
             "uses": ", ".join(f"{u.team} from {u.first_usage} to {u.last_usage}" for u in uses.itertuples())}
            for key, uses in shared_keys(series).groupby("api_key", sort=True)]


def _chargeback_table(charge: pd.DataFrame, top: int, first: pd.Timestamp, last: pd.Timestamp,
                      unpriced: set[str], history_start: pd.Timestamp | None = None) -> pd.DataFrame:
    """Total charged per team and month (usage + allocated flat costs), the top teams by the first month's; a
    month not wholly forecast says which days are recorded and which forecast, a team none of whose models has
    a price (``unpriced``: ``_unpriced``'s ``whole``) says its usage is not charged. A team with some models
    priced is charged for those and is named under the spend table, not here."""
    wide = charge.pivot_table(index="team", columns="period", values="total_usd", aggfunc="sum")
    wide = wide.sort_values(wide.columns[0], ascending=False)
    shown = wide.head(top)
    rest = wide.iloc[top:]
    if len(rest):
        shown = pd.concat([shown, rest.sum().to_frame(f"{len(rest)} other teams").T])
    shown = shown.rename(index=lambda team: f"{team} (usage not priced)" if team in unpriced else team)
    shown = shown.rename(columns=lambda period: _period_label(period, first, last, history_start))
    return shown.map(usd).rename_axis("team").reset_index()


def _flat_costs(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each flat cost once: its amount and the months it falls in."""
    frame = pd.DataFrame(items, columns=["name", "period", "usd"])
    out = []
    for (name, amount), rows in frame.groupby(["name", "usd"], sort=False):
        periods = sorted(rows["period"])
        out.append({"name": name, "usd": usd(amount),
                    "periods": periods[0] if len(periods) == 1 else "each of " + ", ".join(periods)})
    return out


def render_organisation_section(inputs: OrganisationSectionInputs) -> str:
    """Markdown for the organisation section (a level-2 heading), or "" when the usage has no teams."""
    from tokenplan.reporting.report import _environment

    if inputs.series.empty:
        return ""
    if inputs.forecast.empty:
        return (f"## The organisation: teams, keys and budgets\n\nThe usage has {inputs.series['team'].nunique()} teams but no priced token "
                "counts (requests only, or only models without a price), so there is no spend to add up per team: "
                "no team budgets, crossings or chargeback in this run.")
    top = int(inputs.params["top_teams"])
    scores = inputs.hierarchy_backtest
    rule = inputs.chargeback_rule or {}
    today = str(inputs.forecast["ds"].min().date())
    first, last = inputs.forecast["ds"].min(), inputs.forecast["ds"].max()
    history_start = pd.Timestamp(inputs.series["first_usage"].min())
    unpriced = _unpriced(inputs.chargeback, inputs.team_budgets)
    charge = inputs.chargeback
    recorded_months = sorted(charge.loc[charge.get("recorded_usd", pd.Series(0.0, index=charge.index)) > 0,
                                        "period"].unique())
    context = {
        "lo": "P10", "mid": "P50", "hi": "P90", "top": top,
        "priced_teams": inputs.team_budgets.loc[inputs.team_budgets["period"] == "horizon", "team"].nunique(),
        "teams": inputs.series["team"].nunique(),
        "keys": inputs.series[["team", "api_key"]].drop_duplicates().shape[0],
        "series": len(inputs.series), "plan_method": PLAN_METHOD, **_method_scores(scores),
        "folds": int(scores["folds"].max()) if len(scores) else 0,
        "backtest_table": table(_backtest_table(scores)) if len(scores) else "",
        "narrow_levels": _narrow_levels(scores), "level_coverage": _level_coverage(scores),
        "organisation_table": table(_organisation_table(inputs.team_budgets, today, str(last.date()), history_start)),
        "recorded": bool((inputs.team_budgets["recorded_usd"] > 0).any()),
        "spend_table": table(_spend_table(inputs.team_budgets, top, unpriced["whole"],
                                          _period_label("horizon", first, last))),
        "unpriced_whole": unpriced["whole"], "unpriced_part": unpriced["part"],
        "at_risk_table": table(_at_risk_table(inputs.teams_at_risk, first, last)) if len(inputs.teams_at_risk) else "",
        "at_risk_chance": percent(AT_RISK_CHANCE), "teams_beyond": _teams_beyond(inputs.team_budgets,
                                                                                 inputs.teams_at_risk),
        "today": today,
        "last_day": str(inputs.forecast["ds"].max().date()) if len(inputs.forecast) else "",
        "unchecked": _unchecked(inputs.team_budgets),
        "soft_share": percent(inputs.params["budgets"]["soft_budget_share"]),
        "litellm_month": litellm_month(inputs.forecast["ds"].min()),
        "without_litellm": _without_litellm_budget(inputs.team_budgets, inputs.litellm_team_budgets),
        "changes": _changes(inputs.series, inputs.cost_forecast, inputs.migrations),
        "shared_keys": _shared_keys(inputs.series, inputs.params),
        "flat_costs": _flat_costs(rule.get("flat_costs", [])),
        "rule_text": rule.get("rule_text", ""),
        "chargeback_table": table(_chargeback_table(inputs.chargeback, top, first, last,
                                                    {u["team"] for u in unpriced["whole"]}, history_start)),
        "recorded_months": [f"{m}: {_period_days(m, first, last, history_start)}" for m in recorded_months],
        "capped": _capped(inputs.litellm_team_budgets),
    }
    return _environment().get_template("organisation_section.md.j2").render(**context)
