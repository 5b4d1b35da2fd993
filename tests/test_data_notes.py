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
    assert "without a row for a series, inside its span, read as zero usage for it" in notes
    assert "reads them as unknown): 12." in notes
    assert "| lines [32] | 2026-01-02 06:00:00+00:00 | claude-sonnet-4-5 | input_tokens | 1e+15 | 1.01e+06 |" in notes


def test_one_file_has_no_line_about_a_later_file_of_its_folder():
    one_file = {"bucket": "h", "raw_source": "raw_usage (usage.csv)", "revised_rows": 0, "repeated_rows": 2}
    notes = data_notes(one_file)
    assert "later file" not in notes and "read once: 2." in notes
    folder = {**one_file, "raw_source": "raw_usage (exports/)", "files_read": ["a.csv", "b.csv"]}
    assert "later file's values used): 0." in data_notes(folder)


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
                                       "whole": 1, "dates": "2026-06-15 to 2026-06-16"}


def test_a_request_log_says_what_the_log_held_and_no_folder_lines(tmp_path):
    usage = pd.DataFrame({"requests": [1.0]})
    usage.attrs = {"bucket": "h", "raw_source": "raw_usage (logs/*.csv)", "revised_rows": 0, "repeated_rows": 0,
                   "excluded_values": [],
                   "request_log": {"rows": 1226743, "requests": 1218938, "duplicates_removed": 7805,
                                   "duplicates_by": "request id", "failed_requests": 12114,
                                   "failed_tokens_counted": False, "repeated_hour_requests": 474,
                                   "second_pass_requests": 231, "skipped_time_requests": 0}}
    usage.to_parquet(tmp_path / "usage_buckets.parquet")

    notes = data_notes(pd.read_parquet(tmp_path / "usage_buckets.parquet").attrs)

    assert "folder" not in notes and "a file given twice" not in notes
    assert "1,226,743 rows, 7,805 of them duplicate requests removed (by request id); 1,218,938 requests" in notes
    assert "Failed requests: 12,114 of 1,218,938 (1.0%), counted in requests and peak_rpm" in notes
    assert "their tokens not counted (`failed_tokens: false`)" in notes
    assert "by the log's order: 474 (231 in the second)" in notes and "clocks skip" not in notes


def test_a_request_log_without_status_says_every_request_counts_as_succeeded():
    notes = data_notes({"bucket": "h", "request_log": {"rows": 10, "requests": 10}})

    assert "duplicates not looked for (`deduplicate: false`)" in notes
    assert "no status column, so every request is counted as succeeded" in notes
