"""The organisation and monitor pipelines as registered, and a plan without teams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tokenplan.organisation.dimensions import NO_TEAM, shared_keys
from tokenplan.pipelines.organisation.nodes import check_budgets, describe_series, plan_budgets
from tokenplan.pipelines.reporting.nodes import render_organisation
from tokenplan.schemas import InvalidInputError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _params() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_organisation.yml").read_text())["organisation"]


def test_a_plan_run_includes_the_organisation_but_never_the_monitor():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    default = {n.name for n in pipelines["__default__"].nodes}
    assert {"reconcile_organisation", "plan_budgets", "charge_back", "render_organisation"} <= default
    assert "check_month_to_date" not in default
    monitor = {n.name for n in pipelines["monitor"].nodes}
    assert monitor == {"build_usage_buckets_for_monitor", "choose_plan_for_monitor", "price_models_for_monitor",
                       "history_rates_for_monitor", "check_month_to_date"}
    # The monitor's intermediates are its own: a check never overwrites the full run's tables.
    assert not pipelines["monitor"].all_outputs() & pipelines["__default__"].all_outputs()


def test_usage_without_teams_gives_no_organisation_section():
    usage = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=3, freq="D", tz="UTC"),
                          "series": "claude-sonnet-4-5", "model": "claude-sonnet-4-5", "requests": 1.0})
    series = describe_series(usage, _params(), 14)
    assert series.empty
    budgets = pd.DataFrame({"team": pd.Series(dtype=object), "period": pd.Series(dtype=object),
                            "usd": pd.Series(dtype=object)})
    table, at_risk, paths, payloads = plan_budgets(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), series, budgets,
                                            _params())
    assert table.empty and at_risk.empty and paths.empty and payloads == []
    section = render_organisation(series, pd.DataFrame(), pd.DataFrame(), table, at_risk, paths, pd.DataFrame(), {},
                                  [], _params())
    assert section == {}


def test_series_are_described_by_team_key_and_status():
    days = pd.date_range("2026-01-01", periods=120, freq="D", tz="UTC")
    rows = [("m/a/k1", "a", "k1", days), ("m/a/k2", "a", "k2", days[-20:]), ("m/b/k3", "b", "k3", days[:60])]
    usage = pd.concat([pd.DataFrame({"timestamp": d, "series": s, "model": "m", "workspace": t, "api_key": k,
                                     "requests": 5.0}) for s, t, k, d in rows], ignore_index=True)
    described = describe_series(usage, _params(), 14).set_index("series")
    assert described.loc["m/a/k2", ["team", "api_key", "status"]].tolist() == ["a", "k2", "new"]
    assert described.loc["m/b/k3", "status"] == "ended" and described.loc["m/a/k1", "status"] == "active"
    assert described.loc["m/b/k3", "last_usage"] == "2026-03-01"


def test_an_ended_series_plans_no_spend_even_when_forecast():
    from tokenplan.pipelines.organisation.nodes import price_spend_plan
    from tokenplan.planning.prices import UnitPrices

    days = pd.date_range("2026-10-01", periods=3, freq="D", tz="UTC")
    forecast = pd.concat([pd.DataFrame({"series": s, "target": "input_tokens", "timestamp": days, "p10": 1e6,
                                        "p50": 2e6, "p90": 3e6}) for s in ("m/a/k1", "m/a/old")], ignore_index=True)
    costs = pd.DataFrame({"series": ["m/a/k1", "m/a/old"], "period": "2026-10", "p50": [6.0, 6.0]})
    series = pd.DataFrame({"series": ["m/a/k1", "m/a/old", "m/a/gone"], "model": "m", "team": "a",
                           "api_key": ["k1", "old", "gone"], "status": ["active", "ended", "ended"]})
    prices = {"m": UnitPrices("m", "test", pd.Timestamp("2026-10-01").date(), {"input_tokens": 1.0}, "test")}
    plan = price_spend_plan(forecast, costs, series, prices).groupby("series")["p50"].sum()
    assert plan.to_dict() == {"m/a/k1": 6.0, "m/a/old": 0.0, "m/a/gone": 0.0}


def test_teams_with_requests_only_have_no_spend_to_add_up_and_the_run_goes_on():
    # M4-shaped usage: every series a workspace, requests only, so nothing is priced.
    from tokenplan.pipelines.organisation.nodes import backtest_hierarchy, reconcile_organisation

    days = pd.date_range("2026-01-01", periods=60, freq="D", tz="UTC")
    usage = pd.concat([pd.DataFrame({"timestamp": days, "series": f"m/{t}", "model": "m", "workspace": t,
                                     "requests": 5.0}) for t in ("a", "b")], ignore_index=True)
    series = describe_series(usage, _params(), 14)
    assert len(series) == 2
    no_spend = pd.DataFrame({"series": ["m/a", "m/b"], "ds": pd.Timestamp("2026-01-01"), "y": [0.0, 0.0]})
    plan = pd.DataFrame({"series": ["m/a"], "ds": [pd.Timestamp("2026-03-02")], "p10": [0.0], "p50": [0.0],
                         "p90": [0.0]})
    folds = plan.assign(origin=pd.Timestamp("2026-02-01"))
    params = _params()
    assert backtest_hierarchy(no_spend, folds, series, params).empty
    forecast = reconcile_organisation(no_spend, plan, series, params)
    assert forecast.empty
    budgets = pd.DataFrame({"team": pd.Series(dtype=object), "period": pd.Series(dtype=object),
                            "usd": pd.Series(dtype=object)})
    table, at_risk, paths, payloads = plan_budgets(forecast, pd.DataFrame(), no_spend, series, budgets, params)
    assert table.empty and payloads == []
    section = render_organisation(series, pd.DataFrame(), forecast, table, at_risk, paths, pd.DataFrame(), {},
                                  [], params)
    assert "no spend to add up per team" in section["markdown"]


def _one_team_plan(first_day: str = "2026-08-15") -> dict[str, pd.DataFrame]:
    """Team a, one series at $100 a day: recorded from July 1, forecast from ``first_day`` to December 31."""
    days = pd.date_range(first_day, "2026-12-31", freq="D")
    forecast = pd.DataFrame({"level": "team", "node": "a", "ds": days, "p10": 80.0, "p50": 100.0, "p90": 125.0,
                             "method": "bottom_up"})
    months = forecast.assign(period=days.to_period("M").astype(str)).groupby("period")["p50"].sum()
    costs = pd.DataFrame([{"series": "m/a/k", "period": p, "p10": 0.8 * v, "p50": v, "p90": 1.25 * v}
                          for p, v in [*months.items(), ("horizon", months.sum())]])
    history = pd.DataFrame({"series": "m/a/k", "ds": pd.date_range("2026-07-01", days[0] - pd.Timedelta(days=1)),
                            "y": 100.0})
    series = pd.DataFrame({"series": ["m/a/k"], "model": "m", "team": "a", "api_key": "k", "status": "active",
                           "first_usage": "2026-07-01", "last_usage": f"{days[0] - pd.Timedelta(days=1):%Y-%m-%d}"})
    return {"organisation_forecast": forecast, "cost_forecast": costs, "spend_history": history,
            "organisation_series": series}


def _budgets_file(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["team", "period", "usd"])
    frame.attrs.update(source="budgets_raw (budgets.csv)", first_line=2)
    return frame


def _render(plan: dict[str, pd.DataFrame], table, at_risk, paths, payloads, params: dict | None = None) -> str:
    scores = pd.DataFrame({"level": ["team"], "method": ["bottom_up"], "mase": [1.0], "coverage": [0.8],
                           "nodes": [1], "folds": [2], "chosen": [True]})
    charge = pd.DataFrame({"team": ["a"], "period": ["2026-10"], "usage_cost_usd": [3100.0],
                           "allocated_flat_usd": [0.0], "total_usd": [3100.0]})
    section = render_organisation(plan["organisation_series"], scores, plan["organisation_forecast"], table, at_risk,
                                  paths, charge, {"rule_text": "by usage", "flat_costs": []}, payloads,
                                  params or _params())
    return section["markdown"]


def test_the_spend_tables_heading_counts_the_teams_it_holds():
    """"Top 5 teams by spend" headed a table of 4 teams; one team here."""
    plan = _one_team_plan()
    budgets = check_budgets(_budgets_file([("a", "2026-Q4", 12000)]), plan["organisation_series"])
    markdown = _render(plan, *plan_budgets(*plan.values(), budgets, _params()))
    assert "### Teams by spend" in markdown and "### Top" not in markdown


def test_each_quarter_the_horizon_touches_is_checked_and_a_budget_it_misses_is_named(caplog):
    plan = _one_team_plan()
    budgets = check_budgets(_budgets_file([("a", "2026-Q3", 9000), ("a", "2026-Q4", 12000), ("a", "2027-Q1", 5000)]),
                            plan["organisation_series"])
    with caplog.at_level("WARNING"):
        table, at_risk, paths, payloads = plan_budgets(*plan.values(), budgets, _params())
    rows = table.set_index("period")
    assert rows.loc["2026-Q3", "spend_p50"] == pytest.approx(9200) and rows.loc["2026-Q3", "budget_usd"] == 9000
    assert rows.loc["2026-Q4", "budget_usd"] == 12000 and np.isnan(rows.loc["2027-Q1", "spend_p50"])
    assert at_risk["period"].tolist() == ["2026-Q3"]
    assert "1 budget(s) not checked" in caplog.text and "a 2027-Q1 ($5,000, after the forecast)" in caplog.text
    markdown = _render(plan, table, at_risk, paths, payloads)
    assert ("**Budgets the forecast does not check:** a 2027-Q1 ($5,000, after the forecast). The plan (its forecast runs 2026-08-15 "
            "to 2026-12-31) has no forecast spend") in markdown
    assert "| 2026-Q3 (07-01 – 08-14 recorded, 08-15 – 09-30 forecast) | $9,200 (" in markdown
    assert "| 2027-Q1" not in markdown  # no spend: no organisation row
    # No LiteLLM payload (Q3 is half over by September, Q4 not started): the report says which teams and why.
    assert payloads == []
    assert ("No LiteLLM team budget is written for a (its budgets are not for 2026-09 or a quarter starting then): "
            "write it with a plan run at the start of its budget's period.") in markdown
    # No flat costs configured: the chargeback does not speak of allocating them.
    assert "Flat costs are allocated" not in markdown and "(usage + flat costs)" not in markdown
    assert ("No flat costs are configured (`organisation.chargeback.flat_costs`), so each team is charged its usage "
            "cost. Total charged per month:") in markdown
    # Q3 began before the forecast: its row adds July 1 - August 14 as recorded, and says so.
    assert "| period | teams' spend added | recorded before 2026-08-15 |" in markdown
    assert ("| 2026-Q3 (07-01 – 08-14 recorded, 08-15 – 09-30 forecast) | $9,200 ($8,260 – $10,375) | $4,500 |"
            in markdown)
    assert "| horizon (2026-08-15 – 2026-12-31) | $13,900" in markdown


def test_a_budget_for_a_team_with_no_usage_stops_the_run_naming_its_line():
    budgets = _budgets_file([("a", "2026-Q3", 9000), ("b", "2026-Q4", 100)])
    with pytest.raises(InvalidInputError, match=r"^budgets_raw \(budgets\.csv\): column 'team' names teams with no "
                                                r"usage at lines \[3\]: \['b'\] \(teams: \['a'\]\)$"):
        check_budgets(budgets, _one_team_plan()["organisation_series"])


def test_the_budgets_file_is_checked_before_the_forecast():
    # A bad budgets file stops the run in seconds, not after the forecast (about a minute on the demo).
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    default = pipelines["__default__"]
    assert {n.name for n in default.to_nodes("check_budgets").nodes} == {"build_usage_buckets", "describe_series",
                                                                         "check_budgets"}
    order = [n.name for n in default.nodes]
    assert order.index("check_budgets") < min(order.index(n.name) for n in pipelines["training"].nodes)
    assert "budgets_raw" not in default.only_nodes("plan_budgets").inputs()


def _usage_with_a_key_moved_to_another_team() -> pd.DataFrame:
    """Key web: team search's until June 30, team data's from July 1 (a re-org); key batch: search's throughout."""
    days = pd.date_range("2026-01-01", "2026-09-30", freq="D", tz="UTC")
    moved = days >= pd.Timestamp("2026-07-01", tz="UTC")
    rows = [("m/search/web", "search", "web", days[~moved]), ("m/data/web", "data", "web", days[moved]),
            ("m/search/batch", "search", "batch", days)]
    return pd.concat([pd.DataFrame({"timestamp": d, "series": s, "model": "m", "workspace": t, "api_key": k,
                                    "requests": 5.0}) for s, t, k, d in rows], ignore_index=True)


