"""The reporting pipeline, wired, on a user's kind of data: many workspaces, no rate limits, no
events, an unpriced fine-tuned model, a token type never used, a series no baseline could score.

It runs the routes and ROI nodes and every reporting node but the capacity section (the
capacity plan here has no limits) and SHAP (no tuned model) on an in-memory catalog, with
warnings as errors: a user's run must not print pandas or matplotlib warnings. With 50
series the report draws the largest few and says which, leaving the rest to the CSVs.
"""

from __future__ import annotations

import base64
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure
from PIL import Image

from tokenplan.forecasting.migrations import MIGRATION_COLUMNS
from tokenplan.pipelines.planning.pipeline import create_pipeline as planning_pipeline
from tokenplan.pipelines.reporting.pipeline import create_pipeline as reporting_pipeline
from tokenplan.planning.prices import PRICE_TABLE_COLUMNS
from tokenplan.reporting.plots import PNG_SAVE_ARGS
from tokenplan.run_record import run_record

PROJECT_ROOT = Path(__file__).resolve().parents[3]
FINE_TUNED = "ft:gpt-4o-mini:acme::abc123"
WORKSPACES = 49
SERIES = [*(f"claude-sonnet-4-5/ws-{k:02d}" for k in range(WORKSPACES)), FINE_TUNED]
TARGETS = {"requests": 1_000.0, "input_tokens": 2e6, "cache_write_tokens": 0.0, "output_tokens": 1e5}
Q = ["p10", "p50", "p90"]
HISTORY = pd.date_range("2026-06-15", "2026-09-30", freq="D")
HORIZON = pd.date_range("2026-10-01", "2026-12-30", freq="D")
SHOWN = 12


def _size(series: str) -> float:
    """Workspace k uses (k + 1) units; the fine-tuned model is the largest of all."""
    return 60.0 if series == FINE_TUNED else float(int(series.rsplit("-", 1)[1]) + 1)


def _history() -> pd.DataFrame:
    return pd.DataFrame([{"series": s, "target": t, "ds": d, "y": v * _size(s)}
                         for s in SERIES for t, v in TARGETS.items() for d in HISTORY])


def _forecast() -> pd.DataFrame:
    days = HORIZON.tz_localize("UTC")
    frame = pd.DataFrame([{"series": s, "target": t, "v": v * _size(s)} for s in SERIES for t, v in TARGETS.items()])
    frame = frame.merge(pd.DataFrame({"timestamp": days}), how="cross")
    return frame.assign(p10=0.9 * frame["v"], p50=frame["v"], p90=1.1 * frame["v"]).drop(columns="v")


def _totals(forecast: pd.DataFrame) -> pd.DataFrame:
    day = forecast.assign(ds=forecast["timestamp"].dt.tz_convert(None))
    out = []
    for period, rows in [*((str(p), day[day["ds"].dt.to_period("M") == p]) for p in HORIZON.to_period("M").unique()),
                         ("horizon", day)]:
        total = rows.groupby(["series", "target"], as_index=False)[Q].sum()
        out.append(total.assign(period=period, start=rows["ds"].min(), end=rows["ds"].max(),
                                buckets=rows["ds"].nunique()))
    return pd.concat(out, ignore_index=True)


def _backtest() -> pd.DataFrame:
    rows = []
    for s in [*SERIES, "all"]:
        for t in TARGETS:
            for method in ("chosen", "seasonal_naive", "mstl"):
                # A never-used token type has no naive error to scale by; one workspace's baselines
                # could not be scored at all (too short for their seasons).
                mase = (np.inf if t == "cache_write_tokens" else
                        np.nan if s == "claude-sonnet-4-5/ws-03" and method != "chosen" else 0.8)
                rows.append({"series": s, "target": t, "method": method, "mase": mase, "wape": 0.1,
                             "pinball": 0.05, "coverage": 0.8, "winkler": 0.5, "n": 91})
    return pd.DataFrame(rows)


class _Kept(MemoryDataset):
    def _release(self) -> None:
        pass


