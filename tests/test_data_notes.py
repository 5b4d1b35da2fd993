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