def test_a_key_used_by_two_teams_is_named_with_each_teams_dates(caplog):
    with caplog.at_level("WARNING"):
        series = describe_series(_usage_with_a_key_moved_to_another_team(), _params(), 14)
    assert len(series) == 3  # each team's use of the key is a key of its own
    assert shared_keys(series.assign(api_key=NO_TEAM)).empty  # usage without a key column
    assert ("API key web is used by 2 teams (search 2026-01-01 to 2026-06-30, data 2026-07-01 to 2026-09-30)"
            in caplog.text) and "batch" not in caplog.text
    plan = _one_team_plan()
    plan["organisation_series"] = series
    markdown = _render(plan, *plan_budgets(*plan.values(), check_budgets(_budgets_file([]), series), _params()))
    assert ("- Keys used by more than one team: `web` by 2 teams (search from 2026-01-01 to 2026-06-30, data from "
            "2026-07-01 to 2026-09-30). A key belongs to one team here") in markdown


def test_key_names_that_repeat_across_teams_by_design_are_not_named():
    # The demo's simulator calls each team's only key "default".
    params = {**_params(), "key_names_per_team": True}
    usage = _usage_with_a_key_moved_to_another_team()
    series = describe_series(usage, params, 14)
    plan = _one_team_plan()
    plan["organisation_series"] = series
    markdown = _render(plan, *plan_budgets(*plan.values(), check_budgets(_budgets_file([]), series), params),
                       params=params)
    assert "Keys used by more than one team" not in markdown


