"""The budgets file, spend against budgets, crossing dates, the teams at risk and LiteLLM team budgets."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from tokenplan.organisation.budgets import (
    TEAM_BUDGET_COLUMNS,
    litellm_month,
    litellm_team_budgets,
    spend_to_date,
    team_budgets,
    teams_at_risk,
    unchecked_budgets,
    validate_budgets,
)
from tokenplan.schemas import InvalidInputError


def _raw(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["team", "period", "usd"])
    frame.attrs.update(source="budgets_raw (budgets.csv)", first_line=2)
    return frame


@pytest.mark.parametrize("rows, message", [
    ([("a", "2026-13", 10)], r"budgets\.csv\): column 'period' has invalid values at lines \[2\]: \['2026-13'\]"),
    ([("a", "2026-10", 10), ("b", "Q4", 5)], r"column 'period' has invalid values at lines \[3\]: \['Q4'\]"),
    ([("a", "2026-10", -1)], r"column 'usd' has invalid values at lines \[2\]: \[-1"),
    ([("a", "2026-10", "lots")], r"column 'usd' has invalid values at lines \[2\]: \['lots'\]"),
    ([("a", "2026-10", 1), ("a", "2026-11", float("inf"))],
     r"column 'usd' has invalid values at lines \[3\]: \[inf\] \(not a finite number of US dollars\)"),
    ([("a", "2026-10", "-inf")], r"column 'usd' has invalid values at lines \[2\]: \['-inf'\] \(not a finite"),
    ([("a", "2026-10", 1), ("a", "2026-10", 2)], r"lines \[2, 3\] repeat a team and period"),
    ([("", "2026-10", 1)], r"column 'team'"),
    ([("a", "2026-10", 1), ("a", "2026-11", None)], r"column 'usd' has invalid values at lines \[3\]: \[blank\]"),
])
def test_bad_budget_rows_are_named_by_file_line_and_value(rows, message):
    with pytest.raises(InvalidInputError, match=message):
        validate_budgets(_raw(rows), "budgets_raw (budgets.csv)")


def test_a_team_with_no_usage_is_named_by_file_line_and_value():
    raw = _raw([("data", "2026-10", 780), ("dataa", "2026-11", 780), ("labs", "2026-10", 1150)])
    with pytest.raises(InvalidInputError, match=r"^budgets_raw \(budgets\.csv\): column 'team' names teams with no "
                                                r"usage at lines \[3\]: \['dataa'\] \(teams: \['data', 'labs'\]\)$"):
        validate_budgets(raw, "budgets_raw (budgets.csv)", teams=["labs", "data", "data"])


def test_a_missing_column_is_named():
    with pytest.raises(InvalidInputError, match="usd"):
        validate_budgets(pd.DataFrame({"team": ["a"], "period": ["2026-10"]}), "budgets.csv")


def test_months_and_quarters_are_accepted():
    table = validate_budgets(_raw([("a", "2026-10", "100"), ("a", "2026-q4", 250.5), ("a", "2026-11", "3,000")]))
    assert table["period"].tolist() == ["2026-10", "2026-Q4", "2026-11"]
    assert table["usd"].tolist() == [100.0, 250.5, 3000.0]  # thousands as a spreadsheet writes them


def _inputs(per_day: float = 100.0, first_day: str = "2026-10-01"):
    ds = pd.date_range(first_day, "2026-12-31", freq="D")
    daily = pd.DataFrame({"team": "a", "ds": ds, "p50": per_day})
    months = daily.assign(period=daily["ds"].dt.to_period("M").astype(str)).groupby("period")["p50"].sum()
    periods = pd.DataFrame([{"team": "a", "period": p, "p10": 0.8 * v, "p50": v, "p90": 1.25 * v}
                            for p, v in [*months.items(), ("horizon", months.sum())]])
    return daily, periods, pd.DataFrame(columns=["team", "ds", "usd"])


def _forecast_from_october_11(recorded_from: str):
    """``_inputs``' plan from 2026-10-11 on, with $100 a day recorded from ``recorded_from`` to 2026-10-10."""
    daily, periods, _ = _inputs()
    recorded = pd.DataFrame({"team": "a", "ds": pd.date_range(recorded_from, "2026-10-10"), "usd": 100.0})
    return daily[daily["ds"] >= "2026-10-11"], periods, recorded


