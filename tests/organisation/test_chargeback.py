"""Chargeback: usage cost per team and month, flat costs allocated by the stated rule."""

from __future__ import annotations

import pandas as pd
import pytest

from tokenplan.organisation.chargeback import CHARGEBACK_COLUMNS, chargeback, flat_costs

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
