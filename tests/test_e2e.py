"""End to end: ``kedro run --env test`` in a fresh copy of the project, twice.

The project's ``conf/``, ``pyproject.toml`` and ``src/`` are copied into a temporary
folder with empty data layers, and the ``kedro`` of the interpreter running the tests
(the project's venv under ``make test``) runs the default pipeline there as a
subprocess. The test environment simulates a short demo (conf/test), so a run takes
well under a minute. The first run's outputs are checked for sanity and against the
simulator's truth; a second run (with non-default planning ``--params``) must add a
second report folder and leave the first one untouched, and notebook 03 must start from
that run's plan.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.e2e

from tests.project_copy import PROJECT_ROOT, make_project_copy  # noqa: E402
from tests.report_consistency import inconsistencies  # noqa: E402
QUANTILES = ("p10", "p50", "p90")
RUN_TIMEOUT_SECONDS = 600
# Headings are matched loosely (case-insensitive substrings of a markdown heading), so
# rewording a section title does not break the test but dropping a section does.
REPORT_SECTIONS = ("forecast", "backtest", "shap", "capacity", "cost per route", "migration roi",
                   "checked against the bill")
# Days between the demo's built-in limit crossing and the one the capacity plan finds.
CROSSING_TOLERANCE_DAYS = 7


def _kedro_command() -> list[str]:
    """The ``kedro`` next to this interpreter (the venv's), else ``python -m kedro``."""
    script = Path(sys.executable).parent / "kedro"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kedro"]


def _kedro_run(project: Path, kedro_env: str = "test", *args: str) -> subprocess.CompletedProcess:
    """``kedro run --env <kedro_env> <args>`` in ``project``; fails the test with the output's tail."""
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_ENV"}
    env.update(KEDRO_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", MPLBACKEND="Agg", COLUMNS="200")
    result = subprocess.run([*_kedro_command(), "run", "--env", kedro_env, *args], cwd=project, env=env,
                            capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False)
    assert result.returncode == 0, (
        f"kedro run --env {' '.join([kedro_env, *args])} exited with {result.returncode}\n"
        f"--- stdout (tail) ---\n{result.stdout[-6000:]}\n--- stderr (tail) ---\n{result.stderr[-6000:]}"
    )
    return result


def _report_folders(project: Path) -> list[Path]:
    return sorted(p.parent for p in (project / "data" / "08_reporting").glob("*/report.md"))


def _fingerprints(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _naive_utc(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC (the history grid is naive UTC, forecast and source timestamps tz-aware)."""
    values = pd.to_datetime(values)
    return values.dt.tz_convert("UTC").dt.tz_localize(None) if values.dt.tz is not None else values


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A project copy and its first successful ``kedro run --env test`` (with what it printed)."""
    root = make_project_copy(tmp_path_factory.mktemp("e2e") / "project")
    return root, _kedro_run(root)


@pytest.fixture(scope="module")
def project(first_run) -> Path:
    """A project copy after one successful ``kedro run --env test``."""
    return first_run[0]


@pytest.fixture(scope="module")
def first_report(project) -> dict:
    """The report folders right after the first run, and the first one's file hashes."""
    folders = _report_folders(project)
    return {"folders": folders, "fingerprints": {f.name: _fingerprints(f) for f in folders}}


@pytest.fixture(scope="module")
def test_params(project) -> dict:
    with open(project / "conf" / "test" / "parameters_feature_engineering.yml") as f:
        return yaml.safe_load(f)["feature_engineering"]


@pytest.fixture(scope="module")
def forecast(project, first_report) -> pd.DataFrame:  # first_report: read before any second run
    return pd.read_parquet(project / "data" / "07_model_output" / "forecast.parquet")


@pytest.fixture(scope="module")
def truth(project) -> pd.DataFrame:
    """``demo_truth``: the simulator's expected and realised values, hourly per model and target."""
    files = list((project / "data" / "01_raw" / "demo_test").glob("truth-*.parquet"))
    assert len(files) == 1, f"expected one demo_test truth file, found {files}"
    return pd.read_parquet(files[0])


# The second run's planning parameters, not the defaults (notebook 03 must start from that run's plan).
SECOND_RUN_PARAMS = "planning.capacity.error_correlation=0.9,planning.roi.annual_discount_rate=0.3"


@pytest.fixture(scope="module")
def second_run(project, first_report, forecast, truth) -> Path:
    """``project`` after a second whole ``kedro run --env test`` with ``--params SECOND_RUN_PARAMS``.

    One run serves the checks of a second run (a new report folder, the first untouched) and those of
    notebook 03 after a run with its own parameters. Only the tests at the end of this file ask for it,
    after every check of the first run's outputs (``first_report``, ``forecast`` and ``truth`` are read
    before it runs).
    """
    _kedro_run(project, "test", "--params", SECOND_RUN_PARAMS)
    return project


@pytest.fixture(scope="module")
def capacity_notebook_after_the_second_run(second_run, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the project after the second run, in which notebook 03 ran clean with one cell added that
    saves its baseline plan and ROI (``baseline_plan.parquet`` and ``baseline_roi.parquet`` in the copy's
    folder); and what it printed."""
    import nbformat

    from tests.test_notebook import assert_runs_clean, execute_notebook

    work = tmp_path_factory.mktemp("notebook_03")
    copy = work / "project"
    shutil.copytree(second_run, copy, ignore=shutil.ignore_patterns("__pycache__", "notebooks"))
    notebook = copy / "notebooks" / "03_capacity_and_routes.ipynb"
    notebook.parent.mkdir()
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / notebook.name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('baseline_plan.to_parquet("baseline_plan.parquet")\n'
                                              'roi_of(params["planning"]).to_parquet("baseline_roi.parquet")'))
    nbformat.write(nb, notebook)
    with pytest.MonkeyPatch.context() as monkeypatch:
        nb = execute_notebook(notebook, work / "kernels", monkeypatch)
    assert_runs_clean(nb)
    return copy, _printed(nb)


def test_one_report_folder_with_all_sections(project, first_report):
    folders = first_report["folders"]
    assert len(folders) == 1, f"expected one data/08_reporting/<version>/report.md, found {folders}"
    assert not list((project / "data" / "08_reporting").glob(".*partial")), "a staging folder was left behind"
    headings = [line.lstrip("#").strip().lower()
                for line in (folders[0] / "report.md").read_text().splitlines() if line.startswith("#")]
    for section in REPORT_SECTIONS:
        assert any(section in heading for heading in headings), f"no '{section}' heading in {headings}"


def test_report_html_is_self_contained(project, first_report):
    page = (first_report["folders"][0] / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page and "<h2>Forecast</h2>" in page
    # Every figure is embedded, none is fetched from a file or the network: one forecast
    # figure per model, the backtest, the monthly drivers and the SHAP summary.
    models = pd.read_parquet(project / "data" / "07_model_output" / "forecast.parquet")["series"].nunique()
    sources = re.findall(r'<img src="([^"]*)"', page)
    figures = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", (first_report["folders"][0] / "report.md").read_text())
    # One forecast figure per model, the backtest, the drivers, the SHAP summary and the planning figures.
    assert len(sources) == len(figures) >= models + 3, (len(sources), len(figures), models)
    assert all(s.startswith("data:image/png;base64,") for s in sources), [s[:40] for s in sources]
    assert "http://" not in page and "https://" not in page


def test_route_and_roi_tables_are_in_the_report_folder(first_report):
    folder = first_report["folders"][0]
    costs = pd.read_csv(folder / "route_costs.csv")
    assert list(costs.columns) == ["route", "model", "period", *QUANTILES]
    assert (costs["p10"] <= costs["p50"]).all() and (costs["p50"] <= costs["p90"]).all()
    summary = pd.read_csv(folder / "roi_summary.csv")
    assert {"one_time_cost_usd", "monthly_saving_p50", "payback_month_p50", "npv_12m_p50",
            "annual_discount_rate"} <= set(summary.columns)
    flow = pd.read_csv(folder / "roi_cashflow.csv")
    assert {"route", "month", "saving_p50", "cumulative_p50", "extrapolated"} <= set(flow.columns)
    assert set(flow["month"]) == set(range(1, 13)) and flow["extrapolated"].any()
    text = (folder / "report.md").read_text()
    assert "relay_cny" in text and "not checked against a bill" in text
    # The relay's break-even credit rate carries its unit.
    assert re.search(r"credit rate ≤ [0-9.]+ CNY per USD of list-price usage", text)


def test_the_roi_extrapolates_the_simulated_growth_not_the_launches(first_report):
    """The simulator grows each model by its profile's monthly rate; its launches (x1.95 stated) are steps.
    The ROI's growth after the forecast is near the cost-weighted true rate (5.0% here); with the launch
    read as growth it was 11.1%."""
    from tokenplan.simulator import DEFAULT_PROFILES

    folder = first_report["folders"][0]
    costs = pd.read_csv(folder / "route_costs.csv")
    base = costs[(costs["route"] == "official_api") & (costs["period"] == "horizon")].set_index("model")["p50"]
    truth = sum(base[m] * DEFAULT_PROFILES[m].monthly_growth for m in base.index) / base.sum()
    summary = pd.read_csv(folder / "roi_summary.csv")
    assert summary["growth_after_forecast"].iloc[0] == pytest.approx(truth, abs=0.015), truth
    assert "Agent product launch (x1.95)" in summary["growth_stated_events"].iloc[0]


def test_no_two_tables_of_the_report_disagree(first_report, tmp_path):
    # Months add to the horizon, costs are tokens x the rates listed, the baseline route is the
    # cost forecast, savings are the routes' differences, the horizon's peak is every month's.
    assert inconsistencies(first_report["folders"][0]) == []
    # The check itself can fail: one month's cost moved by 10% breaks three identities.
    broken = shutil.copytree(first_report["folders"][0], tmp_path / "broken")
    costs = pd.read_csv(broken / "cost_forecast.csv")
    costs.loc[costs.index[0], "p50"] *= 1.1
    costs.to_csv(broken / "cost_forecast.csv", index=False)
    assert len(inconsistencies(broken)) >= 2
    # A P90 over its limit with no first day over (what the day-by-day reading printed) is caught too.
    plan = pd.read_csv(broken / "capacity_plan.csv")
    over = plan.index[plan["first_crossing_p90"].notna()][0]
    plan.loc[over, "first_crossing_p90"] = None
    plan.to_csv(broken / "capacity_plan.csv", index=False)
    assert any("p90 over the limit, no crossing" in line for line in inconsistencies(broken))


def test_report_opens_with_the_summary_and_says_the_data_is_simulated(project, first_report):
    text = (first_report["folders"][0] / "report.md").read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Summary", headings
    assert "simulated" in text.split("## Summary")[0].lower()
    summary = text.split("## Summary")[1].split("\n## ")[0]
    # The cost total across models is the sum of the per-model costs (P50).
    costs = pd.read_parquet(project / "data" / "07_model_output" / "cost_forecast.parquet")
    total = costs.loc[costs["period"] == "horizon", "p50"].sum()
    assert f"**${total:,.0f}**" in summary, summary
    assert "Largest risks" in summary and "change" in summary
    assert "## Why the forecast is what it is" in text
    drivers = pd.read_csv(project / "data" / "07_model_output" / "forecast_drivers.csv")
    assert {"level at the origin", "growth (trend anchor)", "forecast (P50)", "seasonality"} <= set(drivers["driver"])


def test_the_console_ends_with_the_report_path_and_the_summary_headline(first_run, first_report):
    project, result = first_run
    console = result.stdout + result.stderr
    # Kedro's own INFO lines (hundreds: a load, a save and a node line per dataset) are kept out.
    for chatter in ("Loading data from", "Saving data to", "Running node", "Completed node"):
        assert chatter not in console, chatter
    # Long steps show a bar; outside a terminal rich prints the finished bar once.
    assert re.search(r"Optuna tuning trials .* 3/3", result.stdout), result.stdout[-3000:]
    assert re.search(r"backtest folds .* (\d+)/\1", result.stdout), result.stdout[-3000:]
    tail = [line.strip() for line in result.stdout.splitlines() if line.strip()][-6:]
    folder = first_report["folders"][0]
    assert f"Report: {(folder / 'report.html').relative_to(project)}" in tail, tail
    # The headline is the report's own: its horizon cost (the per-model costs' sum, P50) and limit line.
    costs = pd.read_parquet(project / "data" / "07_model_output" / "cost_forecast.parquet")
    total = costs.loc[costs["period"] == "horizon", "p50"].sum()
    cost_line = next(line for line in tail if "cost (USD, list prices)" in line)
    assert f"forecast P50 ${total:,.0f}" in cost_line and cost_line.startswith("Horizon 20"), cost_line
    assert any(line.startswith(("First rate limit to bind:", "Rate limits:")) for line in tail), tail
    assert "simulated" in " ".join(tail), tail


def test_no_stray_figure_folder_outside_the_report(project, first_report):
    # Only the run's report folder (and the .gitkeep) under data/08_reporting.
    assert not (project / "data" / "08_reporting" / "figures").exists()


def test_diagnostics_notebook_runs_clean_on_the_run(project, first_report, tmp_path, monkeypatch):
    """It runs clean, and says what the report says: the backtest folds (the tuning ones apart), where a baseline
    beats the plan (counted as the report counts), every month's drivers, and the features by the report's labels."""
    import json

    import nbformat

    from tests.test_notebook import assert_runs_clean, execute_notebook
    from tokenplan.forecasting.explanations import FEATURE_LABELS

    notebooks = project / "notebooks"
    notebooks.mkdir(exist_ok=True)
    notebook = notebooks / "02_forecast_diagnostics.ipynb"
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / notebook.name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('print("features:", "|".join(t.get_text() '
                                              'for t in ax.get_yticklabels()))'))
    nbformat.write(nb, notebook)
    nb = execute_notebook(notebook, tmp_path / "kernels", monkeypatch)
    assert len(assert_runs_clean(nb)) >= 4, "expected the horizon, calibration, drivers and importance figures"
    printed = _printed(nb)
    layout = json.loads((project / "data" / "05_model_input" / "forecast_layout.json").read_text())
    day = 10 if layout["freq"] == "D" else 16  # an origin to the day, or to the hour
    assert (f"{len(layout['backtest_origins'])} backtest folds (origins {layout['backtest_origins'][0][:day]}"
            in printed), printed[:1500]
    assert f"after {len(layout['tuning_origins'])} tuning (origins {layout['tuning_origins'][0][:day]}" in printed
    report = (first_report["folders"][0] / "report.md").read_text()
    losses = re.search(r"A baseline beats the plan by more than the selection rule's margin \(5% of the plan's "
                       r"MASE\) on (\d+) of (\d+) planned series/targets", printed)
    assert losses, printed[-3000:]
    beaten = re.search(r"beat the chosen method by more than the selection rule's 5% on the backtest folds for (\d+) "
                       r"of (\d+) planned", report)
    assert losses.groups() == (beaten.groups() if beaten else ("0", losses.group(2))), (losses.groups(), beaten)
    assert "Every month of the horizon, one panel per model" in printed
    features = printed.split("features:")[1].strip().split("|")
    assert features and set(features) <= set(FEATURE_LABELS.values()), features


@pytest.mark.parametrize("model_forecasts", ["cache_read_tokens", None], ids=["no requests", "nothing"])
def test_diagnostics_notebook_says_why_it_has_no_requests_breakdown(project, first_report, tmp_path, monkeypatch,
                                                                    model_forecasts):
    """A run whose tuned model forecasts only some targets (the drivers of those instead, as the report shows),
    or none (no breakdown and no importance, and why): the drivers cell had raised "no numeric data to plot"."""
    import json

    from tests.test_notebook import assert_runs_clean, execute_notebook

    copy = tmp_path / "project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__", "notebooks"))
    outputs = copy / "data" / "07_model_output"
    drivers = pd.read_csv(outputs / "forecast_drivers.csv")
    drivers[drivers["target"] == model_forecasts].to_csv(outputs / "forecast_drivers.csv", index=False)
    if model_forecasts is None:
        pd.read_csv(outputs / "shap_importance.csv").iloc[:0].to_csv(outputs / "shap_importance.csv", index=False)
        selection_file = copy / "data" / "06_models" / "model_selection.json"
        selection = json.loads(selection_file.read_text())
        selection["methods"] = dict.fromkeys(selection["methods"], "mstl")
        selection_file.write_text(json.dumps(selection))
    notebook = copy / "notebooks" / "02_forecast_diagnostics.ipynb"
    notebook.parent.mkdir()
    shutil.copy2(PROJECT_ROOT / "notebooks" / notebook.name, notebook)
    nb = execute_notebook(notebook, tmp_path / "kernels", monkeypatch)
    images = assert_runs_clean(nb)
    printed = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
                      if out.output_type == "stream")
    if model_forecasts:
        assert "drivers of cache-read tokens instead" in printed, printed[-1500:]
        assert len(images) >= 4, "expected the horizon, calibration, drivers and importance figures"
    else:
        assert "No driver breakdown in this run: no series is forecast by the tuned model" in printed
        assert "MSTL (15)" in printed and "No global importance in this run" in printed, printed[-1500:]
        assert len(images) == 2, "expected the horizon and calibration figures only"


def _capacity_notebook_printed(project: Path, tmp_path: Path, monkeypatch) -> str:
    """What notebook 03, executed clean in ``project``, printed."""
    from tests.test_notebook import assert_runs_clean, execute_notebook

    notebooks = project / "notebooks"
    notebooks.mkdir(exist_ok=True)
    shutil.copy2(PROJECT_ROOT / "notebooks" / "03_capacity_and_routes.ipynb", notebooks)
    nb = execute_notebook(notebooks / "03_capacity_and_routes.ipynb", tmp_path / "kernels", monkeypatch)
    assert_runs_clean(nb)
    return _printed(nb)


def _printed(nb) -> str:
    """What an executed notebook's code cells printed."""
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
                   if out.output_type == "stream")


def test_capacity_and_routes_notebook_has_a_what_if_for_data_without_limits_or_events(project, first_report,
                                                                                       tmp_path, monkeypatch):
    """A user's run with no rate limits and no events: each what-if still changes something, and says what."""
    copy = tmp_path / "project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("08_reporting", "__pycache__", "notebooks"))
    for name in ("07_model_output/rate_limits.parquet", "03_primary/events_calendar.parquet"):
        path = copy / "data" / name
        pd.read_parquet(path).iloc[:0].to_parquet(path)
    printed = _capacity_notebook_printed(copy, tmp_path, monkeypatch)
    assert "No rate limits were given" in printed and "limit to ask for" in printed, printed[-2000:]
    assert "No rate limits were given: no limit can be crossed, so the first_crossing columns stay empty" in printed
    assert "a campaign is added instead" in printed and "what-if campaign: stated x1.00 -> x1.30" in printed


def test_forecast_quantiles_are_ordered_and_non_negative(forecast, test_params):
    assert set(QUANTILES) <= set(forecast.columns), forecast.columns.tolist()
    values = forecast[list(QUANTILES)]
    assert np.isfinite(values.to_numpy()).all()
    assert (values >= 0).all().all()
    assert (forecast["p10"] <= forecast["p50"]).all()
    assert (forecast["p50"] <= forecast["p90"]).all()
    steps = forecast.groupby(["series", "target"], observed=True)["timestamp"].nunique()
    assert (steps == test_params["horizon"]).all(), steps


def test_forecast_starts_after_the_history(project, forecast):
    usage = pd.read_parquet(project / "data" / "03_primary" / "usage_buckets.parquet", columns=["timestamp"])
    last_history = _naive_utc(usage["timestamp"]).max()
    assert list(forecast.columns[:6]) == ["series", "target", "timestamp", *QUANTILES]
    assert str(forecast["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert (_naive_utc(forecast["timestamp"]) > last_history).all(), (forecast["timestamp"].min(), last_history)


def test_p50_total_is_near_the_realised_future(forecast, truth):
    """Loose: P50 total over the horizon within 0.5-2x of what the simulator realised."""
    days = _naive_utc(forecast["timestamp"])
    future = truth[truth["is_future"]].copy()
    future["day"] = _naive_utc(future["timestamp"]).dt.floor("D")
    future = future[future["day"].between(days.min(), days.max())]
    assert future["day"].nunique() == days.nunique(), "the demo truth does not cover the whole horizon"
    realised = future.groupby(["model", "target"])["actual"].sum()
    model = forecast["series"].astype(str).str.split("/").str[0]  # series = model[/dimensions]
    predicted = forecast.groupby([model.rename("model"), forecast["target"].astype(str)])["p50"].sum()
    ratio = (predicted / realised).dropna()
    assert len(ratio) == len(realised), "forecast and truth cover different series"
    assert ratio.between(0.5, 2.0).all(), ratio.sort_values().to_string()


def test_capacity_plan_finds_the_demo_crossing_and_writes_the_gateway_config(project, first_report):
    """The test demo's Sonnet RPM limit is crossed by a planned campaign: the plan's first P50
    crossing is within a week of the truth's median first day over it (over the simulator's replays)."""
    folder = first_report["folders"][0]
    plan = pd.read_csv(folder / "capacity_plan.csv")
    expected = {"model_group", "period", "metric", "p50", "p90", "limit", "headroom_p90",
                "first_crossing_p50", "first_crossing_p90"}
    assert expected <= set(plan.columns)
    assert set(plan["metric"]) == {"rpm", "itpm", "otpm"} and "horizon" in set(plan["period"])
    assert (plan["p50"] <= plan["p90"]).all()
    row = plan[(plan["model_group"] == "Claude Sonnet 4.x") & (plan["metric"] == "rpm")
               & (plan["period"] == "horizon")].iloc[0]
    files = list((project / "data" / "01_raw" / "demo_test").glob("peaks-*.parquet"))
    assert len(files) == 1, files
    peaks = pd.read_parquet(files[0])
    replays = peaks[(peaks["model"] == "claude-sonnet-4-5") & (peaks["metric"] == "rpm") & (peaks["draw"] > 0)]
    # The truth: the median over the replays of each one's first day over the limit (a replay never over
    # counts as after the horizon).
    over = replays[replays["peak"] > row["limit"]].groupby("draw")["timestamp"].min()
    firsts = np.sort(_naive_utc(over).to_numpy())
    n = replays["draw"].nunique()
    assert len(firsts) > n / 2, "the truth's median replay never crosses the limit"
    truth = pd.Timestamp(firsts[(n + 1) // 2 - 1])
    found = pd.Timestamp(row["first_crossing_p50"])
    assert abs((found - truth).days) <= CROSSING_TOLERANCE_DAYS, (found, truth)
    # Each group's horizon P50 peak against the true median of the horizon's busiest minute.
    horizon = plan[plan["period"] == "horizon"]
    model_of = {"Claude Sonnet 4.x": "claude-sonnet-4-5", "Claude Opus 4.x": "claude-opus-4-5"}
    days = _naive_utc(peaks["timestamp"])
    for _, window in horizon[horizon["model_group"].isin(list(model_of))].iterrows():
        inside = (peaks["model"] == model_of[window["model_group"]]) & (peaks["metric"] == window["metric"]) & (
            days.between(pd.Timestamp(window["start"]).normalize(), pd.Timestamp(window["end"])))
        busiest = peaks[inside & (peaks["draw"] > 0)].groupby("draw")["peak"].max()
        assert 0.75 <= busiest.median() / window["p50"] <= 1.33, (window["model_group"], window["metric"],
                                                                  busiest.median(), window["p50"])
    config = yaml.safe_load((folder / "gateway" / "litellm_config.yaml").read_text())
    assert config["router_settings"]["optional_pre_call_checks"] == ["enforce_model_rate_limits"]
    sonnet = next(e for e in config["model_list"] if e["model_name"] == "claude-sonnet-4-5")["litellm_params"]
    assert sonnet["rpm"] <= row["limit"] and sonnet["api_key"] == "os.environ/ANTHROPIC_API_KEY"
    # The demo's limits have no tpm column: no TPM anywhere, in the plan (above), the gateway or the report.
    assert all(set(e["litellm_params"]) <= {"model", "api_key", "rpm", "itpm", "otpm"} for e in config["model_list"])
    report = (folder / "report.md").read_text()
    assert "first limit to bind: Claude Sonnet 4.x RPM" in report and "capacity_plan.csv" in report
    assert not re.search(r"\bTPM\b", report.split("\n## Capacity:")[1].split("\n## ")[0])


def test_second_run_adds_a_report_and_keeps_the_first(second_run, first_report):
    project = second_run
    folders = _report_folders(project)
    assert len(folders) == 2, folders
    first = first_report["folders"][0]
    assert first in folders
    assert _fingerprints(first) == first_report["fingerprints"][first.name], "the first report was modified"
    assert (folders[-1] / "report.md").stat().st_size > 0
    # The second report says what changed since the first; the first had nothing to compare.
    assert f"*Last report* is the previous run's forecast (`{first.name}`" in (folders[-1] / "report.md").read_text()
    assert "Last report" not in (first / "report.md").read_text()


def test_a_completed_run_leaves_no_journal_or_lock_holder_and_says_what_it_read(project, first_report):
    # Issue 9: the journal of replaced outputs is deleted once a run completes, the lock is
    # free (an flock dies with its process), and the report records the bucket width.
    assert not (project / "data" / ".tokenplan-journal").exists()
    from tokenplan.run_lock import RunLock
    lock = RunLock(project / "data" / ".tokenplan-run.lock")
    lock.acquire()
    lock.release()
    report = (first_report["folders"][0] / "report.md").read_text()
    assert "## Data read" in report and "buckets: hourly (`h`)" in report
    assert pd.read_parquet(project / "data" / "03_primary" / "usage_buckets.parquet").attrs["bucket"] == "h"


def test_capacity_and_routes_notebook_reruns_the_planning_nodes(capacity_notebook_after_the_second_run):
    _, printed = capacity_notebook_after_the_second_run
    # Each what-if printed its before/after (the test demo has limits, a relay and a stated campaign).
    assert "limit x1.5" in printed and "credit rate x2" in printed and "restated" in printed, printed[-2000:]


def test_capacity_and_routes_notebook_starts_from_the_plan_of_a_run_with_its_own_params(
        capacity_notebook_after_the_second_run):
    """After a run with non-default ``--params``, notebook 03's baseline is that run's ``capacity_plan`` and
    ``roi_summary``: the notebook takes the run's parameters from its report folder, not conf/'s defaults (which
    had read an hourly run's buckets as days: Opus RPM P50 4.89 where the report had 132)."""
    copy, _ = capacity_notebook_after_the_second_run
    key = ["model_group", "metric"]
    saved = pd.read_parquet(copy / "data" / "07_model_output" / "capacity_plan.parquet")
    saved = saved[saved["period"] == "horizon"].set_index(key).sort_index()
    baseline = pd.read_parquet(copy / "baseline_plan.parquet").set_index(key).sort_index()
    pd.testing.assert_frame_equal(baseline[["p50", "p90", "limit"]], saved[["p50", "p90", "limit"]])
    columns = ["monthly_saving_p50", "payback_month_p50", "npv_12m_p10", "npv_12m_p50", "npv_12m_p90"]
    saved_roi = pd.read_parquet(copy / "data" / "07_model_output" / "roi_summary.parquet").set_index("route")
    baseline_roi = pd.read_parquet(copy / "baseline_roi.parquet").set_index("route")
    pd.testing.assert_frame_equal(baseline_roi[columns], saved_roi[columns])