def test_crossing_dates_follow_the_cumulative_paths():
    daily, periods, recorded = _inputs()
    budgets = validate_budgets(_raw([("a", "2026-10", 1000), ("a", "2026-11", 5000), ("a", "2026-Q4", 9000)]))
    table = team_budgets(daily, periods, recorded, budgets)
    assert list(table.columns) == TEAM_BUDGET_COLUMNS
    table = table.set_index("period")
    october = table.loc["2026-10"]
    assert october["spend_p50"] == pytest.approx(3100)
    assert october["first_crossing_p50"] == "2026-10-10"  # 10 days of $100
    assert october["first_crossing_p90"] == "2026-10-08"  # 8 days of $125
    assert october["p_exceed"] > 0.99
    assert table.loc["2026-11", "first_crossing_p50"] == "" and table.loc["2026-11", "p_exceed"] < 0.01
    assert table.loc["2026-Q4", "budget_usd"] == 9000 and table.loc["2026-Q4", "first_crossing_p50"] == "2026-12-29"
    assert np.isnan(table.loc["horizon", "budget_usd"])  # the quarter's budget is on the quarter's row
    assert np.isnan(table.loc["2026-12", "budget_usd"]) and table.loc["2026-12", "first_crossing_p50"] == ""


def test_spend_recorded_before_the_forecast_counts_toward_the_period():
    daily, periods, recorded = _forecast_from_october_11(recorded_from="2026-10-01")
    budgets = validate_budgets(_raw([("a", "2026-10", 1500)]))
    row = team_budgets(daily, periods, recorded, budgets).set_index("period").loc["2026-10"]
    assert row["spend_p50"] == pytest.approx(3100)
    assert row["first_crossing_p50"] == "2026-10-15"


def test_a_horizon_over_two_quarters_checks_each_quarters_budget():
    # History to August 14: the horizon runs August 15 - December 31, over Q3 and Q4.
    daily, periods, _ = _inputs(first_day="2026-08-15")
    recorded = pd.DataFrame({"team": "a", "ds": pd.date_range("2026-07-01", "2026-08-14"), "usd": 100.0})
    budgets = validate_budgets(_raw([("a", "2026-Q3", 9000), ("a", "2026-Q4", 12000)]))
    table = team_budgets(daily, periods, recorded, budgets).set_index("period")
    assert {"2026-Q3", "2026-Q4", "horizon"} <= set(table.index)
    q3, q4 = table.loc["2026-Q3"], table.loc["2026-Q4"]
    assert q3["budget_usd"] == 9000 and q4["budget_usd"] == 12000
    assert q3["spend_p50"] == pytest.approx(92 * 100.0)  # 45 recorded days and 47 forecast days of $100
    assert (q3["spend_p10"], q3["spend_p90"]) == pytest.approx((4500 + 0.8 * 4700, 4500 + 1.25 * 4700))
    assert q3["first_crossing_p50"] == "2026-09-28" and q3["p_exceed"] > 0.5  # the 90th day of $100
    assert q4["spend_p50"] == pytest.approx(9200) and q4["first_crossing_p50"] == "" and q4["p_exceed"] < 0.1
    assert np.isnan(table.loc["horizon", "budget_usd"]) and table.loc["horizon", "spend_p50"] == pytest.approx(13900)


def test_the_spend_recorded_before_the_forecast_is_its_own_column():
    # A quarter that began before the forecast is not its forecast months' sum: the recorded part is stated.
    daily, periods, _ = _inputs(first_day="2026-08-15")
    recorded = pd.DataFrame({"team": "a", "ds": pd.date_range("2026-07-01", "2026-08-14"), "usd": 100.0})
    table = team_budgets(daily, periods, recorded, validate_budgets(_raw([("a", "2026-Q3", 9000)]))).set_index("period")
    assert table["recorded_usd"].to_dict() == pytest.approx({"2026-08": 1400.0, "2026-09": 0.0, "2026-10": 0.0,
                                                             "2026-11": 0.0, "2026-12": 0.0, "2026-Q3": 4500.0,
                                                             "2026-Q4": 0.0, "horizon": 0.0})


