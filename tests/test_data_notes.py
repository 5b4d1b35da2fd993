"""The report's "Data read" section lists what ingestion decided, from usage_buckets.attrs."""

from __future__ import annotations

import pandas as pd

from tokenplan.reporting.data_notes import data_notes


def test_revised_rows_and_excluded_values_are_listed(tmp_path):
    usage = pd.DataFrame({"requests": [1.0]})
    usage.attrs = {"bucket": "D", "raw_source": "raw_usage (data/usage/)", "revised_rows": 5,
                   "excluded_values": [{"row": "lines [32]", "timestamp": "2026-01-02 06:00:00+00:00",
                                        "series": "claude-sonnet-4-5", "column": "input_tokens",
                                        "value": 1e15, "series_median": 1.01e6}]}
    usage.to_parquet(tmp_path / "usage_buckets.parquet")  # the attrs travel in the file

    notes = data_notes(pd.read_parquet(tmp_path / "usage_buckets.parquet").attrs)

    assert "buckets: daily (`D`)" in notes and "raw_usage (data/usage/)" in notes
    assert "later file's values used): 5." in notes
    assert "a file given twice), read once: 0." in notes
    assert "read as zero usage" not in notes  # only a source that zero-fills says so
    usage.attrs["zero_filled_rows"] = 12
    usage.to_parquet(tmp_path / "usage_buckets.parquet")
    notes = data_notes(pd.read_parquet(tmp_path / "usage_buckets.parquet").attrs)
    assert "without a row for a model, read as zero usage for it" in notes and "usage): 12." in notes
    assert "| lines [32] | 2026-01-02 06:00:00+00:00 | claude-sonnet-4-5 | input_tokens | 1e+15 | 1.01e+06 |" in notes


def test_no_ingestion_record_no_section():
    assert data_notes({}) == ""


def test_missing_values_are_counted_as_buckets_series_and_values():
    """A day missing from an export for 2 series of 4 targets is 8 values: 1 day, 2 series-days."""
    import numpy as np

    from tokenplan.reporting.data_notes import missing_values

    days = pd.date_range("2026-06-14", periods=3, freq="D")
    history = pd.DataFrame([{"series": s, "target": t, "ds": d, "y": 1.0} for s in ("a", "b") for t in "wxyz"
                            for d in days])
    history.loc[history["ds"] == days[1], "y"] = np.nan
    history.loc[(history["series"] == "a") & (history["target"] == "w") & (history["ds"] == days[2]), "y"] = np.nan
    assert missing_values(history) == {"values": 9, "series_buckets": 3, "buckets": 2, "series": 2, "targets": 4,
                                       "whole": 1}
