"""Team budgets: the budgets file, each team's spend against it, the dates it is crossed, LiteLLM team budgets.

Budgets file: ``team, period, usd``; ``period`` is a month (``2026-11``) or a quarter
(``2026-Q4``). Each budget is compared with its period's spend: what was recorded in the
period before the forecast starts plus the forecast's days in it. Every team gets a row
per forecast month, per calendar quarter the forecast touches (a horizon from mid-August
touches Q3 and Q4) and for the whole ``horizon`` (forecast days only, no budget). A budget
whose period the forecast does not reach (over before it starts, or after it ends) keeps
a row with no spend: it is not checked, and the log and the report say so, as for a team
none of whose models has a price (the plan has no spend for it); ``not_checked`` says why.

Spend per team and period: P10, P50 and P90 add the team's series' period costs
(``cost_forecast``, whose intervals come from backtested total errors: members are
taken to move together, the convention of every cost table in the plan), scaled by the
team's daily P50 over its series' P50 (1: every level adds up its series), plus
any spend already recorded in the period before the forecast starts. So a team's months
and horizon agree with the cost table's (the horizon's total has its own backtested
bias, so it is not exactly the months' sum, in either table). A quarter holding every
forecast month takes the horizon's interval; one holding only some adds its months' (the
cost table has no quarter of its own: months taken to move together, as members are, so
the interval is the widest the months allow, wider than independent months' would be). The probability of
exceeding a budget reads the budget on a lognormal through P50 and the P10 or P90 side
the budget lies on.

Crossing dates: the first day the cumulative spend path from the period's start
reaches the budget, on the P50 path and on the P90 path (the daily P50 plan scaled to
end on the period's P50 and P90 respectively). A budget the spend recorded in its period
had already reached before the forecast starts is no forecast crossing: both dates are the
recorded day it was reached, ``crossed_in_recorded`` is true and ``p_exceed`` is 1 (a
November budget of $300 with $332 recorded by November 11 reads as crossed on November 11,
recorded, not on the forecast's first day).

LiteLLM team budgets are written for one month (or a quarter from its first month): the
gateway's cap for a month is at most what every budget period containing it leaves, its
budget less the spend in it before the month (recorded, then the plan's P50). A December
budget of $15,000 under a Q4 budget of $40,000 of which $28,400 is spent by November 30
(recorded to November 16, the plan's P50 after) is written as $11,600, and the payload's
metadata names the quarter that capped it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
from scipy.stats import norm

from tokenplan.ingestion.number_format import read_numbers
from tokenplan.organisation.dimensions import unpriced_text
from tokenplan.schemas import InvalidInputError, _check, _fail, first_line_of, require_columns, where
from tokenplan.reporting.number_format import chance, usd

__all__ = ["AT_RISK_CHANCE", "AT_RISK_EXTRA_COLUMNS", "BUDGET_COLUMNS", "BUDGET_PATH_COLUMNS", "TEAM_BUDGET_COLUMNS",
           "at_risk", "budget_paths", "litellm_month", "litellm_team_budgets", "spend_to_date", "team_budgets",
           "teams_at_risk", "unchecked_budgets", "validate_budgets"]

BUDGET_COLUMNS = ("team", "period", "usd")
TEAM_BUDGET_COLUMNS = ["team", "period", "spend_p10", "spend_p50", "spend_p90", "recorded_usd", "budget_usd",
                       "p_exceed", "first_crossing_p50", "first_crossing_p90", "crossed_in_recorded", "not_checked"]
BUDGET_PATH_COLUMNS = ["team", "period", "ds", "cumulative_p50", "cumulative_p90", "budget_usd"]
_PERIOD = r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$"
_Z90 = float(norm.ppf(0.9))
# The columns ``teams_at_risk`` adds to ``team_budgets``'.
AT_RISK_EXTRA_COLUMNS = ["p50_over_budget", "lead_days_p50", "lead_days_p90", "earlier_at_risk", "other_at_risk",
                         "other_at_risk_count"]
# A budget is at risk when it is at least this likely to be exceeded, or crossed on the P50 path.
AT_RISK_CHANCE = 0.5

_BUDGETS_SCHEMA = pa.DataFrameSchema(
    {
        "team": pa.Column(str, checks=pa.Check.str_length(min_value=1)),
        "period": pa.Column(str, checks=pa.Check.str_matches(_PERIOD, error="a month YYYY-MM or a quarter YYYY-Qn")),
        "usd": pa.Column(float, checks=pa.Check.ge(0), coerce=True),
    },
    strict=False,
)


def validate_budgets(raw: pd.DataFrame, source: str = "budgets", teams: list[str] | None = None) -> pd.DataFrame:
    """The budgets file, checked: a team, a month or quarter, a finite USD >= 0, one row per team and period;
    with ``teams`` (the teams with usage), every budget's team among them."""
    require_columns(raw, BUDGET_COLUMNS, source)
    if raw.empty:
        return pd.DataFrame({"team": pd.Series(dtype=str), "period": pd.Series(dtype=str),
                             "usd": pd.Series(dtype=float)})
    table = raw[list(BUDGET_COLUMNS)].reset_index(drop=True).copy()
    first_line = first_line_of(raw)
    table["team"] = table["team"].astype("string").str.strip().astype(object)
    table["period"] = table["period"].astype("string").str.strip().str.upper().astype(object)
    # As a spreadsheet writes it ("3,000"), the way usage files' counts are read (a decimal point).
    numeric = read_numbers(table["usd"].astype(object).where(table["usd"].notna(), None), ".")
    # An infinite budget parses as a number but is no budget (LiteLLM's max_budget would be invalid JSON).
    for bad, why in ((numeric.isna(), "not a number"), (np.isinf(numeric), "not a finite number")):
        if bad.any():
            rows = list(table.index[bad])[:5]
            raise _fail(source, "usd", rows, table.loc[rows, "usd"].tolist(), f"{why} of US dollars", first_line)
    table["usd"] = numeric
    table = _check(_BUDGETS_SCHEMA, table, source, first_line)
    repeated = table.duplicated(["team", "period"], keep=False)
    if repeated.any():
        rows = list(table.index[repeated])[:5]
        raise InvalidInputError(f"{source}: {where(rows, first_line)} repeat a team and period "
                                f"({table.loc[rows, ['team', 'period']].to_dict('records')}): keep one row each")
    if teams is not None:
        _require_known_teams(table, sorted(set(teams)), source, first_line)
    return table