def test_a_quarter_holding_the_whole_horizon_takes_the_horizons_own_interval():
    daily, periods, recorded = _inputs()
    periods.loc[periods["period"] == "horizon", ["p10", "p90"]] = [8000.0, 11000.0]  # its own backtested spread
    table = team_budgets(daily, periods, recorded, validate_budgets(_raw([("a", "2026-Q4", 9000)])))
    q4 = table.set_index("period").loc["2026-Q4"]
    assert (q4["spend_p10"], q4["spend_p50"], q4["spend_p90"]) == pytest.approx((8000, 9200, 11000))
    assert q4["first_crossing_p50"] == "2026-12-29"


def test_a_budget_the_forecast_does_not_reach_is_kept_and_named_not_checked():
    daily, periods, recorded = _inputs()
    budgets = validate_budgets(_raw([("a", "2026-10", 1000), ("a", "2026-Q3", 500), ("a", "2027-01", 700)]))
    table = team_budgets(daily, periods, recorded, budgets).set_index("period")
    for period in ("2026-Q3", "2027-01"):
        assert table.loc[period, "budget_usd"] > 0 and np.isnan(table.loc[period, "spend_p50"])
    assert teams_at_risk(table.reset_index(), pd.Timestamp("2026-10-01"), top=5)["period"].tolist() == ["2026-10"]
    unchecked = unchecked_budgets(budgets, pd.Timestamp("2026-10-01"), pd.Timestamp("2026-12-31"))
    assert unchecked[["period", "reason"]].values.tolist() == [["2026-Q3", "ended before the forecast"],
                                                              ["2027-01", "after the forecast"]]


def test_probability_of_exceeding_is_a_half_at_the_median_and_falls_with_the_budget():
    daily, periods, recorded = _inputs()
    p = [team_budgets(daily, periods, recorded, validate_budgets(_raw([("a", "2026-10", usd)])))
         .set_index("period").loc["2026-10", "p_exceed"] for usd in (2480, 3100, 3875, 6000)]
    assert p[1] == pytest.approx(0.5) and p[0] == pytest.approx(0.9) and p[2] == pytest.approx(0.1)
    assert p[3] < p[2]


def test_teams_at_risk_rank_by_probability_then_by_how_far_over():
    table = pd.DataFrame({"team": ["a", "a", "b", "c", "d"], "period": ["2026-10", "2026-11", "2026-10", "2026-10",
                                                                        "2026-10"],
                          "spend_p10": 0.0, "spend_p50": [90, 200, 150, 50, 10], "spend_p90": 0.0,
                          "budget_usd": [100, 100, 100, 100, np.nan], "p_exceed": [0.3, 1.0, 1.0, 0.01, np.nan],
                          "first_crossing_p50": ["", "2026-11-15", "2026-10-20", "", ""],
                          "first_crossing_p90": ["", "2026-11-10", "2026-10-15", "", ""]})
    risk = teams_at_risk(table, pd.Timestamp("2026-10-01"), top=2)
    assert risk["team"].tolist() == ["a", "b"] and risk["period"].tolist() == ["2026-11", "2026-10"]
    assert risk["lead_days_p90"].tolist() == [40, 14]


def test_a_team_at_risk_is_shown_at_the_budget_it_crosses_first_not_its_riskiest():
    # The demo's labs: December is the riskiest budget, October is crossed first.
    table = pd.DataFrame({"team": "labs", "period": ["2026-10", "2026-11", "2026-12", "horizon"],
                          "spend_p10": 0.0, "spend_p50": [1435, 1531, 2343, 5310], "spend_p90": 0.0,
                          "budget_usd": [1150, 1150, 1150, np.nan], "p_exceed": [0.998, 0.998, 0.9999, np.nan],
                          "first_crossing_p50": ["2026-10-26", "2026-11-24", "2026-12-16", ""],
                          "first_crossing_p90": ["2026-10-23", "2026-11-20", "2026-12-14", ""]})
    risk = teams_at_risk(table, pd.Timestamp("2026-10-01"), top=5)
    assert risk[["period", "first_crossing_p50", "lead_days_p50", "lead_days_p90"]].values.tolist() == [
        ["2026-10", "2026-10-26", 25, 22]]


