"""PreviousReportDataset: the earlier report folders, newest first, or nothing on a first run."""

from __future__ import annotations

import pandas as pd

from tokenplan.datasets import PreviousReportDataset
from tokenplan.reporting.data_source import DATA_SOURCE_FILE, data_source_identity, data_source_json


def _report(folder, cost: float, forecast: bool = False) -> None:
    folder.mkdir(parents=True)
    (folder / "report.md").write_text("# report\n")
    row = {"series": "m", "period": "horizon", "start": "2026-10-01", "end": "2026-12-30", "buckets": 91}
    pd.DataFrame([{**row, "target": "requests", "p50": 10.0}]).to_csv(folder / "forecast_totals.csv", index=False)
    pd.DataFrame([{**row, "p50": cost}]).to_csv(folder / "cost_forecast.csv", index=False)
    if forecast:
        pd.DataFrame({"series": ["m"], "target": ["requests"], "timestamp": ["2026-10-01 00:00:00+00:00"],
                      "p50": [0.1]}).to_csv(folder / "forecast.csv", index=False)
        pd.DataFrame({"series": ["m"], "target": ["requests"], "origin": ["2026-09-01"], "ds": ["2026-09-02"],
                      "step": [1], "y": [0.1], "method": ["chosen"], "p50": [0.1]}).to_csv(
            folder / "backtest_predictions.csv", index=False)


def test_a_first_run_has_no_previous_report(tmp_path):
    assert PreviousReportDataset(path=str(tmp_path)).load() == []


def test_every_complete_report_folder_is_loaded_newest_first(tmp_path):
    _report(tmp_path / "2026-10-01T00.00.00.000Z", cost=1.0, forecast=True)
    _report(tmp_path / "2026-11-01T00.00.00.000Z", cost=2.0)
    (tmp_path / ".2026-12-01T00.00.00.000Z.partial").mkdir()  # a run being written
    loaded = PreviousReportDataset(path=str(tmp_path)).load()
    assert [r["version"] for r in loaded] == ["2026-11-01T00.00.00.000Z", "2026-10-01T00.00.00.000Z"]
    assert loaded[0]["cost_forecast"]["p50"].tolist() == [2.0]
    assert pd.api.types.is_datetime64_any_dtype(loaded[0]["forecast_totals"]["start"])
    # The per-bucket forecast is there when the folder holds it, None otherwise.
    assert loaded[0]["forecast"] is None
    assert pd.api.types.is_datetime64_any_dtype(loaded[1]["forecast"]["timestamp"])
    # So is the chosen method's backtest, which the month-to-date monitor's bands need.
    assert loaded[0]["backtest_predictions"] is None
    assert pd.api.types.is_datetime64_any_dtype(loaded[1]["backtest_predictions"]["origin"])


def test_the_data_source_a_report_was_made_from_is_loaded(tmp_path):
    _report(tmp_path / "2026-10-01T00.00.00.000Z", cost=1.0)
    assert PreviousReportDataset(path=str(tmp_path)).load()[0]["data_source"] is None  # not recorded
    identity = data_source_identity(False, "raw_usage (data/01_raw/usage.csv)", ["m"])
    (tmp_path / "2026-10-01T00.00.00.000Z" / DATA_SOURCE_FILE).write_text(data_source_json(identity))
    assert PreviousReportDataset(path=str(tmp_path)).load()[0]["data_source"] == identity


def test_loading_never_changes_a_report_folder(tmp_path):
    folder = tmp_path / "2026-10-01T00.00.00.000Z"
    _report(folder, cost=1.0, forecast=True)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    report = PreviousReportDataset(path=str(tmp_path)).load()[0]
    _ = [report[key] for key in report]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
