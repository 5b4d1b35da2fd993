"""Organisation nodes: per-team spend that adds up, budgets, chargeback and LiteLLM team budgets."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.organisation import budgets as team_budget
from tokenplan.organisation.chargeback import (
    CHARGEBACK_COLUMNS,
    allocation_rule_text,
    chargeback,
    flat_costs,
    team_months,
)
from tokenplan.organisation.daily_costs import daily_costs
from tokenplan.organisation.dimensions import series_dimensions, series_status, shared_keys, unpriced_models
from tokenplan.organisation.hierarchy import PLAN_METHOD, add_up, backtest_reconciliation
from tokenplan.planning.prices import UnitPrices
from tokenplan.planning.route_config import configured_routes

_BAND = ["p10", "p50", "p90"]

logger = logging.getLogger(__name__)


def describe_series(usage_buckets: pd.DataFrame, params: dict[str, Any], ended_days: int) -> pd.DataFrame:
    """Per series: model, team, API key, first and last usage and status (new, ended, active);
    ended: no usage in the last ``feature_engineering.ended_days``, the series the forecast leaves out.

    Empty when the usage has no team column (``organisation.team_column``): one team, no organisation view.
    """
    if params["team_column"] not in usage_buckets.columns:
        return pd.DataFrame(columns=["series", "model", "team", "api_key", "first_usage", "last_usage", "status"])
    dims = series_dimensions(usage_buckets, params["team_column"], params.get("key_column"))
    status = series_status(usage_buckets, int(params["new_days"]), int(ended_days))
    described = dims.merge(status, on="series", how="left")
    if not params.get("key_names_per_team"):
        _warn_shared_keys(shared_keys(described))
    return described


def _warn_shared_keys(shared: pd.DataFrame) -> None:
    """A key id under two teams is planned as one key per team: say so, since its history is split."""
    for key, uses in shared.groupby("api_key", sort=True):
        teams = ", ".join(f"{u.team} {u.first_usage} to {u.last_usage}" for u in uses.itertuples())
        logger.warning("API key %s is used by %d teams (%s): the plan counts each team's use as a key of its own, "
                       "so the key's history is split by team", key, len(uses), teams)


def _has_spend(spend_history: pd.DataFrame) -> bool:
    """Whether any series spent anything: usage with requests only, or only unpriced models, has no
    spend to reconcile (the organisation view then stays empty, as without teams)."""
    return bool(len(spend_history)) and bool((spend_history["y"] > 0).any())


def _model_of(series: pd.DataFrame) -> dict[str, str]:
    return dict(zip(series["series"], series["model"], strict=True))


def price_spend_history(target_series: pd.DataFrame, organisation_series: pd.DataFrame,
                        history_rates: pd.DataFrame) -> pd.DataFrame:
    """USD per series and day over the history (``series, ds, y``), each day at its own rates
    (``history_rates``, as ``history_costs``); days before a series' first usage or after its last are zero, a
    missing day is interpolated from its neighbours."""
    if organisation_series.empty:
        return pd.DataFrame(columns=["series", "ds", "y"])
    history = target_series[target_series["series"].isin(organisation_series["series"])].copy()
    history["y"] = history.groupby(["series", "target"])["y"].transform(
        lambda s: s.interpolate(limit_direction="both"))
    usd = daily_costs(history, history_rates, ["y"], ["series", "ds"], _model_of(organisation_series))
    grid = pd.MultiIndex.from_product([sorted(usd["series"].unique()), sorted(target_series["ds"].unique())],
                                      names=["series", "ds"])
    return usd.set_index(["series", "ds"]).reindex(grid, fill_value=0.0).reset_index()


def price_spend_plan(forecast: pd.DataFrame, cost_forecast: pd.DataFrame, organisation_series: pd.DataFrame,
                     prices: dict[str, UnitPrices | None]) -> pd.DataFrame:
    """The plan's USD per series and day (``series, ds, p10, p50, p90``), each month's days scaled so they
    add up to the series' month P50 in ``cost_forecast``; an ended series (no usage in the last
    ``feature_engineering.ended_days``) spends nothing, whether or not it was forecast."""
    if organisation_series.empty:
        return pd.DataFrame(columns=["series", "ds", *_BAND])
    plan = forecast.assign(ds=forecast["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None))
    usd = daily_costs(plan, prices, _BAND, ["series", "ds"], _model_of(organisation_series))
    usd["period"] = usd["ds"].dt.to_period("M").astype(str)
    months = cost_forecast[cost_forecast["period"] != "horizon"].set_index(["series", "period"])["p50"]
    daily_sum = usd.groupby(["series", "period"])["p50"].transform("sum")
    target = pd.Series(list(zip(usd["series"], usd["period"], strict=True))).map(months).to_numpy()
    scale = np.where((daily_sum > 0) & np.isfinite(target), target / daily_sum.replace(0, np.nan), 1.0)
    usd[_BAND] = usd[_BAND].mul(scale, axis=0)
    gone = set(organisation_series.loc[organisation_series["status"] == "ended", "series"])
    usd.loc[usd["series"].isin(gone), _BAND] = 0.0
    ended = organisation_series.loc[~organisation_series["series"].isin(usd["series"]), "series"]
    if ended.empty:
        return usd.drop(columns="period")
    days = sorted(usd["ds"].unique())
    zeros = pd.DataFrame([(s, d) for s in ended for d in days], columns=["series", "ds"]).assign(p10=0.0, p50=0.0,
                                                                                                   p90=0.0)
    return pd.concat([usd.drop(columns="period"), zeros], ignore_index=True)


def price_spend_backtest(backtest_predictions: pd.DataFrame, organisation_series: pd.DataFrame,
                         history_rates: pd.DataFrame) -> pd.DataFrame:
    """The chosen methods' out-of-sample USD per backtest fold, series and day (``origin, series, ds, p10..p90``),
    each day at the rates its recorded spend pays (``history_rates``): the backtest grades tokens, not prices."""
    if organisation_series.empty:
        return pd.DataFrame(columns=["origin", "series", "ds", *_BAND])
    folds = backtest_predictions[(backtest_predictions["method"] == "chosen")
                                 & (backtest_predictions["role"] == "backtest")]
    return daily_costs(folds, history_rates, _BAND, ["origin", "series", "ds"], _model_of(organisation_series))


def backtest_hierarchy(spend_history: pd.DataFrame, spend_backtest: pd.DataFrame,
                       organisation_series: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """The ``hierarchy_backtest`` table: per level and method, MASE and P10-P90 coverage on the backtest folds;
    ``chosen`` marks the method the plan uses (``bottom_up``: its series' forecasts added)."""
    columns = ["level", "method", "mase", "coverage", "nodes", "folds", "chosen"]
    if organisation_series.empty or spend_backtest.empty or not _has_spend(spend_history):
        return pd.DataFrame(columns=columns)
    scores = backtest_reconciliation(spend_history, spend_backtest, organisation_series, params["levels"])
    return scores.assign(chosen=scores["method"] == PLAN_METHOD)[columns]


def reconcile_organisation(spend_history: pd.DataFrame, spend_plan: pd.DataFrame,
                           organisation_series: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """USD per node (organisation, team, model, team x model, key, series) and day, its series' plan added:
    ``level, node, ds, p10, p50, p90, method``; every quantile adds up from series to the organisation, none
    is below zero, and an ended series is 0 (``tokenplan.organisation.hierarchy.add_up``)."""
    columns = ["level", "node", "ds", *_BAND, "method"]
    if organisation_series.empty or spend_plan.empty or not _has_spend(spend_history):
        return pd.DataFrame(columns=columns)
    priced = spend_plan[spend_plan["series"].isin(spend_history["series"])]  # a model without a price: no spend known
    out = add_up(priced, organisation_series, params["levels"]).rename(columns={"unique_id": "node"})
    out["node"] = out["node"].str.removeprefix("organisation/")  # the root stays "organisation"
    return out.assign(method=PLAN_METHOD)[columns].sort_values(["level", "node", "ds"], ignore_index=True)


def _team_periods(cost_forecast: pd.DataFrame, organisation_series: pd.DataFrame) -> pd.DataFrame:
    """Per team and period, its series' P10/P50/P90 costs added (ended series left out: no future spend)."""
    live = organisation_series[organisation_series["status"] != "ended"]
    teams = cost_forecast.merge(live[["series", "team"]], on="series")
    return teams.groupby(["team", "period"], as_index=False)[_BAND].sum()


def _warn_unchecked(unchecked: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> None:
    """A budget the plan has no spend for is not checked: say so rather than drop it unseen."""
    if unchecked.empty:
        return
    listed = "; ".join(f"{u.team} {u.period} (${u.usd:,.0f}, {u.reason})" for u in unchecked.itertuples())
    logger.warning("budgets file: %d budget(s) not checked, the plan (%s to %s) has no spend for them: %s",
                   len(unchecked), f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}", listed)


def _recorded_by_team(spend_history: pd.DataFrame, organisation_series: pd.DataFrame) -> pd.DataFrame:
    """Recorded USD per team and day (``team, ds, usd``), for the part of a period before the forecast starts."""
    recorded = spend_history.merge(organisation_series[["series", "team"]], on="series")
    return recorded.groupby(["team", "ds"], as_index=False)["y"].sum().rename(columns={"y": "usd"})


def check_budgets(budgets_raw: pd.DataFrame, organisation_series: pd.DataFrame) -> pd.DataFrame:
    """The budgets file, validated (``team, period, usd``), every team among those with usage.

    Run as soon as the series are described, so a bad file stops the run in seconds
    rather than after the forecast.
    """
    teams = None if organisation_series.empty else organisation_series["team"].tolist()
    return team_budget.validate_budgets(budgets_raw, budgets_raw.attrs.get("source", "budgets"), teams)


def plan_budgets(organisation_forecast: pd.DataFrame, cost_forecast: pd.DataFrame, spend_history: pd.DataFrame,
                 organisation_series: pd.DataFrame, budgets: pd.DataFrame,
                 params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[dict]]:
    """The ``team_budgets`` table, the teams most at risk (with lead times), the cumulative spend paths
    behind the crossing dates, and LiteLLM team budget payloads; ``budgets`` as ``check_budgets`` gives it."""
    if organisation_series.empty or organisation_forecast.empty:
        empty = pd.DataFrame(columns=team_budget.TEAM_BUDGET_COLUMNS)
        paths = pd.DataFrame(columns=team_budget.BUDGET_PATH_COLUMNS)
        return empty, empty.assign(**{column: [] for column in team_budget.AT_RISK_EXTRA_COLUMNS}), paths, []
    team_daily = organisation_forecast[organisation_forecast["level"] == "team"].rename(columns={"node": "team"})
    recorded = _recorded_by_team(spend_history, organisation_series)
    unpriced = unpriced_models(organisation_series, spend_history["series"])
    unpriced = dict(unpriced.loc[unpriced["whole_team"], ["team", "models"]].itertuples(index=False))
    members = _team_periods(cost_forecast, organisation_series)
    table = team_budget.team_budgets(team_daily, members, recorded, budgets, unpriced)
    paths = team_budget.budget_paths(team_daily, members, recorded, budgets)
    today, last = pd.Timestamp(team_daily["ds"].min()), pd.Timestamp(team_daily["ds"].max())
    _warn_unchecked(team_budget.unchecked_budgets(budgets, today, last, unpriced), today, last)
    at_risk = team_budget.teams_at_risk(table, today, int(params["top_teams"]))
    payloads = team_budget.litellm_team_budgets(budgets, team_budget.litellm_month(today),
                                                float(params["budgets"]["soft_budget_share"]),
                                                team_budget.spend_to_date(team_daily, recorded))
    return table, at_risk, paths, payloads


def charge_back(organisation_forecast: pd.DataFrame, spend_history: pd.DataFrame,
                organisation_series: pd.DataFrame, params: dict[str, Any],
                planning_params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ``chargeback`` table (whole calendar months: recorded before the forecast plus its P50, every team
    with usage, priced or not) and the rule and flat costs it used (for the report)."""
    settings = params["chargeback"]
    if organisation_forecast.empty:
        return pd.DataFrame(columns=CHARGEBACK_COLUMNS), {}
    team_daily = organisation_forecast[organisation_forecast["level"] == "team"].rename(columns={"node": "team"})
    months = team_months(team_daily, _recorded_by_team(spend_history, organisation_series),
                         unpriced_models(organisation_series, spend_history["series"]))
    routes = {r.name: r.one_time.usd for r in configured_routes(planning_params["routes"])
              if "one_time" in r.model_fields_set}
    flat = flat_costs(settings.get("flat_costs") or [], routes, sorted(months["period"].unique()))
    rule = settings["rule"]
    return chargeback(months, flat, rule), {"rule": rule, "rule_text": allocation_rule_text(rule),
                                            "flat_costs": flat.to_dict("records")}