def test_without_a_crossing_at_p50_the_first_at_p90_is_shown_and_the_ranking_is_by_the_riskiest():
    table = pd.DataFrame({"team": ["a", "a", "b", "b"], "period": ["2026-10", "2026-Q4", "2026-10", "2026-11"],
                          "spend_p10": 0.0, "spend_p50": [90, 95, 80, 70], "spend_p90": 0.0,
                          "budget_usd": 100.0, "p_exceed": [0.3, 0.45, 0.2, 0.1],
                          "first_crossing_p50": "", "first_crossing_p90": ["2026-10-28", "2026-12-20", "", ""]})
    risk = teams_at_risk(table, pd.Timestamp("2026-10-01"), top=5)
    assert risk["team"].tolist() == ["a", "b"]  # a's riskiest budget (45%) before b's (20%)
    assert risk["period"].tolist() == ["2026-10", "2026-10"]  # a: first crossed at P90; b: none crossed, its riskiest
    assert risk["lead_days_p90"].tolist()[0] == 27 and risk["lead_days_p50"].isna().all()


def test_litellm_team_budgets_load_in_litellms_own_types():
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no price-map download
    litellm_types = pytest.importorskip("litellm.proxy._types")
    budgets = validate_budgets(_raw([("a", "2026-10", 1000), ("a", "2026-11", 1200), ("b", "2026-Q4", 9000)]))
    payloads = litellm_team_budgets(budgets, "2026-10", 0.8)
    assert [p["team_alias"] for p in payloads] == ["a", "b"]
    for payload in payloads:
        assert set(payload) <= set(litellm_types.NewTeamRequest.model_fields)
        request = litellm_types.NewTeamRequest(**payload)
        assert request.soft_budget == pytest.approx(0.8 * request.max_budget)
    # The proxy's /team/new refuses a duration it cannot reset on (LiteLLM resets months only one at a time).
    from litellm.proxy.common_utils.timezone_utils import budget_duration_error

    assert [budget_duration_error(p["budget_duration"]) for p in payloads] == [None, None]
    assert [p["budget_duration"] for p in payloads] == ["1mo", "92d"]  # October 1 to December 31


def test_a_quarters_litellm_budget_is_written_only_from_the_quarters_first_month():
    # LiteLLM counts a team's spend from the payload's deployment and resets it every budget_duration: the whole
    # of a quarter's budget, deployed in its last month, would allow it again from September to November.
    budgets = validate_budgets(_raw([("a", "2026-Q3", 9000), ("b", "2026-09", 800), ("c", "2026-Q4", 5000)]))
    assert [p["team_alias"] for p in litellm_team_budgets(budgets, "2026-09", 0.8)] == ["b"]
    assert [(p["team_alias"], p["budget_duration"]) for p in litellm_team_budgets(budgets, "2026-07", 0.8)] == [
        ("a", "92d")]
    assert [(p["team_alias"], p["budget_duration"]) for p in litellm_team_budgets(budgets, "2027-01", 0.8)] == []
    q1 = validate_budgets(_raw([("a", "2027-Q1", 9000)]))
    assert [p["budget_duration"] for p in litellm_team_budgets(q1, "2027-01", 0.8)] == ["90d"]


def test_the_litellm_month_is_the_forecasts_first_whole_month():
    assert litellm_month(pd.Timestamp("2026-09-01")) == "2026-09"
    assert litellm_month(pd.Timestamp("2026-08-15")) == "2026-09"


