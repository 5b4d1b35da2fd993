"""Team budgets: the budgets file, each team's spend against it, the dates it is crossed, LiteLLM team budgets.

Budgets file: ``team, period, usd``; ``period`` is a month (``2026-11``) or a quarter
(``2026-Q4``). A monthly budget is compared with that month's spend; a quarterly one with
the whole horizon's (the ``horizon`` row), where the horizon lies in that quarter.

Spend per team and period: P10, P50 and P90 add the team's series' period costs
(``cost_forecast``, whose intervals come from backtested total errors: members are
taken to move together, the convention of every cost table in the plan), scaled by the
team's reconciled daily P50 over its series' P50 (1 with bottom-up reconciliation), plus
any spend already recorded in the period before the forecast starts. So a team's months
and horizon agree with the cost table's (the horizon's total has its own backtested
bias, so it is not exactly the months' sum, in either table). The probability of
exceeding a budget reads the budget on a lognormal through P50 and the P10 or P90 side
the budget lies on.

Crossing dates: the first day the cumulative spend path from the period's start
reaches the budget, on the P50 path and on the P90 path (the daily P50 plan scaled to
end on the period's P50 and P90 respectively).
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pandera.pandas as pa
from scipy.stats import norm

from tokenplan.schemas import InvalidInputError, _check, first_line_of, require_columns, where

__all__ = ["BUDGET_COLUMNS", "BUDGET_PATH_COLUMNS", "TEAM_BUDGET_COLUMNS", "budget_paths", "litellm_team_budgets",
           "team_budgets", "teams_at_risk", "validate_budgets"]

BUDGET_COLUMNS = ("team", "period", "usd")
TEAM_BUDGET_COLUMNS = ["team", "period", "spend_p10", "spend_p50", "spend_p90", "budget_usd", "p_exceed",
                       "first_crossing_p50", "first_crossing_p90"]
BUDGET_PATH_COLUMNS = ["team", "period", "ds", "cumulative_p50", "cumulative_p90", "budget_usd"]
_PERIOD = r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$"
_Z90 = float(norm.ppf(0.9))

_BUDGETS_SCHEMA = pa.DataFrameSchema(
    {
        "team": pa.Column(str, checks=pa.Check.str_length(min_value=1)),
        "period": pa.Column(str, checks=pa.Check.str_matches(_PERIOD, error="a month YYYY-MM or a quarter YYYY-Qn")),
        "usd": pa.Column(float, checks=pa.Check.ge(0), coerce=True),
    },
    strict=False,
)


def validate_budgets(raw: pd.DataFrame, source: str = "budgets") -> pd.DataFrame:
    """The budgets file, checked: a team, a month or quarter, USD >= 0, one row per team and period."""
    require_columns(raw, BUDGET_COLUMNS, source)
    if raw.empty:
        return pd.DataFrame({"team": pd.Series(dtype=str), "period": pd.Series(dtype=str),
                             "usd": pd.Series(dtype=float)})
    table = raw[list(BUDGET_COLUMNS)].reset_index(drop=True).copy()
    first_line = first_line_of(raw)
    table["team"] = table["team"].astype("string").str.strip().astype(object)
    table["period"] = table["period"].astype("string").str.strip().str.upper().astype(object)
    numeric = pd.to_numeric(table["usd"], errors="coerce")
    bad = numeric.isna()
    if bad.any():
        rows = list(table.index[bad])[:5]
        raise InvalidInputError(f"{source}: column 'usd' has invalid values at {where(rows, first_line)}: "
                                f"{table.loc[rows, 'usd'].tolist()} (not a number of US dollars)")
    table["usd"] = numeric
    table = _check(_BUDGETS_SCHEMA, table, source, first_line)
    repeated = table.duplicated(["team", "period"], keep=False)
    if repeated.any():
        rows = list(table.index[repeated])[:5]
        raise InvalidInputError(f"{source}: {where(rows, first_line)} repeat a team and period "
                                f"({table.loc[rows, ['team', 'period']].to_dict('records')}): keep one row each")
    return table


def _quarter(period: str) -> str:
    return str(pd.Period(period, freq="M").asfreq("Q")).replace("Q", "-Q")


def _budget_for(budgets: pd.DataFrame, team: str, period: str, horizon_quarter: str | None) -> float:
    rows = budgets[budgets["team"] == team]
    key = horizon_quarter if period == "horizon" else period
    hit = rows[rows["period"] == key]
    return float(hit["usd"].iloc[0]) if len(hit) else float("nan")


def _p_exceed(p10: float, p50: float, p90: float, budget: float) -> float:
    if not np.isfinite(budget) or p50 <= 0:
        return float("nan")
    if budget <= 0:
        return 1.0
    upper = budget >= p50
    bound = p90 if upper else p10
    if bound <= 0 or bound == p50:
        return float(p50 > budget)
    sigma = abs(np.log(bound / p50)) / _Z90
    return float(1.0 - norm.cdf((np.log(budget) - np.log(p50)) / sigma))


def _first_crossing(days: pd.Series, cumulative: np.ndarray, budget: float) -> str:
    if not np.isfinite(budget):
        return ""
    hit = np.flatnonzero(cumulative >= budget)
    return "" if hit.size == 0 else pd.Timestamp(days.iloc[hit[0]]).strftime("%Y-%m-%d")


def _period_spend(daily_p50: np.ndarray, members: pd.DataFrame, months: list[str], period: str,
                  before: float) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """(P10, P50, P90, cumulative P50 path, cumulative P90 path) of one team's period, in USD.

    ``members``: the team's series' costs added, by period. The daily plan was scaled to
    the members' monthly P50 (``months``); the period's own total may differ (the
    horizon's has its own backtested bias), and the paths end on the period's P50 and P90.
    """
    spent = float(daily_p50.sum())
    months_p50 = float(members.loc[members.index.isin(months), "p50"].sum())
    own = members.loc[period] if period in members.index else None
    reconciled = spent / months_p50 if months_p50 > 0 else 1.0  # 1 with bottom-up reconciliation
    if own is None or spent <= 0:
        total = before + spent
        path = before + np.cumsum(daily_p50)
        return total, total, total, path, path
    p10, p50, p90 = (before + float(own[q]) * reconciled for q in ("p10", "p50", "p90"))
    cumulative = np.cumsum(daily_p50) / spent
    return p10, p50, p90, before + cumulative * (p50 - before), before + cumulative * (p90 - before)


def _team_periods(team_daily: pd.DataFrame, team_periods: pd.DataFrame, actual_daily: pd.DataFrame,
                  budgets: pd.DataFrame):
    """Per team and period (forecast months, then ``horizon``): its days, P10/P50/P90, budget and paths."""
    start = team_daily["ds"].min()
    months = sorted(team_daily["ds"].dt.to_period("M").astype(str).unique())
    horizon_quarters = {_quarter(m) for m in months}
    horizon_quarter = horizon_quarters.pop() if len(horizon_quarters) == 1 else None
    for team, days in team_daily.groupby("team", sort=True):
        days = days.sort_values("ds")
        recorded = actual_daily[actual_daily["team"] == team]
        members = team_periods[team_periods["team"] == team].set_index("period")
        for period in [*months, "horizon"]:
            if period == "horizon":
                period_start = (pd.Period(horizon_quarter.replace("-Q", "Q"), freq="Q").start_time
                                if horizon_quarter else start)
                in_period = days
            else:
                period_start = pd.Period(period, freq="M").start_time
                in_period = days[days["ds"].dt.to_period("M").astype(str) == period]
            before = float(recorded[(recorded["ds"] >= period_start) & (recorded["ds"] < start)]["usd"].sum())
            p10, p50, p90, path, path90 = _period_spend(in_period["p50"].to_numpy(), members,
                                                        months if period == "horizon" else [period], period, before)
            yield {"team": team, "period": period, "days": in_period["ds"], "p10": p10, "p50": p50, "p90": p90,
                   "budget": _budget_for(budgets, str(team), period, horizon_quarter), "path": path,
                   "path90": path90}


def team_budgets(team_daily: pd.DataFrame, team_periods: pd.DataFrame, actual_daily: pd.DataFrame,
                 budgets: pd.DataFrame) -> pd.DataFrame:
    """The ``team_budgets`` table (``TEAM_BUDGET_COLUMNS``), one row per team and forecast month plus ``horizon``.

    ``team_daily``: team, ds, p50 (reconciled USD per day); ``team_periods``: team,
    period, p10, p50, p90 (members' period costs, added); ``actual_daily``: team, ds,
    usd (recorded spend, for the part of a period before the forecast starts).
    """
    rows = [{"team": p["team"], "period": p["period"], "spend_p10": p["p10"], "spend_p50": p["p50"],
             "spend_p90": p["p90"], "budget_usd": p["budget"],
             "p_exceed": _p_exceed(p["p10"], p["p50"], p["p90"], p["budget"]),
             "first_crossing_p50": _first_crossing(p["days"], p["path"], p["budget"]),
             "first_crossing_p90": _first_crossing(p["days"], p["path90"], p["budget"])}
            for p in _team_periods(team_daily, team_periods, actual_daily, budgets)]
    return pd.DataFrame(rows, columns=TEAM_BUDGET_COLUMNS)


def budget_paths(team_daily: pd.DataFrame, team_periods: pd.DataFrame, actual_daily: pd.DataFrame,
                 budgets: pd.DataFrame) -> pd.DataFrame:
    """The cumulative spend paths behind the crossing dates: ``team, period, ds, cumulative_p50,
    cumulative_p90, budget_usd`` for every budgeted team and period (inputs as ``team_budgets``)."""
    parts = [pd.DataFrame({"team": p["team"], "period": p["period"], "ds": p["days"].to_numpy(),
                           "cumulative_p50": p["path"], "cumulative_p90": p["path90"], "budget_usd": p["budget"]})
             for p in _team_periods(team_daily, team_periods, actual_daily, budgets) if np.isfinite(p["budget"])]
    if not parts:
        return pd.DataFrame(columns=BUDGET_PATH_COLUMNS)
    return pd.concat(parts, ignore_index=True)[BUDGET_PATH_COLUMNS]


def teams_at_risk(table: pd.DataFrame, today: pd.Timestamp, top: int) -> pd.DataFrame:
    """The ``top`` teams most likely to exceed a budget: highest P(exceed), then P50 over budget.

    Each team's riskiest budgeted period, with the lead time (days from ``today``) to its
    first crossing at P90 and at P50.
    """
    budgeted = table[table["budget_usd"].notna()].copy()
    if budgeted.empty:
        return budgeted.assign(p50_over_budget=[], lead_days_p50=[], lead_days_p90=[])
    budgeted["p50_over_budget"] = budgeted["spend_p50"] / budgeted["budget_usd"].replace(0, np.nan)
    riskiest = budgeted.sort_values(["p_exceed", "p50_over_budget"], ascending=False).drop_duplicates("team")
    for quantile in ("p50", "p90"):
        crossing = pd.to_datetime(riskiest[f"first_crossing_{quantile}"].replace("", None))
        riskiest[f"lead_days_{quantile}"] = (crossing - today).dt.days.astype("Int64")
    return riskiest.head(top).reset_index(drop=True)


def litellm_team_budgets(budgets: pd.DataFrame, next_month: str, soft_share: float) -> list[dict]:
    """LiteLLM ``/team/new`` payloads (``NewTeamRequest``): each team's budget for ``next_month``
    (else its quarter's), with the soft budget at ``soft_share`` of it and the matching duration."""
    quarter = _quarter(next_month)
    payloads = []
    for team, rows in budgets.groupby("team", sort=True):
        monthly = rows[rows["period"] == next_month]
        chosen, duration = (monthly, "1mo") if len(monthly) else (rows[rows["period"] == quarter], "3mo")
        if chosen.empty:
            continue
        usd = float(chosen["usd"].iloc[0])
        payloads.append({"team_alias": str(team), "max_budget": round(usd, 2),
                         "soft_budget": round(usd * soft_share, 2), "budget_duration": duration,
                         "metadata": {"budget_period": str(chosen["period"].iloc[0]),
                                      "written_by": "tokenplan"}})
    return payloads


