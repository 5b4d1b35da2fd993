"""The report consistency checker's organisation identities: a consistent folder passes, each break is named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.report_consistency import _organisation


def _folder(tmp_path: Path) -> Path:
    """Team a (keys k1, k2 at $60 and $40 a day) from September 1 to October 31, $500 recorded in August 15-31
    of a Q3 budget of $3,000 (crossed on the 25th day of September), and an October budget of $5,000 (not)."""
    days = pd.date_range("2026-09-01", "2026-10-31")
    parts = [("organisation", "organisation", 100.0), ("team", "a", 100.0), ("model", "m", 100.0),
             ("team_model", "a/m", 100.0), ("key", "a/k1", 60.0), ("key", "a/k2", 40.0),
             ("series", "a/k1/m", 60.0), ("series", "a/k2/m", 40.0)]
    forecast = pd.concat([pd.DataFrame({"level": level, "node": node, "ds": days, "p10": 0.8 * v, "p50": v,
                                        "p90": 1.2 * v, "method": "bottom_up"}) for level, node, v in parts])
    forecast.to_csv(tmp_path / "organisation_forecast.csv", index=False)
    rows = [("2026-09", 2400, 3000, 3600, 0, None, "", ""), ("2026-10", 2480, 3100, 3720, 0, 5000, "", ""),
            ("2026-Q3", 2900, 3500, 4100, 500, 3000, "2026-09-25", "2026-09-21"),
            ("2026-Q4", 2480, 3100, 3720, 0, None, "", ""), ("horizon", 4880, 6100, 7320, 0, None, "", "")]
    budgets = pd.DataFrame([("a", period, *rest) for period, *rest in rows],
                           columns=["team", "period", "spend_p10", "spend_p50", "spend_p90", "recorded_usd",
                                    "budget_usd", "first_crossing_p50", "first_crossing_p90"]).assign(p_exceed=0.9)
    budgets.to_csv(tmp_path / "team_budgets.csv", index=False)
    budgets[budgets["period"] == "2026-Q3"].to_csv(tmp_path / "teams_at_risk.csv", index=False)
    pd.DataFrame({"team": "a", "period": ["2026-09", "2026-10"], "usage_cost_usd": [3000.0, 3100.0],
                  "allocated_flat_usd": [100.0, 0.0], "total_usd": [3100.0, 3100.0]}).to_csv(
        tmp_path / "chargeback.csv", index=False)
    pd.DataFrame({"series": ["m/a/k1", "m/a/k2"], "model": "m", "team": "a", "api_key": ["k1", "k2"],
                  "status": "active"}).to_csv(tmp_path / "organisation_series.csv", index=False)
    pd.DataFrame({"series": ["m/a/k1", "m/a/k2"], "period": "horizon", "p50": [3660.0, 2440.0]}).to_csv(
        tmp_path / "cost_forecast.csv", index=False)
    return tmp_path


def _edit(folder: Path, name: str, row: int, column: str, value) -> None:
    table = pd.read_csv(folder / name)
    table[column] = table[column].astype(object)
    table.loc[row, column] = value
    table.to_csv(folder / name, index=False)


def test_a_consistent_organisation_folder_passes(tmp_path):
    assert _organisation(_folder(tmp_path)) == []


def test_a_folder_without_teams_has_nothing_to_check(tmp_path):
    assert _organisation(tmp_path) == []


@pytest.mark.parametrize("name, row, column, value, expected", [
    ("organisation_forecast.csv", 61 * 4, "p50", 61.0, "key P50 does not add up to team ('a',"),
    ("organisation_forecast.csv", 0, "p50", 130.0, "rows with quantiles out of order"),
    ("organisation_forecast.csv", 0, "p10", -5.0, "organisation_forecast: 1 rows with spend below zero"),
    ("cost_forecast.csv", 0, "p50", 4000.0,
     "team_budgets ('a', 'horizon'): P50 $6,100.00 less recorded != its series' $6,440.00 in cost_forecast"),
    ("team_budgets.csv", 1, "spend_p50", 3150.0, "team_budgets a 2026-10: P50 $3,150.00 less recorded $0.00"),
    ("team_budgets.csv", 2, "recorded_usd", 0.0, "team_budgets a 2026-Q3: P50 $3,500.00 less recorded $0.00"),
    ("team_budgets.csv", 2, "first_crossing_p50", "2026-09-30", "crossed at p50 on 2026-09-30, the path reaches"),
    ("chargeback.csv", 1, "usage_cost_usd", 3000.0, "chargeback ('a', '2026-10'): usage $3,000.00"),
    ("chargeback.csv", 0, "usage_cost_usd", 2900.0, "chargeback ('a', '2026-09'): usage $2,900.00 != team_budgets'"),
    ("teams_at_risk.csv", 0, "budget_usd", 3500.0, "teams_at_risk ('a', '2026-Q3'): budget_usd differs"),
    ("organisation_series.csv", 1, "status", "ended",
     "cost_forecast m/a/k2: $2,440.00 over the horizon (P50) for a series the organisation plans no spend for"),
])
def test_each_broken_identity_is_named(tmp_path, name, row, column, value, expected):
    folder = _folder(tmp_path)
    _edit(folder, name, row, column, value)
    assert any(expected in line for line in _organisation(folder)), _organisation(folder)