def test_a_team_at_risk_names_the_earlier_budgets_it_is_likely_over():
    # The demo's agents: December is crossed at P50 82 days out, but November was 49% likely over and
    # October 23%; shown at December alone, the row read as 82 days to act.
    table = pd.DataFrame({"team": "agents", "period": ["2026-10", "2026-11", "2026-12"],
                          "spend_p10": 0.0, "spend_p50": [4250, 4481, 6686], "spend_p90": 0.0, "budget_usd": 4500.0,
                          "p_exceed": [0.233, 0.486, 0.996], "first_crossing_p50": ["", "", "2026-12-22"],
                          "first_crossing_p90": ["2026-10-30", "2026-11-27", "2026-12-17"]})
    risk = teams_at_risk(table, pd.Timestamp("2026-10-01"), top=5).iloc[0]
    assert risk["period"] == "2026-12"
    assert risk["earlier_at_risk"] == ("2026-10: 23% likely over, crossed at P90 on 2026-10-30; "
                                       "2026-11: 49% likely over, crossed at P90 on 2026-11-27")


def test_a_team_whose_model_has_no_price_keeps_its_budget_named_not_checked():
    # Team labs uses only a model with no price: the plan has no spend for it, so its budget is listed as not
    # checked with the reason rather than dropped.
    daily, periods, recorded = _inputs()
    budgets = validate_budgets(_raw([("a", "2026-10", 1000), ("labs", "2026-12", 500)]))
    table = team_budgets(daily, periods, recorded, budgets, {"labs": "internal-llm"})
    labs = table[table["team"] == "labs"]
    assert labs[["period", "budget_usd", "not_checked"]].values.tolist() == [
        ["2026-12", 500.0, "its model internal-llm has no price"]]
    assert np.isnan(labs["spend_p50"].iloc[0])
    assert (table.loc[table["team"] == "a", "not_checked"] == "").all()
    unchecked = unchecked_budgets(budgets, pd.Timestamp("2026-10-01"), pd.Timestamp("2026-12-31"),
                                  {"labs": "m1, m2"})
    assert unchecked["reason"].tolist() == ["its models m1, m2 have no price"]


def test_a_months_litellm_budget_is_at_most_what_its_quarter_leaves():
    # Research: $15,000 for December, $40,000 for Q4, $28,401 spent in October and November (recorded to
    # November 16, the plan's P50 after): December's gateway cap is the $11,599 Q4 leaves, not $15,000.
    budgets = validate_budgets(_raw([("research", "2026-12", 15000), ("research", "2026-Q4", 40000),
                                     ("search", "2026-12", 3000), ("search", "2026-Q4", 9000)]))
    recorded = pd.DataFrame({"team": "research", "ds": pd.date_range("2026-10-01", "2026-11-16"),
                             "usd": 21183.81 / 47})
    plan = pd.DataFrame({"team": ["research"] * 45 + ["search"] * 45,
                         "ds": list(pd.date_range("2026-11-17", "2026-12-31")) * 2,
                         "p50": [7216.54 / 14] * 14 + [500.0] * 31 + [100.0] * 45})
    spend = spend_to_date(plan, recorded)
    payloads = {p["team_alias"]: p for p in litellm_team_budgets(budgets, "2026-12", 0.8, spend)}
    research = payloads["research"]
    assert research["max_budget"] == pytest.approx(40000 - 21183.81 - 7216.54, abs=0.01)  # $11,599.65
    assert research["soft_budget"] == pytest.approx(0.8 * research["max_budget"], abs=0.01)
    assert research["budget_duration"] == "1mo"
    assert research["metadata"]["capped_by"] == {"period": "2026-Q4", "budget_usd": 40000.0,
                                                 "spent_before_usd": pytest.approx(28400.35),
                                                 "left_usd": pytest.approx(11599.65)}
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no price-map download
    litellm_types = pytest.importorskip("litellm.proxy._types")
    assert litellm_types.NewTeamRequest(**research).metadata["capped_by"]["period"] == "2026-Q4"
    # Search's quarter leaves $7,600 (14 forecast days of $100 before December): its own $3,000 is tighter.
    assert payloads["search"]["max_budget"] == 3000 and "capped_by" not in payloads["search"]["metadata"]
    # A quarter already spent leaves 0, not a negative budget.
    spent = spend.assign(usd=spend["usd"].where(spend["team"] == "search", spend["usd"] * 10))
    assert {p["team_alias"]: p["max_budget"] for p in litellm_team_budgets(budgets, "2026-12", 0.8, spent)} == {
        "research": 0.0, "search": 3000.0}


