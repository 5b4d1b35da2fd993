"""Chargeback: usage cost per team and month, flat costs allocated by the stated rule."""

from __future__ import annotations

import pandas as pd
import pytest

from tokenplan.organisation.chargeback import CHARGEBACK_COLUMNS, chargeback, flat_costs, team_months

MONTHS = ["2026-10", "2026-11"]


def _usage() -> pd.DataFrame:
    return pd.DataFrame({"team": ["a", "b", "c", "a", "b", "c"], "period": [*["2026-10"] * 3, *["2026-11"] * 3],
                         "usage_cost_usd": [300.0, 100.0, 0.0, 200.0, 200.0, 100.0]})


def test_flat_costs_by_usage_follow_each_months_usage_shares():
    flat = flat_costs([{"name": "commitment", "usd_per_month": 1000}], {}, MONTHS)
    table = chargeback(_usage(), flat, "by_usage")
    assert list(table.columns) == CHARGEBACK_COLUMNS
    table = table.set_index(["period", "team"])
    assert table.loc[("2026-10", "a"), "allocated_flat_usd"] == pytest.approx(750)
    assert table.loc[("2026-10", "c"), "allocated_flat_usd"] == 0
    assert table.loc[("2026-11", "c"), "allocated_flat_usd"] == pytest.approx(200)
    assert table.groupby("period")["allocated_flat_usd"].sum().tolist() == pytest.approx([1000, 1000])
    assert (table["total_usd"] == table["usage_cost_usd"] + table["allocated_flat_usd"]).all()


def test_flat_costs_evenly_go_to_teams_with_usage_that_month():
    flat = flat_costs([{"name": "migration", "usd": 900, "period": "2026-10"}], {}, MONTHS)
    table = chargeback(_usage(), flat, "evenly").set_index(["period", "team"])
    assert table.loc[("2026-10", "a"), "allocated_flat_usd"] == pytest.approx(450)
    assert table.loc[("2026-10", "c"), "allocated_flat_usd"] == 0
    assert table.xs("2026-11")["allocated_flat_usd"].sum() == 0


def test_a_routes_one_time_cost_is_a_flat_cost():
    flat = flat_costs([{"name": "caching", "route": "prompt_caching", "period": "2026-11"}],
                      {"prompt_caching": 3200.0}, MONTHS)
    assert flat.to_dict("records") == [{"name": "caching", "period": "2026-11", "usd": 3200.0}]
    with pytest.raises(ValueError, match="names route 'nope'"):
        flat_costs([{"name": "x", "route": "nope"}], {"prompt_caching": 1.0}, MONTHS)


def test_an_unknown_rule_is_named():
    with pytest.raises(ValueError, match="by_usage"):
        chargeback(_usage(), flat_costs([], {}, MONTHS), "by_headcount")


def _plan_from(first_day: str, teams: tuple[str, ...] = ("a",)) -> pd.DataFrame:
    """Each team's reconciled plan at $100 a day from ``first_day`` to December 31."""
    days = pd.date_range(first_day, "2026-12-31", freq="D")
    return pd.concat([pd.DataFrame({"team": t, "ds": days, "p50": 100.0}) for t in teams], ignore_index=True)


NO_UNPRICED = pd.DataFrame(columns=["team", "models", "live", "whole_team"])


def test_a_month_the_forecast_starts_in_is_charged_whole_recorded_and_forecast():
    # The forecast starts November 17: November's charge is November 1-16 recorded ($50 a day) plus November
    # 17-30 forecast ($100 a day), the month its budget is checked on, not the forecast's fortnight alone.
    recorded = pd.DataFrame({"team": "a", "ds": pd.date_range("2026-10-01", "2026-11-16"), "usd": 50.0})
    months = team_months(_plan_from("2026-11-17"), recorded, NO_UNPRICED).set_index("period")
    assert months.loc["2026-11", "recorded_usd"] == pytest.approx(16 * 50.0)
    assert months.loc["2026-11", "usage_cost_usd"] == pytest.approx(16 * 50.0 + 14 * 100.0)
    assert months.loc["2026-12", ["recorded_usd", "usage_cost_usd"]].tolist() == pytest.approx([0.0, 3100.0])
    table = chargeback(months.reset_index(), flat_costs([], {}, ["2026-11", "2026-12"]), "by_usage")
    assert list(table.columns) == CHARGEBACK_COLUMNS
    assert table["total_usd"].tolist() == pytest.approx([2200.0, 3100.0])


def test_evenly_splits_over_every_team_with_usage_a_team_without_prices_too():
    # Team labs uses only a model with no price: it has no priced spend, but it has usage every month, so an
    # even split of $1,000 goes 3 ways, not 2; its usage cost is 0 and the table names the unpriced model.
    unpriced = pd.DataFrame({"team": ["labs"], "models": ["internal-llm"], "live": [True], "whole_team": [True]})
    months = team_months(_plan_from("2026-12-01", ("a", "b")), pd.DataFrame(columns=["team", "ds", "usd"]),
                         unpriced)
    assert sorted(months["team"].unique()) == ["a", "b", "labs"]
    table = chargeback(months, flat_costs([{"name": "gateway", "usd_per_month": 1000}], {}, ["2026-12"]),
                       "evenly").set_index("team")
    assert table["allocated_flat_usd"].to_dict() == pytest.approx({"a": 1000 / 3, "b": 1000 / 3, "labs": 1000 / 3})
    assert table.loc["labs", ["usage_cost_usd", "unpriced_models"]].tolist() == [0.0, "internal-llm"]
    by_usage = chargeback(months, flat_costs([{"name": "gateway", "usd_per_month": 1000}], {}, ["2026-12"]),
                          "by_usage").set_index("team")
    assert by_usage.loc["labs", "allocated_flat_usd"] == 0  # in proportion to a priced usage cost of 0
