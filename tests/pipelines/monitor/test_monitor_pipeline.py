"""The monitor pipeline as wired: which plan it compares the month with, and what it leaves as it was.

A project folder holds two plans: one made from this team's usage to June 30 (forecast July
to September), and a newer one made from another file (another team's usage, three times
the volume, forecast from August 13), which is also the model output the last full run
left. The monitor reads this team's usage to August 15.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from tokenplan.datasets import PreviousReportDataset, UsageCSVDataset
from tokenplan.organisation.monitor_errors import NoPlanError
from tokenplan.pipelines.monitor.pipeline import create_pipeline
from tokenplan.planning.prices import PRICE_TABLE_COLUMNS
from tokenplan.reporting.data_source import data_source_identity, data_source_json, history_tail
from tokenplan.user_errors import message_for

PROJECT_ROOT = Path(__file__).resolve().parents[3]
MODEL = "claude-sonnet-4-5"
DAILY = {"requests": 1000.0, "input_tokens": 2e6, "output_tokens": 4e5}  # about $12 a day
QUANTILES = [0.1, 0.5, 0.9]
OURS, OTHERS = "2026-10-01T00.00.00.000Z", "2026-10-02T00.00.00.000Z"  # the other file's plan is newer


def _usage(last: str, scale: float = 1.0) -> pd.DataFrame:
    days = pd.date_range("2026-02-01", last, freq="D")
    wobble = 1 + 0.02 * np.sin(np.arange(len(days)))
    return pd.DataFrame({"timestamp": days.strftime("%Y-%m-%d"), "model": MODEL,
                         **{c: np.round(v * scale * wobble) for c, v in DAILY.items()}})


def _plan_folder(root: Path, version: str, history: pd.DataFrame, first: str, source: str) -> dict:
    """A report folder planned from ``history`` (its level, forecast from ``first`` for 92 days); returns the
    model output that run left (forecast, backtest_predictions, forecast_totals)."""
    level = history.iloc[-28:][list(DAILY)].mean()
    stamps = pd.date_range(first, periods=92, freq="D", tz="UTC")
    forecast = pd.concat([pd.DataFrame({"series": MODEL, "target": t, "timestamp": stamps, "p10": 0.8 * level[t],
                                        "p50": level[t], "p90": 1.2 * level[t], "step": np.arange(1, 93),
                                        "origin": stamps[0] - pd.Timedelta(days=1), "method": "ensemble"})
                          for t in DAILY], ignore_index=True)
    folds = pd.concat([forecast.assign(origin=pd.Timestamp("2026-03-01") + pd.Timedelta(days=30 * i),
                                       ds=forecast["timestamp"].dt.tz_localize(None),
                                       y=forecast["p50"] * (0.96 + 0.04 * i), method="chosen") for i in range(3)],
                      ignore_index=True)
    totals = (forecast.groupby(["series", "target"])[["p10", "p50", "p90"]].sum().reset_index()
              .assign(period="horizon", start=stamps[0], end=stamps[-1], buckets=92))
    long = history.melt(id_vars=["timestamp", "model"], var_name="target", value_name="y").rename(
        columns={"timestamp": "ds", "model": "series"})
    folder = root / version
    folder.mkdir(parents=True)
    (folder / "report.md").write_text("# plan\n")
    (folder / "data_source.json").write_text(data_source_json(
        data_source_identity(False, f"raw_usage ({source})", [MODEL], history_tail(long))))
    forecast.to_csv(folder / "forecast.csv", index=False)
    folds.to_csv(folder / "backtest_predictions.csv", index=False)
    totals.to_csv(folder / "forecast_totals.csv", index=False)
    totals.assign(p10=1.0, p50=1.0, p90=1.0).to_csv(folder / "cost_forecast.csv", index=False)
    return {"forecast": forecast, "backtest_predictions": folds, "forecast_totals": totals}


def _params(stage: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf" / "base" / f"parameters_{stage}.yml").read_text())[stage]


@pytest.fixture
def project(tmp_path) -> Path:
    """The project's data folder after the two plan runs (ours, then the other file's), and this team's usage."""
    _plan_folder(tmp_path / "08_reporting", OURS, _usage("2026-06-30"), "2026-07-01", "ours.csv")
    last_run = _plan_folder(tmp_path / "08_reporting", OTHERS, _usage("2026-08-12", scale=3.0), "2026-08-13",
                            "other_team.csv")
    pd.to_pickle(last_run, tmp_path / "model_output.pkl")
    _usage("2026-08-15").to_csv(tmp_path / "ours_to_aug_15.csv", index=False)
    full_run_buckets = _usage("2026-08-12", scale=3.0).assign(series=MODEL)
    full_run_buckets.to_parquet(tmp_path / "usage_buckets.parquet")
    return tmp_path