def test_a_retired_key_the_forecast_still_prices_is_named_with_its_amount():
    # A key retired three weeks before the history ends: the organisation plans nothing for it, the forecast
    # (and every cost table built on it) still does; the report says how much, rather than two silent totals.
    plan = _one_team_plan("2026-10-01")
    plan["organisation_series"] = pd.concat([plan["organisation_series"], pd.DataFrame(
        {"series": ["m/a/old"], "model": "m", "team": "a", "api_key": "old", "status": "ended",
         "first_usage": "2026-07-01", "last_usage": "2026-09-09"})], ignore_index=True)
    costs = pd.DataFrame({"series": ["m/a/k", "m/a/old", "m/a/old"], "period": ["horizon", "2026-10", "horizon"],
                          "p10": [8000.0, 150.0, 500.0], "p50": [9200.0, 200.0, 600.0], "p90": [11000.0, 250.0, 700.0]})
    scores = pd.DataFrame({"level": ["team"], "method": ["bottom_up"], "mase": [1.0], "coverage": [0.8],
                           "nodes": [1], "folds": [2], "chosen": [True]})
    no_budgets = check_budgets(_budgets_file([]), plan["organisation_series"])
    table, at_risk, paths, payloads = plan_budgets(*plan.values(), no_budgets, _params())
    charge = pd.DataFrame({"team": ["a"], "period": ["2026-10"], "usage_cost_usd": [3100.0],
                           "allocated_flat_usd": [0.0], "total_usd": [3100.0]})
    section = render_organisation(plan["organisation_series"], scores, plan["organisation_forecast"], table, at_risk,
                                  paths, charge, {}, payloads, _params(), costs)
    assert ("`m/a/old` (a, key old): ended — last usage 2026-09-09; the organisation plans no spend for it, but the "
            "forecast and cost tables above still price $600 for it over the horizon (P50)") in section["markdown"]


