"""A service launched a week before the history ends, flat since, run as a user runs it: its intervals are borrowed.

Twenty-six weeks of days of an established model and, beside it, a flat service launched eight days
before the end: one week-over-week change, whose spread is zero. A review's file like this one read the
launch's quarter as 255.69K (255.20K - 256.18K) requests, $290 ($289 - $290), and its days as an exact replay of
its last week +-0.1%, beside the established model's +-22%: a week-old launch was the plan's most certain number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.project_copy import kedro_run, make_project_copy
from tests.synthetic import usage_csv_rows

pytestmark = pytest.mark.e2e

DAYS = pd.date_range("2026-06-05", "2026-12-03", freq="D")
LAUNCH = DAYS[-8]


def _usage() -> pd.DataFrame:
    rng = np.random.default_rng(13)
    weekly = np.where(DAYS.dayofweek < 5, 1.0, 0.6)
    wander = np.exp(np.cumsum(rng.normal(0, 0.03, len(DAYS))))
    parts = {"claude-sonnet-4-5": 20_000.0 * weekly * wander * rng.lognormal(0, 0.08, len(DAYS)),
             "claude-haiku-4-5": np.where(DAYS >= LAUNCH, 3_000.0, 0.0) * rng.normal(1, 0.03, len(DAYS))}
    return usage_csv_rows(DAYS, parts)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    project = make_project_copy(tmp_path_factory.mktemp("young"))
    _usage().to_csv(project / "usage.csv", index=False)
    kedro_run(project, "usage_csv", "usage_file=usage.csv")
    (found,) = sorted((project / "data" / "08_reporting").glob("*/report.md"))
    return found.parent


def test_a_week_old_flat_launch_is_planned_no_more_certainly_than_the_established_model(report):
    totals = pd.read_csv(report / "forecast_totals.csv")
    horizon = totals[(totals["period"] == "horizon") & (totals["target"] == "requests")].set_index("series")
    ratio = horizon["p90"] / horizon["p50"]
    assert ratio["claude-haiku-4-5"] > 1.05
    assert ratio["claude-haiku-4-5"] >= 0.95 * ratio["claude-sonnet-4-5"]
    assert horizon.loc["claude-haiku-4-5", "p10"] / horizon.loc["claude-haiku-4-5", "p50"] < 0.95
    forecast = pd.read_csv(report / "forecast.csv")
    days = forecast[(forecast["target"] == "requests") & (forecast["series"] == "claude-haiku-4-5")]
    assert (days["p90"] / days["p50"]).median() > 1.03  # its days too: not a replay of its last week
    costs = pd.read_csv(report / "cost_forecast.csv")
    cost = costs[(costs["period"] == "horizon") & (costs["series"] == "claude-haiku-4-5")].iloc[0]
    assert cost["p90"] / cost["p50"] > 1.05
