"""Three weeks of an Anthropic Console export, run as a user runs it: a plan, no warnings, totals that add up.

A Console export is day totals of tokens per model, often only a few weeks of them: the
shortest history the plan is made from, a quarter ahead. Such a run printed a numpy
"Mean of empty slice" (a method no fold could fit) and a pandas concat FutureWarning (no
whole month of history to fit the ROI's growth to). Its totals, four months past 3-day
backtest windows, must still add up and widen with the distance (the level-share floor
that keeps them widening is tested on known numbers in ``tests/test_totals.py``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.project_copy import kedro_run, make_project_copy

HEADER = ("usage_date_utc,model_version,usage_input_tokens_no_cache,usage_input_tokens_cache_write_5m,"
          "usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,usage_output_tokens")
MODELS = {"claude-opus-4-5": 7e7, "claude-sonnet-4-5": 5e7, "claude-haiku-4-5": 4e7}
# A model retired early in the export: its last day of usage is 15 days before the history ends.
RETIRED, RETIRED_LAST = "claude-3-5-haiku", pd.Timestamp("2026-09-15")


def _export() -> str:
    """21 days (2026-09-10 to 09-30) for three models: a weekday pattern and day-to-day noise; a fourth
    model's rows stop on 2026-09-15."""
    rng = np.random.default_rng(21)
    days = pd.date_range("2026-09-10", "2026-09-30", freq="D")
    lines = [HEADER]
    for day in days:
        weekday = 1.0 if day.dayofweek < 5 else 0.45
        for model, base in [*MODELS.items(), *([(RETIRED, 3e7)] if day <= RETIRED_LAST else [])]:
            level = base * weekday * rng.lognormal(0.0, 0.25)
            lines.append(f"{day:%Y-%m-%d},{model},{level:.0f},{0.2 * level:.0f},0,{0.8 * level:.0f},"
                         f"{0.06 * level:.0f}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    project = make_project_copy(tmp_path_factory.mktemp("console"))
    (project / "console.csv").write_text(_export())
    result = kedro_run(project, "anthropic_console", "usage_file=console.csv")
    return project, result


@pytest.mark.e2e
def test_a_three_week_console_export_runs_without_a_warning(run):
    _, result = run
    printed = result.stdout + result.stderr
    warnings = re.findall(r"\w+Warning: [^\n]*", printed)
    assert not warnings, warnings
    assert re.search(r"Report: data/08_reporting/[^/]+/report\.html", printed)


@pytest.mark.e2e
def test_its_quarter_totals_past_the_window_are_no_narrower_than_a_month(run):
    project, _ = run
    totals = pd.read_parquet(project / "data" / "07_model_output" / "forecast_totals.parquet")
    for (series, target), rows in totals.groupby(["series", "target"]):
        rows = rows.set_index("period")
        width = np.log(rows["p90"] / rows["p10"])
        months = width.drop("horizon")
        assert (np.diff(months.to_numpy()) >= -1e-6).all(), (series, target, months)
        # Three weeks of history: a quarter's total is at least as uncertain, relative to its
        # size, as its first month's, which the backtest's 3-day windows already lie far from.
        assert width["horizon"] >= 0.99 * months.iloc[0], (series, target, width)
        sums = rows.drop("horizon")[["p10", "p90"]].sum()
        assert rows.loc["horizon", "p10"] >= sums["p10"] * (1 - 1e-9)
        assert rows.loc["horizon", "p90"] <= sums["p90"] * (1 + 1e-9)


@pytest.mark.e2e
def test_its_peak_backtest_counts_a_fold_inside_one_month_once(run):
    # The 3-day folds lie inside September: a "month" window that is the whole fold was listed
    # beside the whole window, the same peaks twice, as if the months had been backtested.
    project, _ = run
    rows = pd.read_parquet(project / "data" / "07_model_output" / "capacity_backtest.parquet")
    keys = ["model_group", "metric", "origin", "start", "end"]
    months, whole = rows[rows["kind"] == "month"], rows[rows["kind"] == "horizon"]
    assert len(whole) and months.merge(whole, on=keys).empty


@pytest.mark.e2e
def test_its_report_says_the_peak_backtest_cannot_check_burstiness(run):
    project, _ = run
    report = next((project / "data" / "08_reporting").glob("*/report.md")).read_text()
    assert "**The history has no per-minute peaks here**" in report
    assert "this backtest checks the forecast of totals, not how bursty a minute gets" in report
    # Daily buckets: the daily factor is the assumption, and the hourly one is not named beside it.
    assert "busiest minute = mean minute x6 for daily usage buckets (" in report and "for hourly usage" not in report


@pytest.mark.e2e
def test_its_report_says_the_history_ends_weeks_before_the_run(run):
    # The export ends 2026-09-30; any run of it from mid-October on is planned from stale data.
    project, _ = run
    report = next((project / "data" / "08_reporting").glob("*/report.md")).read_text()
    assert "**The usage history ends 2026-09-30, " in report
    assert "  The usage history ends 2026-09-30, " in run[1].stdout + run[1].stderr  # the console's closing lines


@pytest.mark.e2e
def test_a_model_without_usage_in_the_last_two_weeks_is_named_and_not_planned(run):
    # Forecast at its old level, it was priced for the whole quarter as if still in use.
    project, _ = run
    totals = pd.read_parquet(project / "data" / "07_model_output" / "forecast_totals.parquet")
    assert RETIRED not in set(totals["series"]) and set(MODELS) <= set(totals["series"])
    report = next((project / "data" / "08_reporting").glob("*/report.html")).read_text()
    assert (f"Not in this plan, ended:</strong> {RETIRED} (last usage {RETIRED_LAST:%Y-%m-%d}, 15 days before "
            "the history ends)") in report