_WIRED = [("a", "k1", "m1"), ("a", "k1", "m2"), ("a", "k2", "m1"), ("b", "k3", "m1"), ("b", "k3", "m2"),
          ("c", "k4", "m2")]  # c/k4 ended: a rotated key
_HISTORY_DAYS = pd.date_range("2026-01-01", "2026-04-30", freq="D")
_PLAN_DAYS = pd.date_range("2026-05-01", "2026-06-30", freq="D")


def _wired_inputs() -> dict:
    """An organisation whose series' backtest forecasts ran at twice the spend (so the levels' own histories
    reconcile to a better backtest score) with skewed intervals (P90 three times P50), and one ended series."""
    from tokenplan.organisation.budgets import BUDGET_COLUMNS

    rng = np.random.default_rng(3)
    series = pd.DataFrame([{"series": f"{m}/{t}/{k}", "model": m, "team": t, "api_key": k,
                            "status": "ended" if t == "c" else "active", "first_usage": "2026-01-01",
                            "last_usage": "2026-03-20" if t == "c" else "2026-04-30"} for t, k, m in _WIRED])
    weekly = 1 + 0.3 * (_HISTORY_DAYS.dayofweek < 5)
    history = pd.concat([pd.DataFrame({"series": s, "ds": _HISTORY_DAYS,
                                       "y": (20 + 10 * i) * weekly * rng.gamma(20, 1 / 20, len(_HISTORY_DAYS))
                                       * ((_HISTORY_DAYS <= "2026-03-20") | (s != series["series"].iloc[-1]))})
                         for i, s in enumerate(series["series"])], ignore_index=True)
    level = history[history["ds"] > "2026-03-20"].groupby("series")["y"].mean()

    def planned(days, scale):
        return pd.concat([pd.DataFrame({"series": s, "ds": days, "p50": scale * v, "p10": 0.1 * scale * v,
                                        "p90": 3 * scale * v}) for s, v in level.items()], ignore_index=True)

    folds = pd.concat([planned(pd.date_range(o + pd.Timedelta(days=1), periods=14), 2.0).assign(origin=o)
                       for o in (pd.Timestamp("2026-04-02"), pd.Timestamp("2026-04-16"))], ignore_index=True)
    plan = planned(_PLAN_DAYS, 1.0)
    periods = plan.assign(period=plan["ds"].dt.strftime("%Y-%m"))
    costs = pd.concat([periods.groupby(["series", "period"], as_index=False)[["p10", "p50", "p90"]].sum(),
                       plan.groupby("series", as_index=False)[["p10", "p50", "p90"]].sum().assign(period="horizon")],
                      ignore_index=True)
    return {"spend_history": history, "spend_backtest": folds, "spend_plan": plan, "cost_forecast": costs,
            "organisation_series": series, "budgets": pd.DataFrame(columns=list(BUDGET_COLUMNS)),
            "params:organisation": _params(), "params:planning": {"routes": {"definitions": []}}}