def test_a_budget_the_recorded_spend_already_reached_is_crossed_on_that_recorded_day():
    # Review 2: support's November budget of $300 had $332 recorded by November 11; it read as crossed on the
    # forecast's first day, 0 days away, rather than already over.
    daily, periods, recorded = _forecast_from_october_11(recorded_from="2026-10-01")
    budgets = validate_budgets(_raw([("a", "2026-10", 450), ("a", "2026-11", 5000)]))
    table = team_budgets(daily, periods, recorded, budgets).set_index("period")
    october = table.loc["2026-10"]
    assert october["recorded_usd"] == pytest.approx(1000)
    assert (october["first_crossing_p50"], october["first_crossing_p90"]) == ("2026-10-05", "2026-10-05")
    assert bool(october["crossed_in_recorded"]) and october["p_exceed"] == 1.0
    assert not table.loc[["2026-11", "2026-Q4", "horizon"], "crossed_in_recorded"].any()
    risk = teams_at_risk(table.reset_index(), pd.Timestamp("2026-10-11"), top=5).iloc[0]
    assert (risk["period"], risk["lead_days_p50"]) == ("2026-10", -6)  # six days before the forecast starts


def test_a_team_at_risk_lists_every_other_budget_it_is_likely_over():
    # Review 2: research's Q4 and December budgets are both crossed at P50 on 12-28; its row showed Q4 and
    # dropped December ($3,000 against a P50 of $3,425), and a March budget 98% likely over was never named.
    table = pd.DataFrame({"team": "research", "period": ["2026-11", "2026-12", "2026-Q4", "2027-03", "horizon"],
                          "spend_p10": 0.0, "spend_p50": [2500, 3425, 8600, 3941, 12000], "spend_p90": 0.0,
                          "budget_usd": [2900, 3000, 8500, 3500, np.nan],
                          "p_exceed": [0.2, 0.996, 0.55, 0.98, np.nan],
                          "first_crossing_p50": ["", "2026-12-28", "2026-12-28", "2027-03-27", ""],
                          "first_crossing_p90": ["", "2026-12-20", "2026-12-18", "2027-03-20", ""]})
    risk = teams_at_risk(table, pd.Timestamp("2026-11-16"), top=5).iloc[0]
    assert risk["period"] == "2026-Q4"
    assert risk["other_at_risk"] == ("2026-12: budget $3,000, P50 $3,425, >99% likely over, crossed at P50 on "
                                     "2026-12-28; 2027-03: budget $3,500, P50 $3,941, 98% likely over, crossed at "
                                     "P50 on 2027-03-27")
    assert risk["other_at_risk_count"] == 2


def test_the_budget_paths_figure_states_the_chance_as_the_table_does():
    from tokenplan.reporting.organisation_figures import budget_paths_figure

    paths = pd.DataFrame({"team": "a", "period": "2026-10", "ds": pd.date_range("2026-10-01", periods=3),
                          "cumulative_p50": [100.0, 200, 300], "cumulative_p90": [120.0, 240, 360],
                          "budget_usd": 150.0})
    at_risk = pd.DataFrame({"team": ["a"], "period": ["2026-10"], "budget_usd": [150.0], "p_exceed": [0.9996],
                            "first_crossing_p50": ["2026-10-02"], "first_crossing_p90": ["2026-10-02"]})
    figure = budget_paths_figure(paths, at_risk)
    assert figure.axes[0].get_title() == "a, 2026-10: P(exceed) >99%"