def _require_known_teams(table: pd.DataFrame, teams: list[str], source: str, first_line: int | None) -> None:
    unknown = ~table["team"].isin(teams)
    if unknown.any():
        rows = list(table.index[unknown])[:5]
        raise InvalidInputError(f"{source}: column 'team' names teams with no usage at {where(rows, first_line)}: "
                                f"{table.loc[rows, 'team'].tolist()} (teams: {teams})")


def _quarter(period: str) -> str:
    return str(pd.Period(period, freq="M").asfreq("Q")).replace("Q", "-Q")


def _span(period: str) -> pd.Period:
    """A budget period (``2026-11`` or ``2026-Q4``) as a pandas period, for its first and last day."""
    return pd.Period(period.replace("-Q", "Q"), freq="Q" if "-Q" in period else "M")


def _days(period: str) -> int:
    """The number of days in a budget period (a month or a quarter)."""
    span = _span(period)
    return (span.end_time.normalize() - span.start_time).days + 1


def _budget_for(budgets: pd.DataFrame, team: str, period: str) -> float:
    hit = budgets[(budgets["team"] == team) & (budgets["period"] == period)]
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


def _period_spend(daily_p50: np.ndarray, own: pd.Series | None, months_p50: float,
                  before: float) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """(P10, P50, P90, cumulative P50 path, cumulative P90 path) of one team's period, in USD.

    ``own``: the team's series' P10/P50/P90 for the period, added (None: none forecast).
    The daily plan was scaled to the members' monthly P50 (``months_p50``, the months the
    period's days fall in); the period's own total may differ (the horizon's has its own
    backtested bias), and the paths end on the period's P50 and P90.
    """
    spent = float(daily_p50.sum())
    reconciled = spent / months_p50 if months_p50 > 0 else 1.0  # 1: every level adds up its series
    if own is None or spent <= 0:
        total = before + spent
        path = before + np.cumsum(daily_p50)
        return total, total, total, path, path
    p10, p50, p90 = (before + float(own[q]) * reconciled for q in ("p10", "p50", "p90"))
    cumulative = np.cumsum(daily_p50) / spent
    return p10, p50, p90, before + cumulative * (p50 - before), before + cumulative * (p90 - before)