@pytest.fixture(scope="module")
def wired_run() -> tuple[dict, dict]:
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    from tokenplan.pipelines.organisation.pipeline import create_pipeline

    class Kept(MemoryDataset):
        def _release(self) -> None:
            pass

    inputs = _wired_inputs()
    catalog = DataCatalog()
    for name, value in inputs.items():
        catalog[name] = value
    outputs = ("hierarchy_backtest", "organisation_forecast", "team_budgets", "chargeback")
    for name in outputs:
        catalog[name] = Kept(copy_mode="assign")
    SequentialRunner().run(create_pipeline().only_nodes("backtest_hierarchy", "reconcile_organisation",
                                                        "plan_budgets", "charge_back"), catalog)
    return inputs, {name: catalog.load(name) for name in outputs}


def test_a_team_spends_the_same_in_the_organisation_tables_as_in_the_cost_table(wired_run):
    # A reconciled method (here MinTrace scores better on the backtest) must not move a team's spend away from
    # its series' cost table: budgets and chargeback read the same number as the cost estimate.
    inputs, out = wired_run
    scores = out["hierarchy_backtest"]
    mean = scores[scores["method"] != "base"].groupby("method")["mase"].mean()
    assert mean.idxmin() != "bottom_up"  # the case the tester met: a MinTrace method scored best
    live = inputs["organisation_series"].query("status != 'ended'")[["series", "team"]]
    costs = inputs["cost_forecast"].merge(live, on="series").groupby(["team", "period"])["p50"].sum()
    budgets = out["team_budgets"].set_index(["team", "period"])["spend_p50"]
    for key in costs.index:
        assert budgets[key] == pytest.approx(costs[key], rel=1e-9), key
    charged = out["chargeback"].set_index(["team", "period"])["usage_cost_usd"]
    for key in charged.index:  # the ended team's is 0
        assert charged[key] == pytest.approx(costs.get(key, 0.0), rel=1e-9, abs=1e-9), key