def _output_entry(project: Path) -> dict:
    """The project's catalog entry for the monitor's output, its path moved under ``project``."""
    entry = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "catalog_07_organisation.yml").read_text())[
        "month_to_date"]
    key = "path" if "path" in entry else "filepath"
    return {**entry, key: str(project / entry[key].removeprefix("data/"))}


def _monitor(project: Path, version: str = "2026-10-03T00.00.00.000Z") -> pd.DataFrame:
    """Runs the monitor on this team's usage (its output as the project's catalog writes it); returns the table
    it wrote."""
    catalog = DataCatalog.from_config({"month_to_date": _output_entry(project)}, save_version=version)
    catalog["raw_usage"] = UsageCSVDataset(filepath=str(project / "ours_to_aug_15.csv"))
    catalog["previous_report"] = PreviousReportDataset(path=str(project / "08_reporting"))
    catalog["usage_is_simulated"] = False
    catalog["run_record"] = {"env": "usage_csv", "runtime_params": {"usage_file": "ours_to_aug_15.csv"}}
    catalog["price_table"] = pd.DataFrame(columns=PRICE_TABLE_COLUMNS)
    for stage in ("ingestion", "planning", "organisation", "training"):
        catalog[f"params:{stage}"] = _params(stage)
    # What the last full run (the other file's) left: its primary table and model output.
    catalog["usage_buckets"] = ParquetDataset(filepath=str(project / "usage_buckets.parquet"))
    for name, table in pd.read_pickle(project / "model_output.pkl").items():
        catalog[name] = MemoryDataset(table)
    SequentialRunner().run(create_pipeline(), catalog)
    written = max((project / "08_reporting" / "monitor").rglob("month_to_date.csv"), key=lambda p: p.stat().st_mtime)
    return pd.read_csv(written)


def test_the_month_is_compared_with_the_plan_of_this_usage_not_the_last_run(project, caplog):
    # The other file's plan (the newest folder, and the model output) put this team "below its plan $1,000s"; the
    # plan of this usage holds it inside, and the table and the log name that plan.
    with caplog.at_level(logging.INFO, logger="tokenplan.pipelines.monitor.nodes"):
        table = _monitor(project)
    assert (table["status"] == "inside").all(), table
    assert (table["first_day"].iloc[0], table["last_day"].iloc[0]) == ("2026-08-01", "2026-08-15")
    assert table["plan_report"].unique().tolist() == [OURS]
    assert table["plan_made"].unique().tolist() == ["2026-10-01 00:00 UTC"]
    assert (table["plan_forecast_start"].iloc[0], table["plan_forecast_end"].iloc[0]) == ("2026-07-01", "2026-09-30")
    log = caplog.text
    assert f"report {OTHERS} passed over" in log and "other usage data" in log
    assert f"compared with the plan of this usage in report {OURS}" in log


def test_without_a_plan_of_this_usage_the_monitor_stops_and_says_how_to_make_one(project):
    shutil.rmtree(project / "08_reporting" / OURS)
    with pytest.raises(Exception) as raised:
        _monitor(project)
    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    error = next(e for e in chain if isinstance(e, NoPlanError))
    message = str(error)
    assert "\n" not in message and message.startswith("monitor: no plan of this usage (raw_usage")
    assert f"the one report folder, {OTHERS}, is not one: its history disagrees" in message
    assert ("`kedro run --env usage_csv --params usage_file=ours_to_aug_15.csv` on this usage up to 2026-07-31"
            in message)
    assert not (project / "08_reporting" / "monitor").exists()
    assert message_for(raised.value) == message  # the CLI's one line, without a traceback


def test_a_check_overwrites_neither_the_full_runs_usage_nor_an_earlier_check(project):
    before = (project / "usage_buckets.parquet").read_bytes()
    first = _monitor(project, "2026-10-03T00.00.00.000Z")
    assert (project / "usage_buckets.parquet").read_bytes() == before  # the full run's table, as it was
    (project / "ours_to_aug_15.csv").write_text(_usage("2026-08-10").to_csv(index=False))  # an earlier cut
    second = _monitor(project, "2026-10-04T00.00.00.000Z")
    assert (project / "usage_buckets.parquet").read_bytes() == before
    checks = project / "08_reporting" / "monitor"
    assert sorted(p.relative_to(checks).as_posix() for p in checks.rglob("month_to_date.csv")) == [
        "2026-10-03T00.00.00.000Z/month_to_date.csv", "2026-10-04T00.00.00.000Z/month_to_date.csv"]
    kept = pd.read_csv(checks / "2026-10-03T00.00.00.000Z" / "month_to_date.csv")
    pd.testing.assert_frame_equal(kept, first)  # the first check, not mixed with the second
    assert first["last_day"].iloc[0] == "2026-08-15" and second["last_day"].iloc[0] == "2026-08-10"