def test_the_organisation_section_lists_every_budget_at_risk_and_marks_one_already_over():
    from tokenplan.reporting.organisation_section import _at_risk_table, _teams_beyond

    table = pd.DataFrame({"team": ["a", "a", "b", "c", "c"], "period": ["2026-11", "2026-12", "2026-12", "2026-12",
                                                                        "horizon"],
                          "spend_p10": 0.0, "spend_p50": [864, 3425, 900, 500, 900], "spend_p90": 0.0,
                          "recorded_usd": [421, 0, 0, 0, 0], "budget_usd": [300, 3000, 800, 1000, np.nan],
                          "p_exceed": [1.0, 0.996, 0.6, 0.01, np.nan],
                          "first_crossing_p50": ["2026-11-11", "2026-12-28", "", "", ""],
                          "first_crossing_p90": ["2026-11-11", "2026-12-20", "2026-12-30", "", ""],
                          "crossed_in_recorded": [True, False, False, False, False]})
    risk = teams_at_risk(table, pd.Timestamp("2026-11-16"), top=1)
    shown = _at_risk_table(risk, pd.Timestamp("2026-11-16"), pd.Timestamp("2026-12-31")).iloc[0]
    assert shown["crossed at P50"] == "2026-11-11 (already over: recorded, before the forecast)"
    assert shown["its other budgets at risk"] == ("2026-12: budget $3,000, P50 $3,425, >99% likely over, crossed at "
                                                  "P50 on 2026-12-28")
    assert _teams_beyond(table, risk) == [{"team": "b", "count": 1}]  # b's 60% is at risk, c's 1% is not


def test_a_budget_that_ended_before_the_forecast_is_checked_against_the_recorded_spend():
    daily, periods, _ = _inputs()
    september = pd.date_range("2026-09-01", "2026-09-30", freq="D")
    recorded = pd.DataFrame({"team": "a", "ds": september, "usd": 100.0})  # $3,000 recorded in September
    budgets = validate_budgets(_raw([("a", "2026-09", 1500), ("a", "2026-08", 500), ("a", "2026-10", 5000)]))
    table = team_budgets(daily, periods, recorded, budgets).set_index("period")
    september_row = table.loc["2026-09"]
    assert september_row["recorded_usd"] == pytest.approx(3000) and september_row["crossed_in_recorded"]
    assert september_row["first_crossing_p50"] == september_row["first_crossing_p90"] == "2026-09-15"
    assert september_row["not_checked"] == ("ended before the forecast: recorded $3,000 against $1,500, over from "
                                            "2026-09-15 (by $1,500)")
    assert np.isnan(september_row["spend_p50"])  # no forecast spend: not among the teams at risk
    # August starts before the recorded history: its spend is not known whole, so it stays unchecked.
    assert table.loc["2026-08", "not_checked"] == "ended before the forecast"
    assert np.isnan(table.loc["2026-08", "recorded_usd"]) and not table.loc["2026-08", "crossed_in_recorded"]


def test_a_budget_whose_period_began_before_the_history_is_not_checked_and_its_label_says_which_days_are_missing():
    from tokenplan.reporting.organisation_section import _period_label, _unchecked

    daily, periods, recorded = _forecast_from_october_11(recorded_from="2026-10-05")
    budgets = validate_budgets(_raw([("a", "2026-10", 3000), ("a", "2026-11", 5000)]))

    table = team_budgets(daily, periods, recorded, budgets).set_index("period")

    october = table.loc["2026-10"]
    assert october["recorded_usd"] == pytest.approx(600)  # October 5-10 only: its first four days are unknown
    assert np.isnan(october["p_exceed"]) and october["first_crossing_p50"] == october["first_crossing_p90"] == ""
    assert october["not_checked"] == ("the history starts 2026-10-05, after the period's first day: its spend "
                                      "before then is not in the plan")
    assert table.loc["2026-11", "p_exceed"] < 0.5 and table.loc["2026-11", "not_checked"] == ""
    assert [u["period"] for u in _unchecked(table.reset_index())] == ["2026-10"]
    label = _period_label("2026-10", pd.Timestamp("2026-10-11"), pd.Timestamp("2026-12-31"), pd.Timestamp("2026-10-05"))
    assert label == "2026-10 (10-01 – 10-04 not in the history, 10-05 – 10-10 recorded, 10-11 – 10-31 forecast)"
