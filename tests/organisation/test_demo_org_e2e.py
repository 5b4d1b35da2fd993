"""End to end on the demo organisation: ``kedro run --env demo_org`` in a fresh copy of the project.

Checked against the simulator's truth (the noise-free expected spend it drew from):
every level's P50 adds up to its parent's, each budget's crossing date is within a week
of the truth's where the truth crosses, the teams most at risk are the truth's top
five, the LiteLLM team budgets load in LiteLLM's types, and ``kedro run --pipelines
monitor`` flags a key whose spend is tripled mid-month and no other key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.project_copy import make_project_copy
from tests.test_e2e import _kedro_run

pytestmark = pytest.mark.e2e

CROSSING_TOLERANCE_DAYS = 7
TOP = 5
TRIPLED_KEY = ("search", "web")
TRIPLED_FROM = "2026-10-14"
MONTH_SO_FAR_END = "2026-10-22"  # exclusive: usage of October 1-21


def _kedro(project: Path, *args: str) -> None:
    _kedro_run(project, "demo_org", *args)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = make_project_copy(tmp_path_factory.mktemp("demo_org") / "project")
    _kedro(root)
    return root


@pytest.fixture(scope="module")
def report(project) -> Path:
    folders = sorted(p.parent for p in (project / "data" / "08_reporting").glob("*/report.md"))
    assert len(folders) == 1
    return folders[0]


@pytest.fixture(scope="module")
def simulation(project):
    from tokenplan.simulator import simulate

    with open(project / "conf" / "demo_org" / "catalog.yml") as f:
        return simulate(yaml.safe_load(f)["_demo_org"]["config"])


@pytest.fixture(scope="module")
def budgets(project) -> pd.DataFrame:
    return pd.read_csv(project / "conf" / "demo_org" / "budgets_demo.csv")


@pytest.fixture(scope="module")
def true_daily_spend(simulation) -> pd.DataFrame:
    """The truth's expected USD per team and future day, at the plan's prices (the first forecast day's)."""
    from tokenplan.planning.prices import unit_prices

    truth = simulation.truth[simulation.truth["is_future"] & (simulation.truth["target"] != "requests")]
    rates = {m: unit_prices(m, dt.date(2026, 10, 1)).usd_per_mtok for m in truth["model"].unique()}
    usd = truth["expected"] * [rates[m][t] / 1e6 for m, t in zip(truth["model"], truth["target"], strict=True)]
    days = truth["timestamp"].dt.tz_convert(None).dt.floor("D")
    return usd.groupby([truth["workspace"], days]).sum().rename_axis(["team", "ds"]).rename("usd").reset_index()


def _truth_periods(true_daily_spend: pd.DataFrame, budgets: pd.DataFrame) -> pd.DataFrame:
    """Per budget: the truth's spend in its period, spend over budget, and first crossing day ('' if none)."""
    rows = []
    for b in budgets.itertuples():
        spend = true_daily_spend[true_daily_spend["team"] == b.team].sort_values("ds")
        quarter = "Q" in b.period
        period = spend["ds"].dt.to_period("Q" if quarter else "M").astype(str).str.replace("Q", "-Q")
        in_period = spend[period.str.replace("--", "-") == b.period]
        path = in_period["usd"].cumsum().to_numpy()
        hit = np.flatnonzero(path >= b.usd)
        rows.append({"team": b.team, "period": b.period, "ratio": path[-1] / b.usd,
                     "crossing": "" if hit.size == 0 else f"{in_period['ds'].iloc[hit[0]]:%Y-%m-%d}"})
    return pd.DataFrame(rows)


def test_every_levels_p50_adds_up_to_its_parent(report):
    forecast = pd.read_csv(report / "organisation_forecast.csv")
    p50 = forecast.set_index(["level", "node", "ds"])["p50"]
    parents = {"series": ("key", 2), "key": ("team", 1), "team_model": ("team", 1), "team": ("organisation", 0),
               "model": ("organisation", 0)}
    for level, (parent_level, keep) in parents.items():
        rows = forecast[forecast["level"] == level]
        parent = rows["node"].str.split("/").str[:keep].str.join("/") if keep else "organisation"
        summed = rows.assign(parent=parent).groupby(["parent", "ds"])["p50"].sum()
        expected = p50.loc[parent_level].loc[summed.index]
        np.testing.assert_allclose(summed.to_numpy(), expected.to_numpy(), rtol=1e-9,
                                   err_msg=f"{level} does not add up to {parent_level}")
    assert forecast["level"].nunique() == 6


def test_the_output_tables_have_their_fixed_columns(report):
    assert list(pd.read_csv(report / "team_budgets.csv").columns) == [
        "team", "period", "spend_p10", "spend_p50", "spend_p90", "recorded_usd", "budget_usd", "p_exceed",
        "first_crossing_p50", "first_crossing_p90", "crossed_in_recorded", "not_checked"]
    assert list(pd.read_csv(report / "chargeback.csv").columns) == [
        "team", "period", "recorded_usd", "usage_cost_usd", "unpriced_models", "allocated_flat_usd", "total_usd"]
    scores = pd.read_csv(report / "hierarchy_backtest.csv")
    assert {"level", "method", "mase", "coverage"} <= set(scores.columns)
    assert set(scores["method"]) == {"base", "bottom_up", "mint_ols", "mint_shrink"}
    assert "## The organisation" in (report / "report.md").read_text()


def test_the_added_intervals_are_not_called_wide_where_the_backtest_found_them_narrow(report):
    # Adding quantiles is the widest sum only if the series' own intervals hold: the backtest's daily
    # coverage per level says whether the organisation's and the teams' did.
    from tokenplan.reporting.organisation_section import NARROW_COVERAGE, WIDE_COVERAGE

    scores = pd.read_csv(report / "hierarchy_backtest.csv")
    chosen = scores[scores["chosen"] & scores["level"].isin(["organisation", "team"])].set_index("level")["coverage"]
    markdown = (report / "report.md").read_text()
    narrow = chosen[chosen < NARROW_COVERAGE]
    assert ("narrower than nominal" in markdown) == (not narrow.empty)
    # A daily figure says nothing of the monthly intervals: the text reads it as the days' only.
    assert ("read the daily intervals there as **narrower than nominal**" in markdown) == (not narrow.empty)
    assert "slightly wide" not in markdown.split("## The organisation")[1]
    assert ("the widest its parts allow, wider than a sum of independent parts" in markdown) == narrow.empty
    organisation = chosen.get("organisation")
    if narrow.empty and organisation is not None and organisation >= WIDE_COVERAGE:
        assert f"held {organisation:.0%} of the organisation's days" in markdown
        assert "read the organisation's" in markdown and "intervals as **wide**" in markdown
    for level, coverage in narrow.items():
        assert f"{coverage:.0%} of the {level}'s days" in markdown


def test_no_two_tables_disagree(report):
    # Every identity of the report folder, the organisation's included (levels add up, a team's spend is one
    # value in team_budgets, chargeback and teams_at_risk, crossing dates follow the cumulative paths).
    from tests.report_consistency import inconsistencies

    assert inconsistencies(report) == []


def test_team_months_add_up_to_the_cost_table(report):
    # One quantity, one value: the teams' P50 months add up to the per-series cost table's.
    teams = pd.read_csv(report / "team_budgets.csv")
    costs = pd.read_csv(report / "cost_forecast.csv")
    for period, total in costs.groupby("period")["p50"].sum().items():
        assert teams.loc[teams["period"] == period, "spend_p50"].sum() == pytest.approx(total, rel=1e-6)


def test_budget_crossings_are_within_a_week_of_the_truths(report, true_daily_spend, budgets):
    table = pd.read_csv(report / "team_budgets.csv", keep_default_na=False).set_index(["team", "period"])
    truth = _truth_periods(true_daily_spend, budgets)
    crossing = truth[truth["crossing"] != ""]
    assert len(crossing) >= 5, "the demo's budgets should be crossed in several periods"
    for row in crossing.itertuples():
        planned = table.loc[(row.team, row.period), "first_crossing_p50"]
        assert planned, f"{row.team} {row.period}: the truth crosses on {row.crossing}, the plan never does"
        days = abs((pd.Timestamp(planned) - pd.Timestamp(row.crossing)).days)
        assert days <= CROSSING_TOLERANCE_DAYS, (row.team, row.period, planned, row.crossing)


def test_teams_at_risk_are_the_truths_top_five(report, true_daily_spend, budgets):
    truth = _truth_periods(true_daily_spend, budgets)
    truth_top = set(truth.groupby("team")["ratio"].max().sort_values(ascending=False).index[:TOP])
    markdown = (report / "report.md").read_text()
    section = markdown.split("### Teams most at risk")[1].split("###")[0]
    listed = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")][1:]
    assert set(listed) == truth_top


def test_litellm_team_budgets_load_in_litellms_types(report, budgets):
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    litellm_types = pytest.importorskip("litellm.proxy._types")
    payloads = json.loads((report / "gateway" / "litellm_team_budgets.json").read_text())
    assert {p["team_alias"] for p in payloads} == set(budgets["team"])
    for payload in payloads:
        request = litellm_types.NewTeamRequest(**payload)
        assert set(payload) <= set(litellm_types.NewTeamRequest.model_fields)
        assert request.soft_budget == pytest.approx(0.8 * request.max_budget)
    from litellm.proxy.common_utils.timezone_utils import budget_duration_error  # what the proxy's /team/new checks

    assert {p["budget_duration"]: budget_duration_error(p["budget_duration"]) for p in payloads} == {
        "1mo": None, "92d": None}  # search's 2026-Q4 budget: October 1 to December 31


def _month_so_far(simulation, tripled: bool) -> pd.DataFrame:
    """The history plus October 1-21 as recorded, optionally with one key's spend tripled from mid-month."""
    truth = simulation.truth
    future = truth[truth["is_future"] & (truth["timestamp"] < pd.Timestamp(MONTH_SO_FAR_END, tz="UTC"))]
    wide = future.pivot_table(index=["timestamp", "model", "workspace", "api_key"], columns="target",
                              values="actual").reset_index()
    if tripled:
        team, key = TRIPLED_KEY
        hit = ((wide["workspace"] == team) & (wide["api_key"] == key)
               & (wide["timestamp"] >= pd.Timestamp(TRIPLED_FROM, tz="UTC")))
        counts = ["requests", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"]
        wide.loc[hit, counts] *= 3
    return pd.concat([simulation.usage, wide], ignore_index=True)


def _monitor(project: Path, usage: pd.DataFrame) -> pd.DataFrame:
    usage.to_parquet(project / "data" / "01_raw" / "month_so_far.parquet")
    catalog = project / "conf" / "demo_org" / "catalog.yml"
    text = catalog.read_text()
    text = text.replace("raw_usage:\n  <<: *demo_org\n  part: usage\n",
                        "raw_usage:\n  type: pandas.ParquetDataset\n  filepath: data/01_raw/month_so_far.parquet\n")
    catalog.write_text(text)
    _kedro(project, "--pipelines", "monitor")
    checks = sorted((project / "data" / "08_reporting" / "monitor").glob("*/month_to_date.csv"))
    return pd.read_csv(checks[-1], keep_default_na=False)  # each check writes its own folder


@pytest.fixture(scope="module")
def monitored(project, report, simulation) -> dict[str, pd.DataFrame]:  # report: the plan run's folder first
    # The month so far is read from a file, as a user's export is, and the monitor compares a user's usage only
    # with a plan of a user's usage (never the simulated demo's): the plan is recorded as one, as a plan made
    # from an export of this same history would be (its history's last days still have to agree).
    source = report / "data_source.json"
    source.write_text(source.read_text().replace('"kind": "simulated demo"', '"kind": "usage data"'))
    checks = {"as recorded": _monitor(project, _month_so_far(simulation, tripled=False)),
              "tripled": _monitor(project, _month_so_far(simulation, tripled=True))}
    assert {table["plan_report"].unique().tolist()[0] for table in checks.values()} == {report.name}
    return checks


def test_the_monitor_flags_the_tripled_key_and_no_other(monitored):
    # A P10-P90 band is left by chance one time in five: a flag the tripling adds is the
    # tripling's. In this seeded month at most one key is outside its band as recorded
    # (search/batch, 0.6% above its P90), and the tripling flags exactly one more.
    recorded = monitored["as recorded"].set_index(["level", "node"])["status"]
    assert (recorded.loc["key"] != "inside").sum() <= 1
    table = monitored["tripled"]
    before = recorded.reindex(pd.MultiIndex.from_frame(table[["level", "node"]])).to_numpy()
    added = table[(table["status"] != "inside") & (before == "inside")]
    assert added.loc[added["level"] == "key", "node"].tolist() == ["/".join(TRIPLED_KEY)]
    keys = table[table["level"] == "key"]
    assert keys.loc[keys["node"] == "/".join(TRIPLED_KEY), "status"].item() == "above"
    assert table["first_day"].unique().tolist() == ["2026-10-01"] and table["last_day"].unique().tolist() == [
        "2026-10-21"]
    # Every team, model or total the tripling flags names one of the tripled key's series as its largest contributor.
    for row in added.itertuples():
        first = row.largest_contributors.split(";")[0]
        assert "/search/web " in first, (row.level, row.node, row.largest_contributors)


def test_the_report_shows_the_teams_at_risk_figure(report):
    markdown = (report / "report.md").read_text()
    assert "](budget_paths.png)" in markdown and (report / "budget_paths.png").stat().st_size > 10_000


def test_a_near_certain_budget_overrun_reads_the_same_in_the_table_and_the_summary(report):
    """labs and data are over their October budgets at P10: the at-risk table read "100%" beside the summary's
    "over 99% likely over"; both now say ">99%", a chance, not a certainty."""
    markdown = (report / "report.md").read_text()
    table = markdown[markdown.index("### Teams most at risk"):markdown.index("### Teams and keys")]
    assert "| 100% |" not in table and "| >99% |" in table, table
    assert ">99% likely over" in markdown.split("## Forecast")[0]