def _quarters(months: list[str]) -> dict[str, list[str]]:
    """Each calendar quarter the forecast months touch, with those of its months."""
    quarters: dict[str, list[str]] = {}
    for month in months:
        quarters.setdefault(_quarter(month), []).append(month)
    return quarters


def _own_total(members: pd.DataFrame, period: str, months: list[str], all_months: list[str]) -> pd.Series | None:
    """The team's series' period costs added: the cost table's own row for a month or the horizon; for a
    quarter, the horizon's when it holds every forecast month, else its months' added (the cost table
    has no quarter row)."""
    if period in members.index:
        return members.loc[period]
    if months == all_months and "horizon" in members.index:
        return members.loc["horizon"]
    present = members.loc[members.index.isin(months), ["p10", "p50", "p90"]]
    return present.sum() if len(present) else None


def _team_periods(team_daily: pd.DataFrame, team_periods: pd.DataFrame, actual_daily: pd.DataFrame,
                  budgets: pd.DataFrame):
    """Per team and period (forecast months, quarters, then ``horizon``): its days, P10/P50/P90, budget and paths.

    A month's or quarter's spend adds what was recorded in it before the forecast starts;
    the horizon is the forecast's days only.
    """
    start = team_daily["ds"].min()
    history_start = actual_daily["ds"].min() if len(actual_daily) else start
    months = sorted(team_daily["ds"].dt.to_period("M").astype(str).unique())
    periods = {**{m: [m] for m in months}, **_quarters(months), "horizon": months}
    for team, days in team_daily.groupby("team", sort=True):
        days = days.sort_values("ds")
        recorded = actual_daily[actual_daily["team"] == team]
        members = team_periods[team_periods["team"] == team].set_index("period")
        day_months = days["ds"].dt.to_period("M").astype(str)
        for period, in_months in periods.items():
            in_period = days[day_months.isin(in_months)]
            period_start = start if period == "horizon" else _span(period).start_time
            in_recorded = recorded[(recorded["ds"] >= period_start) & (recorded["ds"] < start)].sort_values("ds")
            before = float(in_recorded["usd"].sum())
            months_p50 = float(members.loc[members.index.isin(in_months), "p50"].sum())
            p10, p50, p90, path, path90 = _period_spend(in_period["p50"].to_numpy(),
                                                        _own_total(members, period, in_months, months),
                                                        months_p50, before)
            budget = float("nan") if period == "horizon" else _budget_for(budgets, str(team), period)
            yield {"team": team, "period": period, "days": in_period["ds"], "p10": p10, "p50": p50, "p90": p90,
                   "recorded": before, "budget": budget, "path": path, "path90": path90,
                   "unknown_before": history_start if period_start < min(history_start, start) else None,
                   "recorded_crossing": _first_crossing(in_recorded["ds"], in_recorded["usd"].cumsum().to_numpy(),
                                                        budget)}