def test_no_spend_is_negative_and_an_ended_series_adds_nothing(wired_run):
    inputs, out = wired_run
    forecast = out["organisation_forecast"]
    assert (forecast[["p10", "p50", "p90"]] >= 0).all().all()
    assert set(forecast["method"]) == {"bottom_up"}
    # The series keep the plan's own quantiles (skewed: P10 a tenth of P50); the ended one is 0 every day.
    series = forecast[forecast["level"] == "series"].assign(series=lambda f: f["node"].map(
        lambda n: "{2}/{0}/{1}".format(*n.split("/"))))
    merged = series.merge(inputs["spend_plan"], on=["series", "ds"], suffixes=("", "_plan"))
    assert len(merged) == len(series) == len(inputs["spend_plan"])
    for q in ("p10", "p50", "p90"):
        np.testing.assert_allclose(merged[q], merged[f"{q}_plan"], rtol=1e-12)
    assert (series.loc[series["node"].str.startswith("c/"), ["p10", "p50", "p90"]] == 0).all().all()


@pytest.mark.parametrize("q", ["p10", "p50", "p90"])
def test_every_quantile_adds_up_from_series_to_the_organisation(wired_run, q):
    forecast = wired_run[1]["organisation_forecast"].set_index(["level", "node", "ds"])[q]
    parents = {"series": ("key", 2), "key": ("team", 1), "team_model": ("team", 1), "team": ("organisation", 0),
               "model": ("organisation", 0)}
    for level, (parent_level, keep) in parents.items():
        rows = forecast.loc[level].reset_index()
        parent = rows["node"].str.split("/").str[:keep].str.join("/") if keep else "organisation"
        summed = rows.assign(parent=parent).groupby(["parent", "ds"])[q].sum()
        np.testing.assert_allclose(summed.to_numpy(), forecast.loc[parent_level].loc[summed.index].to_numpy(),
                                   rtol=1e-9, err_msg=f"{q}: {level} does not add up to {parent_level}")


def test_a_team_whose_only_model_has_no_price_gets_no_spend_rather_than_zero():
    # price_spend_plan lists every series it does not price at 0; a model without a price has an unknown spend,
    # not a known $0 (which would read as a budget 0% likely to be exceeded).
    from tokenplan.pipelines.organisation.nodes import reconcile_organisation

    inputs = _wired_inputs()
    series = pd.concat([inputs["organisation_series"],
                        pd.DataFrame([{"series": "own/labs/k9", "model": "own", "team": "labs", "api_key": "k9",
                                       "status": "active"}])], ignore_index=True)
    plan = pd.concat([inputs["spend_plan"], pd.DataFrame({"series": "own/labs/k9", "ds": _PLAN_DAYS, "p10": 0.0,
                                                          "p50": 0.0, "p90": 0.0})], ignore_index=True)
    forecast = reconcile_organisation(inputs["spend_history"], plan, series, _params())
    assert not forecast["node"].str.startswith("labs").any()
    assert set(forecast.loc[forecast["level"] == "team", "node"]) == {"a", "b", "c"}


@pytest.mark.parametrize("best", ["mint_shrink", "bottom_up"])
def test_the_report_says_the_spend_adds_up_the_series_and_which_method_scored_best(best):
    # The plan adds the series' forecasts whatever scores best; a better-scoring MinTrace is named, not used.
    plan = _one_team_plan()
    budgets = check_budgets(_budgets_file([("a", "2026-10", 3000)]), plan["organisation_series"])
    table, at_risk, paths, payloads = plan_budgets(*plan.values(), budgets, _params())
    mase = {"bottom_up": 1.048, "mint_shrink": 1.046 if best == "mint_shrink" else 1.2, "mint_ols": 1.3, "base": 1.1}
    scores = pd.DataFrame([{"level": level, "method": method, "mase": value, "coverage": 0.8, "nodes": 1, "folds": 2,
                            "chosen": method == "bottom_up"} for level in ("organisation", "team")
                           for method, value in mase.items()])
    charge = pd.DataFrame({"team": ["a"], "period": ["2026-10"], "usage_cost_usd": [3100.0],
                           "allocated_flat_usd": [0.0], "total_usd": [3100.0]})
    markdown = render_organisation(plan["organisation_series"], scores, plan["organisation_forecast"], table, at_risk,
                                   paths, charge, {"rule_text": "by usage", "flat_costs": []}, payloads,
                                   _params())["markdown"]
    assert "adds up the plan's own series forecasts (bottom-up)" in markdown
    assert "keep the plan's own forecasts" not in markdown and "Reconciliation method" not in markdown
    if best == "mint_shrink":
        assert ("reconciled with **MinTrace (shrunk covariance)** scored a lower mean MASE over the levels than the "
                "added series' forecasts (1.046 against 1.048)") in markdown
        assert "The plan does not use it" in markdown
    else:
        assert "the added series' forecasts scored the lowest mean MASE over the levels (1.05)" in markdown
    assert "\n\n| level (MASE) |" in markdown  # the table is a paragraph of its own


