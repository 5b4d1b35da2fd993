"""AnthropicConsoleCSVDataset: both export layouts, messy headers, daily buckets, bad files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError

from tokenplan.datasets import AnthropicConsoleCSVDataset, UsageFolderDataset
from tokenplan.hooks import TimestampFormatHooks
from tokenplan.pipelines.ingestion.nodes import build_usage_buckets
from tokenplan.schemas import InvalidInputError
from tokenplan.user_errors import message_for

CURRENT_LAYOUT = """\
usage_date_utc,model_version,api_key,workspace,usage_type,context_window,usage_input_tokens_no_cache,usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,usage_output_tokens,web_search_count
2026-01-01,claude-sonnet-4-5-20250929,prod-key,Default,standard,0-200k,1500,500,1000,200,500,3
2026-01-01,claude-haiku-4-5-20251001,batch-key,Research,batch,0-200k,100,,40,0,10,0
2026-01-02,claude-sonnet-4-5-20250929,prod-key,Default,standard,0-200k,1700,300,,250,600,0
2026-01-03,claude-sonnet-4-5-20250929,prod-key,Default,standard,0-200k,1600,0,0,220,550,1
"""

# An older export: one cache-write column, headers with capitals and stray spaces.
OLDER_LAYOUT = """\
Usage Date UTC , Model Version,Workspace, Usage Input Tokens No Cache ,Usage Input Tokens Cache Write,Usage Input Tokens Cache Read,Usage Output Tokens
2026-01-01,claude-sonnet-4-5-20250929,Default,1500,1500,200,500
2026-01-02,claude-sonnet-4-5-20250929,Default,1700,300,250,600
"""

DAILY = {"timezone": "America/New_York", "bucket": "D", "series_dimensions": [], "model_aliases": {}}


def _export(tmp_path: Path, text: str, name: str = "claude_api_usage.csv") -> AnthropicConsoleCSVDataset:
    path = tmp_path / name
    path.write_text(text)
    return AnthropicConsoleCSVDataset(filepath=str(path))


def test_current_layout_maps_to_canonical_usage(tmp_path):
    usage = _export(tmp_path, CURRENT_LAYOUT).load()

    assert {"timestamp", "model", "input_tokens", "cache_write_tokens", "cache_read_tokens",
            "output_tokens", "workspace", "api_key", "usage_type", "context_window"} <= set(usage.columns)
    assert "web_search_count" not in usage.columns and "requests" not in usage.columns
    recorded, quiet = usage.iloc[:4], usage.iloc[4:]  # the export's rows, then the days Haiku used nothing
    assert recorded["cache_write_tokens"].tolist() == [1500.0, 40.0, 300.0, 0.0]  # 5m + 1h, a blank part is 0
    assert quiet["model"].str.startswith("claude-haiku-4-5").all() and (quiet["output_tokens"] == 0).all()
    # The column says UTC: dates stay UTC midnights whatever ingestion.timezone is.
    assert usage["timestamp"].iloc[0] == pd.Timestamp("2026-01-01", tz="UTC")


def test_the_one_hour_part_of_cache_writes_is_kept_to_the_usage_buckets(tmp_path):
    usage = _export(tmp_path, CURRENT_LAYOUT).load()
    # A blank part beside a filled one: 0 (the rows after the export's four: Haiku's quiet days).
    assert usage["cache_write_1h_tokens"].iloc[:4].tolist() == [1000.0, 40.0, 0.0, 0.0]

    buckets = build_usage_buckets(usage, DAILY).set_index(["series", "timestamp"])
    sonnet = buckets.loc["claude-sonnet-4-5"]
    assert sonnet["cache_write_1h_tokens"].tolist() == [1000.0, 0.0, 0.0]
    assert sonnet["cache_write_tokens"].tolist() == [1500.0, 300.0, 0.0]
    # The older layout has one cache-write column: which TTL is unknown, so the part is absent.
    assert "cache_write_1h_tokens" not in _export(tmp_path, OLDER_LAYOUT, "old.csv").load().columns


def test_older_layout_with_messy_headers_gives_the_same_numbers(tmp_path):
    older = _export(tmp_path, OLDER_LAYOUT, "old.csv").load()
    current = _export(tmp_path, CURRENT_LAYOUT).load()

    sonnet = current[current["model"].str.startswith("claude-sonnet")].head(2).reset_index(drop=True)
    columns = ["timestamp", "model", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"]
    pd.testing.assert_frame_equal(older[columns], sonnet[columns], check_dtype=False)


def test_daily_export_gives_daily_usage_buckets(tmp_path):
    buckets = build_usage_buckets(_export(tmp_path, CURRENT_LAYOUT).load(), DAILY)

    sonnet = buckets[buckets["series"] == "claude-sonnet-4-5"]
    assert sonnet["timestamp"].tolist() == list(pd.date_range("2026-01-01", periods=3, freq="D", tz="UTC"))
    assert sonnet["input_tokens"].tolist() == [1500.0, 1700.0, 1600.0]


def test_unknown_layout_names_the_file_and_the_missing_column(tmp_path):
    dataset = _export(tmp_path, "date,model,input,output\n2026-01-01,claude,1,2\n", "mystery.csv")

    with pytest.raises(DatasetError) as error:
        dataset.load()

    message = str(error.value)
    assert "mystery.csv" in message
    assert "'usage_input_tokens_no_cache'" in message and "Columns found" in message


def test_half_of_the_cache_write_pair_is_not_silently_used(tmp_path):
    text = ("usage_date_utc,model_version,usage_input_tokens_no_cache,usage_input_tokens_cache_write_5m,"
            "usage_input_tokens_cache_read,usage_output_tokens\n2026-01-01,claude-sonnet-4-5,1,2,3,4\n")
    with pytest.raises(DatasetError, match="missing column 'usage_input_tokens_cache_write_1h'"):
        _export(tmp_path, text).load()


def test_bad_values_name_the_file_column_row_and_value(tmp_path):
    bad_date = CURRENT_LAYOUT.replace("2026-01-02,", "Jan second,", 1)
    with pytest.raises(DatasetError, match=r"claude_api_usage.csv: column 'usage_date_utc' .*lines \[4\].*Jan second"):
        _export(tmp_path, bad_date).load()

    bad_tokens = CURRENT_LAYOUT.replace(",1700,", ",1.7k,", 1)
    with pytest.raises(InvalidInputError, match=r"column 'usage_input_tokens_no_cache' has invalid values at lines "
                                                r"\[4\]: \['1.7k'\]"):
        build_usage_buckets(_export(tmp_path, bad_tokens).load(), DAILY)


def test_a_negative_count_names_the_exports_own_column(tmp_path):
    negative = CURRENT_LAYOUT.replace(",250,600,", ",250,-600,", 1)
    with pytest.raises(InvalidInputError, match=r"claude_api_usage.csv: column 'usage_output_tokens' has invalid "
                                                r"values at lines \[4\]: \[-600"):
        build_usage_buckets(_export(tmp_path, negative).load(), DAILY)


# Haiku had usage on the 1st and the 4th only; the export lists the 2nd and 3rd (Sonnet's
# rows) and has no row at all on the 5th, which lies outside both models' spans anyway.
SPARSE_DAYS = """\
usage_date_utc,model_version,usage_input_tokens_no_cache,usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,usage_output_tokens
2026-01-01,claude-sonnet-4-5,1500,0,0,200,500
2026-01-01,claude-haiku-4-5,100,0,0,0,10
2026-01-02,claude-sonnet-4-5,1700,0,0,250,600
2026-01-03,claude-sonnet-4-5,1600,0,0,220,550
2026-01-04,claude-sonnet-4-5,1650,0,0,230,560
2026-01-04,claude-haiku-4-5,120,0,0,0,12
"""


def test_a_day_the_export_lists_without_a_models_row_is_zero_usage_for_it(tmp_path):
    buckets = build_usage_buckets(_export(tmp_path, SPARSE_DAYS).load(), DAILY)
    haiku = buckets[buckets["series"] == "claude-haiku-4-5"].set_index("timestamp")["input_tokens"]
    assert haiku.tolist() == [100.0, 0.0, 0.0, 120.0]  # not two missing days filled in at its level
    assert buckets.attrs["zero_filled_rows"] == 2  # the report's "Data read" states how many
    path = tmp_path / "claude_api_usage.csv"
    kept = build_usage_buckets(AnthropicConsoleCSVDataset(filepath=str(path), zero_fill_quiet_buckets=False).load(),
                               {**DAILY, "absent_rows": "missing"})  # both switches off: unknown
    assert kept[kept["series"] == "claude-haiku-4-5"]["input_tokens"].isna().sum() == 2
    # The zeros come after the file's rows: a bad value still names its own line.
    bad = SPARSE_DAYS.replace("1650,", "-5,", 1)
    with pytest.raises(InvalidInputError,
                       match=r"column 'usage_input_tokens_no_cache' has invalid values at lines \[6\]: \[-5"):
        build_usage_buckets(_export(tmp_path, bad).load(), DAILY)


# ------------------------------------------------------ dates written day.month.year

def _dotted_export(days: list[int]) -> str:
    header = ("usage_date_utc,model_version,usage_input_tokens_no_cache,usage_input_tokens_cache_write_5m,"
              "usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,usage_output_tokens\n")
    return header + "".join(f"{d:02d}.08.2026,claude-sonnet-4-5,{1000 + d},0,0,0,100\n" for d in days)


def test_day_first_dates_are_read_day_first_when_the_column_decides(tmp_path):
    usage = _export(tmp_path, _dotted_export(list(range(1, 16)))).load()

    # 01.08.2026 is the 1st of August (the 13th-15th decide the order), not January 8.
    assert usage["timestamp"].tolist()[:15] == list(pd.date_range("2026-08-01", periods=15, freq="D", tz="UTC"))
    buckets = build_usage_buckets(usage, DAILY)
    assert buckets["timestamp"].min() == pd.Timestamp("2026-08-01", tz="UTC") and len(buckets) == 15


def test_ambiguous_dates_stop_with_one_line_asking_for_the_format(tmp_path):
    dataset = _export(tmp_path, _dotted_export([1, 2, 3]))

    with pytest.raises(DatasetError) as error:
        dataset.load()

    message = message_for(error.value)
    assert message is not None and "\n" not in message
    assert "claude_api_usage.csv: column 'usage_date_utc'" in message and "lines [2]" in message
    assert "ambiguous date" in message
    # The format the dates are written in, quoted as Kedro's --params needs a leading %.
    assert """--params "ingestion.timestamp_format='%d.%m.%Y'" (or '%m.%d.%Y')""" in message


def test_ingestion_timestamp_format_reaches_the_export_and_a_folder_of_exports(tmp_path):
    _export(tmp_path, _dotted_export([1, 2, 3]))
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "2026-08.csv").write_text(_dotted_export([1, 2, 3]))
    sources = [AnthropicConsoleCSVDataset(filepath=str(tmp_path / "claude_api_usage.csv")),
               UsageFolderDataset(path=str(tmp_path / "folder"), filename_suffix=".csv",
                                  dataset="tokenplan.datasets.AnthropicConsoleCSVDataset")]
    for source in sources:
        catalog = DataCatalog({"raw_usage": source})

        TimestampFormatHooks().after_catalog_created(catalog, {"params:ingestion": {"timestamp_format": "%d.%m.%Y"}})

        assert catalog.load("raw_usage")["timestamp"].tolist() == list(
            pd.date_range("2026-08-01", periods=3, freq="D", tz="UTC"))