def _assigned_in_the_catalog() -> set[str]:
    """The memory datasets the project's catalog passes between nodes without a copy (figures)."""
    entries = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog_08_reporting.yml").read_text())
    return {name for name, entry in entries.items() if isinstance(entry, dict) and entry.get("copy_mode") == "assign"}


def _backtest_predictions() -> pd.DataFrame:
    """Two methods' backtest of one fold: the plan's choice ("chosen") and a baseline."""
    days = pd.date_range("2026-09-02", periods=28, freq="D")
    fold = pd.DataFrame({"series": SERIES[0], "target": "requests", "origin": pd.Timestamp("2026-09-01"), "ds": days,
                         "step": np.arange(1, 29), "y": 1_000.0, "p10": 900.0, "p50": 1_000.0, "p90": 1_100.0})
    return pd.concat([fold.assign(method="chosen"), fold.assign(method="seasonal_naive")], ignore_index=True)


@pytest.fixture(scope="module")
def run() -> dict:
    planning = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_planning.yml").read_text())["planning"]
    reporting = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_reporting.yml").read_text())["reporting"]
    forecast = _forecast()
    methods = {f"{s}|{t}": ("xgboost" if s.endswith(("ws-48", "ws-47")) else "mstl") for s in SERIES for t in TARGETS}
    drivers = pd.DataFrame([{"series": s, "target": "requests", "period": str(p), "driver": d, "kind": k,
                             "effect": e, "volume": 1_000.0}
                            for s in ("claude-sonnet-4-5/ws-48", "claude-sonnet-4-5/ws-47")
                            for p in HORIZON.to_period("M").unique()
                            for d, k, e in (("forecast (P50)", "total", np.nan),
                                            ("level at the origin", "anchor", np.nan),
                                            ("seasonality", "learned", 0.02))])
    inputs = {
        "forecast": forecast, "forecast_totals": _totals(forecast), "target_series": _history(),
        "migrations": pd.DataFrame(columns=MIGRATION_COLUMNS),
        "usage_buckets": pd.DataFrame({"series": SERIES}), "price_table": pd.DataFrame(columns=PRICE_TABLE_COLUMNS),
        "billed_costs": pd.DataFrame(columns=["date", "model", "amount_usd"]),
        "suspected_outages": pd.DataFrame(columns=["series", "target", "ds", "y", "expected"]),
        "backtest_metrics": _backtest(), "backtest_predictions": _backtest_predictions(),
        "forecast_drivers": drivers, "shap_importance":
            pd.DataFrame(columns=["feature", "mean_abs_shap", "share"]),
        "forecast_events": pd.DataFrame({"start": pd.to_datetime([], utc=True), "end": pd.to_datetime([], utc=True),
                                         "name": [], "kind": [], "scope": [], "effect": []}),
        "best_params": {}, "shap_plot": Figure(), "usage_is_simulated": False, "previous_report": [],
        "run_record": run_record({"env": "usage_csv", "runtime_params": {"usage_file": "usage.csv"}}),
        "parameter_sources": {},
        "model_selection": {"trend": "local_linear", "methods": methods},
        "forecast_layout": {"freq": "D", "horizon": len(HORIZON), "season": 7, "seasons": [7], "level_blocks": 4,
                            "window": 28, "backtest_origins": ["2026-09-02 00:00:00"],
                            "tuning_origins": ["2026-08-05 00:00:00"], "origin_every": 7, "model": False,
                            "history_steps": len(HISTORY), "history_start": "2026-06-15 00:00:00",
                            "history_end": "2026-09-30 00:00:00", "notes": []},
        "capacity_plan": pd.DataFrame({"model_group": ["Claude Sonnet 4.x"], "period": ["horizon"], "metric": ["rpm"],
                                       "p50": [10.0], "p90": [12.0], "limit": [np.nan], "headroom_p90": [np.nan],
                                       "first_crossing_p50": [None], "first_crossing_p90": [None]}),
        "capacity_report": {"markdown": ""}, "organisation_report": {},
        "guard_drops": pd.DataFrame(columns=["series", "target", "method", "role", "side", "step", "ratio"]),
        "params:planning": planning, "params:reporting": reporting,
        "params:training": {"quantiles": [0.1, 0.5, 0.9], "objective": "reg:squarederror"},
        "params:feature_engineering": {"freq": "D", "holiday_country": "US", "outages": None},
    }
    catalog = DataCatalog()
    for name, value in inputs.items():
        catalog[name] = value
    pipeline = planning_pipeline().only_nodes(
        "price_models", "find_price_changes", "estimate_costs", "compute_route_rates", "compute_route_costs",
        "compute_history_rates", "price_history", "compute_roi", "compute_sensitivity",
        "check_prices") + reporting_pipeline().only_nodes(
        "choose_series_shown", "plot_forecast", "plot_backtest", "plot_drivers", "render_routes", "build_report")
    # As in a kedro run: figures travel between nodes as the project's catalog passes them (assigned,
    # not deep-copied), and the report, a folder of files in a run, is read here as the node returned it.
    passed_as_is = _assigned_in_the_catalog() | {"report"}
    for name in pipeline.all_outputs():
        catalog[name] = _Kept(copy_mode="assign" if name in passed_as_is else None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SequentialRunner().run(pipeline, catalog)
    return catalog["report"].load()


def test_a_users_run_reports_without_a_warning_and_names_the_unpriced_model(run):
    text = run["report.md"]
    assert f"**{FINE_TUNED}**: no price: add it to the price table" in text
    assert "Rate limits:** none were given for these models" in text
    assert "No events in the calendar overlap the horizon" in text


def test_with_many_series_the_largest_few_are_drawn_and_the_report_says_which(run):
    figures = sorted(name for name in run if name.startswith("forecast_") and name.endswith(".png"))
    assert len(figures) == SHOWN
    largest = [FINE_TUNED, *(f"claude-sonnet-4-5/ws-{k:02d}" for k in range(48, 48 - SHOWN + 1, -1))]
    assert figures == sorted(f"forecast_{s.replace(':', '_').replace('/', '_')}.png" for s in largest)
    text = run["report.md"]
    assert (f"**{len(SERIES)} series: figures and per-series tables in this report show the {SHOWN} largest** "
            "by forecast requests") in text
    assert ", ".join(largest) in text
    assert "The other 38 are in the CSV tables beside this report" in text
    # Tables: the shown series only, in the report; every series in the CSVs beside it.
    per_model = text.split("Per series over the horizon")[1].split("## Forecast")[0]  # workspaces: no models
    assert "ws-48" in per_model and "ws-00" not in per_model
    assert set(run["forecast_totals.csv"]["series"]) == set(SERIES)
    # not one bar group per series of all 50 (the PNG's height in inches, at the report's dpi)
    assert Image.open(io.BytesIO(run["backtest.png"])).height / PNG_SAVE_ARGS["dpi"] < 40


def test_the_page_embeds_the_very_png_files_beside_it(run):
    # Each figure is drawn once: the folder's PNG file and the page's image are the same bytes.
    figures = [name for name in run if name.endswith(".png") and f"]({name})" in run["report.md"]]
    assert "backtest.png" in figures and len(figures) > SHOWN
    for name in figures:
        assert base64.b64encode(run[name]).decode() in run["report.html"], name


def test_the_folder_keeps_the_chosen_backtest_the_monitor_needs(run):
    # The month-to-date monitor reads the plan from its folder, and its bands come from these folds' errors.
    kept = run["backtest_predictions.csv"]
    assert set(kept["method"]) == {"chosen"} and len(kept) == 28


def test_the_report_says_how_the_run_was_made(run):
    # A plan repeated a quarter later, or reviewed by someone who did not run it, needs its command.
    assert "## How this run was made" in run["report.md"]
    assert "`kedro run --env usage_csv --params usage_file=usage.csv`" in run["report.md"]
    assert '"command": "kedro run --env usage_csv --params usage_file=usage.csv"' in run["data_source.json"]
