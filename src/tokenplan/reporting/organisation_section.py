"""The report's organisation section: the organisation's spend, the top teams by spend and by risk, chargeback.

Every number comes from the organisation pipeline's tables (``hierarchy_backtest``,
``organisation_forecast``, ``team_budgets``, ``teams_at_risk``, ``chargeback``,
``organisation_series``); the rest of the teams are in the CSV tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tokenplan.organisation.budgets import litellm_month
from tokenplan.organisation.dimensions import shared_keys
from tokenplan.organisation.hierarchy import PLAN_METHOD, best_method
from tokenplan.reporting.markdown import markdown_table as table
from tokenplan.reporting.number_format import apart, percent, usd

__all__ = ["OrganisationSectionInputs", "render_organisation_section"]


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


def _band(p10: float, p50: float, p90: float) -> str:
    return f"{usd(p50)} ({usd(p10)} – {usd(p90)})"


def _backtest_table(scores: pd.DataFrame) -> pd.DataFrame:
    wide = scores.pivot_table(index="level", columns="method", values="mase", sort=False)
    coverage = scores[scores["chosen"]].set_index("level")["coverage"]
    out = wide.map(lambda v: f"{v:.2f}").reset_index()
    out["coverage (bottom_up, the plan's)"] = out["level"].map(coverage).map(lambda v: percent(v))
    return out.rename(columns={"level": "level (MASE)"})


# A chosen method's daily P10-P90 coverage under this share, at the organisation or team level, is too narrow to
# call the added intervals "slightly wide": two folds of days read 67% at the organisation on the demo.
NARROW_COVERAGE = 0.75


def _narrow_levels(scores: pd.DataFrame) -> list[dict[str, str]]:
    """The organisation and team levels whose added daily intervals held fewer days than ``NARROW_COVERAGE``."""
    if scores.empty:
        return []
    chosen = scores[scores["chosen"] & scores["level"].isin(["organisation", "team"])]
    return [{"level": row.level, "coverage": percent(row.coverage)}
            for row in chosen.itertuples() if pd.notna(row.coverage) and row.coverage < NARROW_COVERAGE]


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


def _organisation_table(budgets: pd.DataFrame, today: str) -> pd.DataFrame:
    """Teams' spend added per period; a period that began before the forecast shows the part recorded in it."""
    checked = budgets[budgets["spend_p50"].notna()]  # a budget the forecast does not reach has no spend
    totals = checked.groupby("period", sort=True)[["spend_p10", "spend_p50", "spend_p90", "recorded_usd"]].sum()
    rows = [{"period": period, "teams' spend added": _band(r.spend_p10, r.spend_p50, r.spend_p90),
             f"recorded before {today}": usd(r.recorded_usd) if r.recorded_usd > 0 else ""}
            for period, r in totals.iterrows()]
    out = pd.DataFrame(rows)
    return out if (totals["recorded_usd"] > 0).any() else out.drop(columns=f"recorded before {today}")


def _spend_table(budgets: pd.DataFrame, top: int) -> pd.DataFrame:
    horizon = budgets[budgets["period"] == "horizon"].sort_values("spend_p50", ascending=False)
    total = horizon["spend_p50"].sum()
    shown = horizon.head(top)
    rows = [{"team": r.team, "horizon spend": _band(r.spend_p10, r.spend_p50, r.spend_p90),
             "share of the organisation": percent(r.spend_p50 / total if total else float("nan"))}
            for r in shown.itertuples()]
    rest = horizon.iloc[top:]
    if len(rest):
        rows.append({"team": f"{len(rest)} other teams", "horizon spend": usd(rest["spend_p50"].sum()),
                     "share of the organisation": percent(rest["spend_p50"].sum() / total if total else float("nan"))})
    return pd.DataFrame(rows)


def _at_risk_table(at_risk: pd.DataFrame) -> pd.DataFrame:
    def crossing(day: str, lead) -> str:
        return "not crossed" if not day else f"{day} ({int(lead)} days)"

    return pd.DataFrame([{
        "team": r.team, "period": r.period, "budget": usd(r.budget_usd),
        "spend": _band(r.spend_p10, r.spend_p50, r.spend_p90), "P(exceed)": percent(r.p_exceed),
        "crossed at P50": crossing(r.first_crossing_p50, r.lead_days_p50),
        "crossed at P90": crossing(r.first_crossing_p90, r.lead_days_p90)} for r in at_risk.itertuples()])


