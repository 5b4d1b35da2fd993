"""A team's traffic moved from one model to its successor, run as a user runs it: a plan as if it had not moved.

Sixteen weeks of days: one Sonnet traffic on claude-sonnet-4 moves to claude-sonnet-4-5 over two
weeks, two weeks before the end, 3% left on the old model; a steady Opus beside it. Forecast apart,
a review's file like this one read the Sonnet group's busiest minute at P50 five times the history's,
a cost interval of $2,610 to $310,513 around $45,890, and the Opus's quarter interval four times as
wide as with the two Sonnets merged (the fold that straddled the move set every series' widths).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.project_copy import kedro_run, make_project_copy
from tests.synthetic import usage_csv_rows

pytestmark = pytest.mark.e2e

DAYS = pd.date_range("2026-08-10", "2026-11-29", freq="D")
MOVE = DAYS[-28]
LIMITS = ("model_group,models,rpm,itpm,otpm,as_of\n"
          "Claude Sonnet 4.x,claude-sonnet-4 claude-sonnet-4-5,400,800000,160000,2026-11-01\n"
          "Claude Opus 4.x,claude-opus-4-5,100,200000,40000,2026-11-01\n")


def _usage() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    weekly = np.where(DAYS.dayofweek < 5, 1.0, 0.55)
    traffic = 80_000.0 * weekly * rng.lognormal(0.0, 0.05, len(DAYS))
    old_share = np.clip(1.0 - ((DAYS - MOVE).days.to_numpy() + 1) / 14.0, 0.03, 1.0)
    parts = {"claude-sonnet-4": traffic * old_share, "claude-sonnet-4-5": traffic * (1 - old_share),
             "claude-opus-4-5": 6_000.0 * weekly * rng.lognormal(0.0, 0.05, len(DAYS))}
    return usage_csv_rows(DAYS, parts)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, pd.DataFrame, subprocess.CompletedProcess]:
    project = make_project_copy(tmp_path_factory.mktemp("migration"))
    usage = _usage()
    usage.to_csv(project / "usage.csv", index=False)
    (project / "limits.csv").write_text(LIMITS)
    result = kedro_run(project, "usage_csv", "usage_file=usage.csv,rate_limits_file=limits.csv")
    (report,) = sorted((project / "data" / "08_reporting").glob("*/report.md"))
    return report.parent, usage, result


def test_the_moved_traffic_is_planned_at_its_level_and_the_report_says_how(run):
    folder, usage, result = run
    sonnet = usage[usage["model"].str.startswith("claude-sonnet")]
    level = sonnet.groupby("timestamp")["requests"].sum().tail(28).mean()
    totals = pd.read_csv(folder / "forecast_totals.csv")
    horizon = totals[(totals["period"] == "horizon") & (totals["target"] == "requests")].set_index("series")
    planned = horizon.loc[["claude-sonnet-4", "claude-sonnet-4-5"], ["p10", "p50", "p90"]].sum()
    days = int(horizon["buckets"].iloc[0])
    assert 0.8 < planned["p50"] / days / level < 1.25
    assert planned["p90"] / planned["p50"] < 1.3 and planned["p10"] / planned["p50"] > 0.75
    assert horizon.loc["claude-sonnet-4", "p50"] / planned["p50"] == pytest.approx(0.03, abs=0.01)
    report = (folder / "report.md").read_text()
    assert "Traffic moved to claude-sonnet-4-5, forecast as one series" in report
    assert "last days run below the plan" not in report  # the old model's fall is the move, read as the traffic's
    assert "Traffic moved to claude-sonnet-4-5" in result.stdout + result.stderr


def test_its_cost_interval_and_the_steady_model_s_are_no_wider_than_the_traffic_s_own(run):
    folder, _, _ = run
    costs = pd.read_csv(folder / "cost_forecast.csv")
    horizon = costs[costs["period"] == "horizon"][["p10", "p50", "p90"]].sum()
    assert horizon["p90"] / horizon["p50"] < 1.3 and horizon["p10"] / horizon["p50"] > 0.75
    totals = pd.read_csv(folder / "forecast_totals.csv")
    opus = totals[(totals["period"] == "horizon") & (totals["target"] == "requests")
                  & (totals["series"] == "claude-opus-4-5")].iloc[0]
    assert opus["p90"] / opus["p50"] < 1.3


def test_its_capacity_plan_stays_near_the_history_s_busiest_minute(run):
    folder, _, _ = run
    plan = pd.read_csv(folder / "capacity_plan.csv")
    row = plan[(plan["model_group"] == "Claude Sonnet 4.x") & (plan["period"] == "horizon")
               & (plan["metric"] == "rpm")].iloc[0]
    assert row["p50"] <= 1.5 * row["history_peak"]