def _with_unpriced_team(plan: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``plan`` and team labs, whose only model has no price: no spend history, no node in the forecast."""
    labs = pd.DataFrame({"series": ["internal-llm/labs/k"], "model": "internal-llm", "team": "labs", "api_key": "k",
                         "status": "active", "first_usage": "2026-07-01", "last_usage": "2026-11-16"})
    return {**plan, "organisation_series": pd.concat([plan["organisation_series"], labs], ignore_index=True)}


def test_a_team_with_no_priced_model_keeps_its_budget_and_a_month_is_capped_by_its_quarter(caplog):
    # History to November 16 at $100 a day: Q4 has $4,700 recorded and $1,400 forecast before December, so a
    # $9,000 Q4 leaves $2,900 for December, under its own $5,000. Labs' model has no price: its budget is
    # listed as not checked, with the reason, instead of vanishing from the table.
    plan = _with_unpriced_team(_one_team_plan("2026-11-17"))
    budgets = check_budgets(_budgets_file([("a", "2026-12", 5000), ("a", "2026-Q4", 9000), ("labs", "2026-12", 500)]),
                            plan["organisation_series"])
    with caplog.at_level("WARNING"):
        table, at_risk, paths, payloads = plan_budgets(*plan.values(), budgets, _params())
    labs = table[table["team"] == "labs"]
    assert labs["period"].tolist() == ["2026-12"] and np.isnan(labs["spend_p50"].iloc[0])
    assert labs["not_checked"].tolist() == ["its model internal-llm has no price"]
    assert "labs 2026-12 ($500, its model internal-llm has no price)" in caplog.text
    budget = {p["team_alias"]: p["max_budget"] for p in payloads}
    assert budget == {"a": pytest.approx(2900.0), "labs": 500.0}


def test_the_report_counts_a_team_with_no_priced_model_and_says_which_days_a_month_covers():
    from tokenplan.pipelines.organisation.nodes import charge_back

    plan = _with_unpriced_team(_one_team_plan("2026-11-17"))
    budgets = check_budgets(_budgets_file([("a", "2026-12", 5000), ("a", "2026-Q4", 9000), ("labs", "2026-12", 500)]),
                            plan["organisation_series"])
    table, at_risk, paths, payloads = plan_budgets(*plan.values(), budgets, _params())
    params = _params()
    params["chargeback"] = {"rule": "evenly", "flat_costs": [{"name": "gateway", "usd_per_month": 900}]}
    charge, rule = charge_back(plan["organisation_forecast"], plan["spend_history"], plan["organisation_series"],
                               params, {"routes": {"definitions": []}})
    rows = charge.set_index(["team", "period"])
    # November is charged whole, as its budget counts it: 16 recorded days and 14 forecast days of $100.
    assert rows.loc[("a", "2026-11"), ["recorded_usd", "usage_cost_usd"]].tolist() == pytest.approx([1600, 3000])
    assert rows.loc[("labs", "2026-11"), "allocated_flat_usd"] == pytest.approx(450)  # labs has usage: 2 ways
    scores = pd.DataFrame({"level": ["team"], "method": ["bottom_up"], "mase": [1.0], "coverage": [0.8],
                           "nodes": [1], "folds": [2], "chosen": [True]})
    section = render_organisation(plan["organisation_series"], scores, plan["organisation_forecast"], table,
                                  at_risk, paths, charge, rule, payloads, params)["markdown"]
    assert "| labs | not priced: its model internal-llm has no price | – |" in section
    assert "labs 2026-12 ($500, its model internal-llm has no price)" in section
    assert "| team | 2026-11 (11-01 – 11-16 recorded, 11-17 – 11-30 forecast) | 2026-12 |" in section
    assert "| labs (usage not priced) | $450 | $450 |" in section and "| a | $3,450 | $3,550 |" in section
    assert ("a's 2026-12 budget is written as $2,900, what its 2026-Q4 budget of $9,000 leaves after $6,100 spent "
            "before 2026-12") in section


def test_only_a_team_with_no_priced_model_is_labelled_usage_not_priced_in_the_chargeback():
    """A team with one unpriced model beside priced ones is charged for the priced ones: labelling it 'usage not
    priced' put a real charge under a label saying none was made."""
    from tokenplan.reporting.organisation_section import _chargeback_table

    charge = pd.DataFrame({"team": ["a", "labs"], "period": "2026-12", "total_usd": [3550.0, 450.0],
                           "unpriced_models": ["m2", "internal-llm"]})
    table = _chargeback_table(charge, 5, pd.Timestamp("2026-12-01"), pd.Timestamp("2026-12-31"), {"labs"})
    assert table["team"].tolist() == ["a", "labs (usage not priced)"]


@pytest.mark.parametrize("coverage", [{"organisation": 0.96, "team": 0.80}, {"organisation": 0.99, "team": 0.88}, {}])
def test_the_added_intervals_are_called_as_wide_as_the_backtest_measured_them(coverage):
    """Adding the parts' quantiles is the widest interval they allow: a review measured the demo_org organisation's
    daily P10-P90 holding 96% of days (nominal 80%) and its October interval 2.66 times an independent sum's, where
    the report called it "slightly wide". With the backtest's coverage the text gives it; without, no "slightly"."""
    plan = _one_team_plan()
    budgets = check_budgets(_budgets_file([("a", "2026-10", 3000)]), plan["organisation_series"])
    table, at_risk, paths, payloads = plan_budgets(*plan.values(), budgets, _params())
    scores = pd.DataFrame([{"level": level, "method": "bottom_up", "mase": 1.0, "coverage": value, "nodes": 1,
                            "folds": 2, "chosen": True} for level, value in coverage.items()],
                          columns=["level", "method", "mase", "coverage", "nodes", "folds", "chosen"])
    charge = pd.DataFrame({"team": ["a"], "period": ["2026-10"], "usage_cost_usd": [3100.0],
                           "allocated_flat_usd": [0.0], "total_usd": [3100.0]})
    markdown = render_organisation(plan["organisation_series"], scores, plan["organisation_forecast"], table, at_risk,
                                   paths, charge, {"rule_text": "by usage", "flat_costs": []}, payloads,
                                   _params())["markdown"]
    assert "slightly wide" not in markdown
    assert ("the organisation's P10 and P90 are its teams' added, and a team's or the organisation's interval is the "
            "widest its parts allow, wider than a sum of independent parts") in markdown
    if not coverage:
        assert "On the backtest the added daily" not in markdown
    elif coverage["team"] < 0.85:
        assert ("On the backtest the added daily P10–P90 held 96% of the organisation's days and 80% of the teams' "
                "days against a nominal 80%, so read the organisation's intervals as **wide**") in markdown
    else:
        assert ("held 99% of the organisation's days and 88% of the teams' days against a nominal 80%, so read the "
                "organisation's and the teams' intervals as **wide**") in markdown


def test_a_migrated_traffic_s_models_are_not_called_a_short_history_or_a_lost_one():
    from tokenplan.forecasting.migrations import MIGRATION_COLUMNS
    from tokenplan.reporting.organisation_section import _changes

    series = pd.DataFrame({"series": ["claude-sonnet-4-5/search", "claude-sonnet-4/search", "claude-haiku-4-5/labs"],
                           "team": ["search", "search", "labs"], "api_key": ["k1", "k1", "k2"],
                           "status": ["new", "ended", "new"], "first_usage": ["2026-10-24", "2026-01-01",
                                                                              "2026-11-20"],
                           "last_usage": ["2026-11-30", "2026-11-05", "2026-11-30"]})
    moves = pd.DataFrame([["claude-sonnet-4-5/search", s, "requests", share, "2026-10-24", 1.0, 1.0, "requests"]
                          for s, share in (("claude-sonnet-4-5/search", 1.0), ("claude-sonnet-4/search", 0.0))],
                         columns=MIGRATION_COLUMNS)
    texts = {c["series"]: c["text"] for c in _changes(series, None, moves)}
    assert texts["claude-sonnet-4-5/search"] == ("new — first usage 2026-10-24; it took over the traffic of "
                                                 "claude-sonnet-4/search and is forecast with them on their whole "
                                                 "history (see the summary)")
    assert texts["claude-sonnet-4/search"] == ("ended — last usage 2026-11-05; its traffic moved to "
                                               "claude-sonnet-4-5/search, forecast with it")
    assert "a short history" in texts["claude-haiku-4-5/labs"]