def _unchecked(budgets: pd.DataFrame) -> list[dict[str, str]]:
    """The budgets the forecast does not reach: they keep a row in ``team_budgets`` with no spend."""
    rows = budgets[budgets["budget_usd"].notna() & budgets["spend_p50"].isna()]
    return [{"team": r.team, "period": r.period, "usd": usd(r.budget_usd)} for r in rows.itertuples()]


def _without_litellm_budget(budgets: pd.DataFrame, payloads: list[dict]) -> list[str]:
    """The teams with a budget but no LiteLLM payload (none for the payloads' month or a quarter it starts)."""
    budgeted = budgets.loc[budgets["budget_usd"].notna(), "team"]
    return sorted(set(budgeted) - {p["team_alias"] for p in payloads})


def _changes(series: pd.DataFrame, cost_forecast: pd.DataFrame | None) -> list[dict[str, str]]:
    """New and ended series; an ended one the forecast still prices (it does not know the key was retired)
    with that amount, as the cost tables carry it and the organisation's do not."""
    texts = {"new": "new — first usage {first}, a short history: its forecast rests on few weeks",
             "ended": "ended — last usage {last}; no future spend is planned for it",
             "ended_priced": "ended — last usage {last}; the organisation plans no spend for it, but the forecast "
                             "and cost tables above still price {usd} for it over the horizon (P50)"}
    horizon = pd.Series(dtype=float) if cost_forecast is None else \
        cost_forecast[cost_forecast["period"] == "horizon"].set_index("series")["p50"]
    out = []
    for r in series.itertuples():
        priced = r.status == "ended" and horizon.get(r.series, 0.0) > 0.005
        status = "ended_priced" if priced else r.status
        if status in texts:
            out.append({"series": r.series, "team": r.team, "api_key": r.api_key, "text": texts[status].format(
                first=r.first_usage, last=r.last_usage, usd=usd(horizon.get(r.series, 0.0)))})
    return out


def _shared_keys(series: pd.DataFrame, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Keys used by more than one team (unless key names repeat across teams by design), with each team's dates."""
    if params.get("key_names_per_team"):
        return []
    return [{"api_key": key, "count": len(uses),
             "uses": ", ".join(f"{u.team} from {u.first_usage} to {u.last_usage}" for u in uses.itertuples())}
            for key, uses in shared_keys(series).groupby("api_key", sort=True)]


def _chargeback_table(charge: pd.DataFrame, top: int) -> pd.DataFrame:
    """Total charged per team and month (usage + allocated flat costs), the top teams by the first month's."""
    wide = charge.pivot_table(index="team", columns="period", values="total_usd", aggfunc="sum")
    wide = wide.sort_values(wide.columns[0], ascending=False)
    shown = wide.head(top)
    rest = wide.iloc[top:]
    if len(rest):
        shown = pd.concat([shown, rest.sum().to_frame(f"{len(rest)} other teams").T])
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
    context = {
        "lo": "P10", "mid": "P50", "hi": "P90", "top": top,
        "teams": inputs.series["team"].nunique(),
        "keys": inputs.series[["team", "api_key"]].drop_duplicates().shape[0],
        "series": len(inputs.series), "plan_method": PLAN_METHOD, **_method_scores(scores),
        "folds": int(scores["folds"].max()) if len(scores) else 0,
        "backtest_table": table(_backtest_table(scores)) if len(scores) else "",
        "narrow_levels": _narrow_levels(scores),
        "organisation_table": table(_organisation_table(inputs.team_budgets, today)),
        "recorded": bool((inputs.team_budgets["recorded_usd"] > 0).any()),
        "spend_table": table(_spend_table(inputs.team_budgets, top)),
        "at_risk_table": table(_at_risk_table(inputs.teams_at_risk)) if len(inputs.teams_at_risk) else "",
        "today": today,
        "last_day": str(inputs.forecast["ds"].max().date()) if len(inputs.forecast) else "",
        "unchecked": _unchecked(inputs.team_budgets),
        "soft_share": percent(inputs.params["budgets"]["soft_budget_share"]),
        "litellm_month": litellm_month(inputs.forecast["ds"].min()),
        "without_litellm": _without_litellm_budget(inputs.team_budgets, inputs.litellm_team_budgets),
        "changes": _changes(inputs.series, inputs.cost_forecast),
        "shared_keys": _shared_keys(inputs.series, inputs.params),
        "flat_costs": _flat_costs(rule.get("flat_costs", [])),
        "rule_text": rule.get("rule_text", ""),
        "chargeback_table": table(_chargeback_table(inputs.chargeback, top)),
    }
    return _environment().get_template("organisation_section.md.j2").render(**context)