def unchecked_budgets(budgets: pd.DataFrame, first_day: pd.Timestamp, last_day: pd.Timestamp,
                      unpriced: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The budgets the plan has no spend for: ``team, period, usd, reason``; they are not checked.

    Reasons: the period is outside the forecast (``first_day`` to ``last_day``: ``ended before
    the forecast`` or ``after the forecast``), or the team is in ``unpriced`` (team -> its
    models, none with a price): ``its model m has no price``.
    """
    unpriced = unpriced or {}
    spans = [_span(p) for p in budgets["period"]]
    ended = np.array([s.end_time < first_day for s in spans], dtype=bool)
    later = np.array([s.start_time > last_day for s in spans], dtype=bool)
    no_price = budgets["team"].isin(list(unpriced)).to_numpy()
    out = budgets.loc[ended | later | no_price, ["team", "period", "usd"]].copy()
    out["reason"] = np.where(ended[ended | later | no_price], "ended before the forecast", "after the forecast")
    priced_out = out["team"].isin(list(unpriced))
    out.loc[priced_out, "reason"] = [unpriced_text(unpriced[t]) for t in out.loc[priced_out, "team"]]
    return out.reset_index(drop=True)


def _checked_row(p: dict) -> dict:
    """One ``team_budgets`` row of a period the plan has spend for; a budget the recorded spend had already
    reached is crossed on that recorded day at P50 and P90, with ``crossed_in_recorded`` and a chance of 1. A
    budget whose period began before the history (``unknown_before``: its first day) is not checked: its spend
    before then is unknown (a review's Q3 budget, the history from July 18, had been checked against spend
    recorded from July 18 alone, about $36K short)."""
    spend = {"team": p["team"], "period": p["period"], "spend_p10": p["p10"], "spend_p50": p["p50"],
             "spend_p90": p["p90"], "recorded_usd": p["recorded"], "budget_usd": p["budget"]}
    if p["unknown_before"] is not None and np.isfinite(p["budget"]):
        first = pd.Timestamp(p["unknown_before"])
        return {**spend, "p_exceed": np.nan, "first_crossing_p50": "", "first_crossing_p90": "",
                "crossed_in_recorded": False,
                "not_checked": f"the history starts {first:%Y-%m-%d}, after the period's first day: its spend "
                               "before then is not in the plan"}
    recorded_day = p["recorded_crossing"]
    crossings = {"first_crossing_p50": recorded_day, "first_crossing_p90": recorded_day} if recorded_day else {
        "first_crossing_p50": _first_crossing(p["days"], p["path"], p["budget"]),
        "first_crossing_p90": _first_crossing(p["days"], p["path90"], p["budget"])}
    return {**spend, "p_exceed": 1.0 if recorded_day else _p_exceed(p["p10"], p["p50"], p["p90"], p["budget"]),
            **crossings, "crossed_in_recorded": bool(recorded_day), "not_checked": ""}


def team_budgets(team_daily: pd.DataFrame, team_periods: pd.DataFrame, actual_daily: pd.DataFrame,
                 budgets: pd.DataFrame, unpriced: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The ``team_budgets`` table (``TEAM_BUDGET_COLUMNS``): per team, each forecast month, each quarter the
    forecast touches and ``horizon``, then each budget the plan has no spend for (not checked, ``not_checked``
    says why: see ``unchecked_budgets``). ``recorded_usd``: the part of the spend recorded in the period before
    the forecast starts (0 for a period the forecast starts at, and for ``horizon``); ``crossed_in_recorded``: that
    recorded part alone had reached the budget, on the day both crossing columns give (before the forecast).

    ``team_daily``: team, ds, p50 (its series added up, USD per day); ``team_periods``: team,
    period, p10, p50, p90 (members' period costs, added); ``actual_daily``: team, ds,
    usd (recorded spend, for the part of a period before the forecast starts);
    ``unpriced``: teams none of whose models has a price (team -> models).
    """
    rows = [_checked_row(p) for p in _team_periods(team_daily, team_periods, actual_daily, budgets)]
    unchecked = unchecked_budgets(budgets, team_daily["ds"].min(), team_daily["ds"].max(), unpriced)
    rows += [_past_row(u, actual_daily) for u in unchecked.sort_values(["team", "period"]).itertuples()]
    return pd.DataFrame(rows, columns=TEAM_BUDGET_COLUMNS)


def _past_row(u, actual_daily: pd.DataFrame) -> dict:
    """A ``team_budgets`` row of a budget the plan has no spend for. One that ended before the forecast, whose
    period the recorded spend covers from its first day, is checked against that spend: ``recorded_usd``, and
    where it reached the budget the recorded day (``crossed_in_recorded``; a month's $1,500 budget with $2,164
    recorded read only "not checked: ended before the forecast")."""
    row = {"team": u.team, "period": u.period, "spend_p10": np.nan, "spend_p50": np.nan, "spend_p90": np.nan,
           "recorded_usd": np.nan, "budget_usd": u.usd, "p_exceed": np.nan, "first_crossing_p50": "",
           "first_crossing_p90": "", "crossed_in_recorded": False, "not_checked": u.reason}
    team = actual_daily[actual_daily["team"] == u.team] if len(actual_daily) else actual_daily
    span = _span(u.period)
    if u.reason != "ended before the forecast" or team.empty or pd.Timestamp(team["ds"].min()) > span.start_time:
        return row
    spent = team[(team["ds"] >= span.start_time) & (team["ds"] <= span.end_time)].sort_values("ds")
    total = float(spent["usd"].sum())
    crossed = _first_crossing(spent["ds"], spent["usd"].cumsum().to_numpy(), float(u.usd))
    over = f", over from {crossed} (by {usd(total - u.usd)})" if crossed else ""
    return {**row, "recorded_usd": total, "first_crossing_p50": crossed, "first_crossing_p90": crossed,
            "crossed_in_recorded": bool(crossed),
            "not_checked": f"ended before the forecast: recorded {usd(total)} against {usd(u.usd)}{over}"}


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


def _crossing_day(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column.replace("", None))


def teams_at_risk(table: pd.DataFrame, today: pd.Timestamp, top: int) -> pd.DataFrame:
    """The ``top`` teams most likely to exceed a budget, each at the first budget it crosses.

    Teams rank by their riskiest budgeted period (highest P(exceed), then P50 over budget).
    Each team's row is the period whose budget is crossed first, since that crossing is the
    one a planner must act on: the earliest crossing at P50, else (no period crossed at
    P50) the earliest at P90, else the riskiest period. Lead times: days from ``today`` to
    that period's crossings at P50 and at P90. ``earlier_at_risk`` names the periods before it
    whose budget is crossed at P90 (a chance of 1 in 10 or more), with how likely each is over:
    a team shown at December's P50 crossing 82 days out was 49% likely over in November and
    23% in October, and read as 82 days to act. ``other_at_risk`` lists every other budget of the team at risk
    (``AT_RISK_CHANCE`` or more likely over, or crossed at P50), with its budget, P50 spend and chance, and
    ``other_at_risk_count`` counts them: a December budget crossed at P50 the same day as the Q4 budget shown is
    not dropped. A budget the recorded spend had already reached is crossed on that recorded day (before
    ``today``: a negative lead time) and is the first crossing.
    """
    budgeted = table[table["budget_usd"].notna() & table["spend_p50"].notna()].copy()  # checked budgets only
    if budgeted.empty:
        return budgeted.assign(**{column: [] for column in AT_RISK_EXTRA_COLUMNS})
    budgeted["p50_over_budget"] = budgeted["spend_p50"] / budgeted["budget_usd"].replace(0, np.nan)
    ranked = budgeted.sort_values(["p_exceed", "p50_over_budget"], ascending=False)
    order = ranked.drop_duplicates("team")["team"].tolist()
    crossings = ranked.assign(_p50=_crossing_day(ranked["first_crossing_p50"]),
                              _p90=_crossing_day(ranked["first_crossing_p90"]))
    first = crossings.sort_values(["_p50", "_p90"], kind="stable").drop_duplicates("team")  # no crossing sorts last
    first = first.set_index("team").loc[order].reset_index().drop(columns=["_p50", "_p90"])
    for quantile in ("p50", "p90"):
        first[f"lead_days_{quantile}"] = (_crossing_day(first[f"first_crossing_{quantile}"]) - today).dt.days.astype(
            "Int64")
    first["earlier_at_risk"] = [_earlier_at_risk(crossings[crossings["team"] == team], period)
                                for team, period in zip(first["team"], first["period"], strict=True)]
    others = [_other_at_risk(crossings[crossings["team"] == team], period)
              for team, period in zip(first["team"], first["period"], strict=True)]
    first["other_at_risk"] = ["; ".join(texts) for texts in others]
    first["other_at_risk_count"] = [len(texts) for texts in others]
    return first.head(top)


def _earlier_at_risk(rows: pd.DataFrame, period: str) -> str:
    """``2026-10: 23% likely over, crossed at P90 on 2026-10-30; ...`` for ``rows``' periods crossed at P90 before
    ``period``'s own crossing (the team's rows of ``crossings``), earliest first; "" where none is."""
    own = rows.loc[rows["period"] == period, ["_p50", "_p90"]].min(axis=1).min()
    before = rows[rows["_p90"].notna() & (rows["period"] != period)]
    if pd.notna(own):
        before = before[before["_p90"] < own]
    return "; ".join(f"{period}: {chance(p_exceed)} likely over, crossed at P90 on {day:%Y-%m-%d}"
                     for period, p_exceed, day in before.sort_values("_p90")[["period", "p_exceed", "_p90"]].to_numpy())


def at_risk(table: pd.DataFrame) -> pd.Series:
    """Which checked budgets of ``team_budgets`` are at risk: ``AT_RISK_CHANCE`` or more likely over, or crossed
    on the P50 path (a recorded crossing included)."""
    crossed = table["first_crossing_p50"].fillna("").astype(str) != ""
    return table["budget_usd"].notna() & table["spend_p50"].notna() & ((table["p_exceed"] >= AT_RISK_CHANCE) | crossed)


def _is_true(value) -> bool:
    """True for a true boolean only (a missing ``crossed_in_recorded`` is NaN, which is truthy)."""
    return isinstance(value, bool | np.bool_) and bool(value)


def _other_at_risk(rows: pd.DataFrame, period: str) -> list[str]:
    """``2026-12: budget $3,000, P50 $3,425, >99% likely over, crossed at P50 on 2026-12-28`` for each of the
    team's budgets at risk (``rows``: its rows of ``crossings``) other than ``period``'s, earliest crossing first."""
    risky = rows[at_risk(rows) & (rows["period"] != period)].sort_values(["_p50", "_p90"], kind="stable")
    out = []
    for r in risky.itertuples():
        if _is_true(getattr(r, "crossed_in_recorded", False)):
            when = f", already over: crossed on {r.first_crossing_p50} in the recorded spend"
        else:
            when = f", crossed at P50 on {r.first_crossing_p50}" if r.first_crossing_p50 else ""
        out.append(f"{r.period}: budget {usd(r.budget_usd)}, P50 {usd(r.spend_p50)}, {chance(r.p_exceed)} likely "
                   f"over{when}")
    return out


def litellm_month(first_day: pd.Timestamp) -> str:
    """The month LiteLLM team budgets are written for (``YYYY-MM``): the forecast's first whole month."""
    month = first_day.to_period("M")
    return str(month if first_day == month.start_time else month + 1)


def spend_to_date(team_daily: pd.DataFrame, actual_daily: pd.DataFrame) -> pd.DataFrame:
    """USD per team and day, ``team, ds, usd``: recorded before the forecast starts, the plan's P50 from then on
    (``team_daily``: team, ds, p50; ``actual_daily``: team, ds, usd)."""
    start = team_daily["ds"].min()
    plan = team_daily[["team", "ds", "p50"]].rename(columns={"p50": "usd"})
    return pd.concat([actual_daily.loc[actual_daily["ds"] < start, ["team", "ds", "usd"]], plan], ignore_index=True)


def _left_for(budgets: pd.DataFrame, spend: pd.DataFrame | None, month: str) -> dict[str, dict]:
    """Per team, the tightest budget period containing ``month`` other than its own: ``{period, budget_usd,
    spent_before_usd, left_usd}``, what that period's budget leaves once its spend before ``month`` is counted."""
    first_day = pd.Period(month, freq="M").start_time
    tightest: dict[str, dict] = {}
    containing = budgets[[p != month and _span(p).start_time <= first_day <= _span(p).end_time
                          for p in budgets["period"]]]
    for row in containing.itertuples():
        spent = 0.0 if spend is None else float(spend.loc[(spend["team"] == row.team) & spend["ds"].between(
            _span(row.period).start_time, first_day, inclusive="left"), "usd"].sum())
        left = {"period": str(row.period), "budget_usd": float(row.usd), "spent_before_usd": round(spent, 2),
                "left_usd": round(max(float(row.usd) - spent, 0.0), 2)}
        if row.team not in tightest or left["left_usd"] < tightest[row.team]["left_usd"]:
            tightest[row.team] = left
    return tightest


def litellm_team_budgets(budgets: pd.DataFrame, next_month: str, soft_share: float,
                         spend: pd.DataFrame | None = None) -> list[dict]:
    """LiteLLM ``/team/new`` payloads (``NewTeamRequest``): each team's budget for ``next_month`` (else, when
    ``next_month`` starts a quarter, its quarter's), with the soft budget at ``soft_share`` of it and the matching
    duration: ``1mo`` (reset on the 1st), or the quarter's days (``92d``: LiteLLM's proxy refuses ``3mo``, it
    resets months one at a time, and resets ``Nd`` every N days from the POST). So a quarter's budget deployed
    after the quarter's first month would allow its whole amount again over the wrong months: it is not written.

    The month's cap is at most what every budget period containing it leaves: a quarter's
    budget less its spend before the month (``spend``: team, ds, usd, recorded then the
    plan's P50, ``spend_to_date``), never below 0. A capped payload's metadata says so
    (``capped_by``: the period, its budget, the spend before the month and what is left),
    since the gateway would otherwise allow a month's whole budget the quarter no longer has.
    """
    starts_quarter = pd.Period(next_month, freq="M").month % 3 == 1
    quarter = _quarter(next_month) if starts_quarter else None
    quarter_days = f"{_days(quarter)}d" if quarter else ""
    tightest = _left_for(budgets, spend, next_month)
    payloads = []
    for team, rows in budgets.groupby("team", sort=True):
        monthly = rows[rows["period"] == next_month]
        chosen, duration = (monthly, "1mo") if len(monthly) else (rows[rows["period"] == quarter], quarter_days)
        if chosen.empty:
            continue
        usd = float(chosen["usd"].iloc[0])
        metadata = {"budget_period": str(chosen["period"].iloc[0]), "written_by": "tokenplan"}
        cap = tightest.get(str(team)) if duration == "1mo" else None
        if cap is not None and cap["left_usd"] < usd:
            usd = cap["left_usd"]
            metadata["capped_by"] = cap
        payloads.append({"team_alias": str(team), "max_budget": round(usd, 2),
                         "soft_budget": round(usd * soft_share, 2), "budget_duration": duration,
                         "metadata": metadata})
    return payloads
