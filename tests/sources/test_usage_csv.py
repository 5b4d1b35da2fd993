"""UsageCSVDataset: a usage file as a spreadsheet saved it is read right, or refused naming the line.

European Excel separates fields with ``;`` and writes decimal commas and ``.`` between
thousands; US Excel quotes ``"1,234"``; both leave ``,,,,`` rows below the data, and a
person may add a totals row. Each is read to the same numbers as the plain file; a
number written another way, or a totals row, stops the run naming its line.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from tests.assertions import assert_error_names
from tokenplan.datasets import AnthropicConsoleCSVDataset, UsageCSVDataset, UsageFolderDataset
from tokenplan.ingestion.csv_dialect import without_empty_rows
from tokenplan.ingestion.source_labels import label_source
from tokenplan.pipelines.ingestion.nodes import build_usage_buckets
from tokenplan.schemas import InvalidInputError
from tokenplan.user_errors import message_for

PLAIN = """\
timestamp,model,requests,input_tokens,output_tokens
2026-01-01,claude-sonnet-4-5,2054,3081000,616200
2026-01-02,claude-sonnet-4-5,1913,2869500.5,573900
2026-01-03,claude-sonnet-4-5,1096,1644000,328800
"""
EUROPEAN = """\
timestamp;model;requests;input_tokens;output_tokens
01.01.2026;claude-sonnet-4-5;2.054;3.081.000;616200
02.01.2026;claude-sonnet-4-5;1913;2869500,5;573.900
13.01.2026;claude-sonnet-4-5;1.096;1.644.000;328.800
"""
QUOTED_THOUSANDS = """\
timestamp,model,requests,input_tokens,output_tokens
2026-01-01,claude-sonnet-4-5,"2,054","3,081,000","616,200"
2026-01-02,claude-sonnet-4-5,"1,913","2,869,500.5","573,900"
2026-01-03,claude-sonnet-4-5,"1,096","1,644,000","328,800"
"""
PARAMS = {"timezone": "UTC", "bucket": "auto", "series_dimensions": [], "model_aliases": {}}


def _load(tmp_path: Path, text: str, name: str = "usage.csv") -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(text, newline="")
    frame = UsageCSVDataset(filepath=str(path)).load()
    label_source(frame, f"raw_usage ({path})", 2)  # as the project's hook labels a CSV
    return frame


def _counts(tmp_path: Path, text: str) -> pd.DataFrame:
    buckets = build_usage_buckets(_load(tmp_path, text), PARAMS)
    return buckets.set_index("timestamp")[["requests", "input_tokens", "output_tokens"]]


def test_plain_file_reads_as_before(tmp_path):
    counts = _counts(tmp_path, PLAIN)

    assert counts["input_tokens"].tolist() == [3081000.0, 2869500.5, 1644000.0]


@pytest.mark.parametrize("text", [EUROPEAN, QUOTED_THOUSANDS, "\ufeff" + PLAIN.replace("\n", "\r\n")],
                         ids=["semicolons-decimal-comma", "quoted-thousands", "bom-crlf"])
def test_a_spreadsheets_file_reads_to_the_same_numbers(tmp_path, text):
    expected = _counts(tmp_path, PLAIN)
    expected.index = pd.DatetimeIndex(["2026-01-01", "2026-01-02", "2026-01-13" if text is EUROPEAN else "2026-01-03"],
                                      tz="UTC", name="timestamp")

    counts = _counts(tmp_path, text).dropna()

    pd.testing.assert_frame_equal(counts, expected, check_freq=False)


@pytest.mark.parametrize("text", [PLAIN, EUROPEAN], ids=["comma", "semicolons"])
def test_a_compressed_file_is_read_by_its_decompressed_lines(tmp_path, text):
    import gzip

    path = tmp_path / "usage.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    frame = UsageCSVDataset(filepath=str(path)).load()

    assert list(frame.columns) == ["timestamp", "model", "requests", "input_tokens", "output_tokens"]
    assert frame.attrs["decimal"] == ("," if text is EUROPEAN else ".")


def test_rows_without_any_value_are_dropped_and_lines_still_count_as_an_editor_does(tmp_path):
    # A blank line inside, empty ',,,,' rows at the end (as Excel saves them), then a bad value on line 5.
    text = PLAIN.replace("2026-01-02", "\n2026-01-02") + ",,,,\n , ,,,\n"
    assert len(_load(tmp_path, text)) == 3
    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(_load(tmp_path, text.replace("1096", "-1")), PARAMS)

    assert_error_names(error, "usage.csv", "requests", 5, -1)


def test_rows_left_after_dropping_empty_ones_are_a_frame_of_their_own():
    frame = pd.DataFrame({"timestamp": ["2026-01-01", None], "model": ["claude-sonnet-4-5", " "]})
    kept = without_empty_rows(frame)

    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.SettingWithCopyWarning)
        kept["model"] = kept["model"].str.upper()

    assert kept["model"].tolist() == ["CLAUDE-SONNET-4-5"]


@pytest.mark.parametrize("total", ["Total,,5063,7594500,1518900", ",Grand total,5063,7594500,1518900",
                                   "2026-01-04,SUM,5063,7594500,1518900"])
def test_a_spreadsheets_totals_row_is_named_not_read_as_a_missing_id(tmp_path, total):
    with pytest.raises(InvalidInputError, match=r"\): a totals row at lines \[5\] \(column '(timestamp|model)'"):
        build_usage_buckets(_load(tmp_path, PLAIN + total + "\n"), PARAMS)


def test_a_console_exports_totals_row_is_named(tmp_path):
    path = tmp_path / "claude_api_usage.csv"
    path.write_text("usage_date_utc,model_version,usage_input_tokens_no_cache,usage_input_tokens_cache_write,"
                    "usage_input_tokens_cache_read,usage_output_tokens\n"
                    "2026-01-01,claude-sonnet-4-5-20250929,1500,0,200,500\nTotal,,1500,0,200,500\n")

    with pytest.raises(DatasetError) as error:
        AnthropicConsoleCSVDataset(filepath=str(path)).load()

    assert "a totals row at lines [3] (column 'usage_date_utc' is 'Total')" in message_for(error.value)


@pytest.mark.parametrize(("text", "value", "line", "convention"), [
    (PLAIN.replace("1913", '"1,5"'), "1,5", 3, "decimal point"),              # not a whole thousands group
    (EUROPEAN.replace("2869500,5", "2869500.5"), "2869500.5", 3, "decimal comma"),  # a point in a comma file
])
def test_a_number_written_another_way_is_refused_naming_its_line(tmp_path, text, value, line, convention):
    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(_load(tmp_path, text), PARAMS)

    assert_error_names(error, "usage.csv", "requests" if value == "1,5" else "input_tokens", line, value)
    assert convention in str(error.value)


def test_the_separator_can_still_be_given(tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text(PLAIN.replace(",", ";"))

    frame = UsageCSVDataset(filepath=str(path), load_args={"sep": ";"}).load()

    assert frame["input_tokens"].tolist() == [3081000.0, 2869500.5, 1644000.0]  # decimal point: the default


def test_a_console_export_resaved_by_european_excel_is_read(tmp_path):
    path = tmp_path / "claude_api_usage.csv"
    path.write_text(
        "usage_date_utc;model_version;usage_input_tokens_no_cache;usage_input_tokens_cache_write_5m;"
        "usage_input_tokens_cache_write_1h;usage_input_tokens_cache_read;usage_output_tokens\n"
        "2026-01-01;claude-sonnet-4-5-20250929;1.500.000;500;1.000;200;500,0\n")

    usage = AnthropicConsoleCSVDataset(filepath=str(path)).load()
    buckets = build_usage_buckets(usage, {**PARAMS, "bucket": "D"})

    row = buckets.iloc[0]
    assert (row["input_tokens"], row["cache_write_tokens"], row["output_tokens"]) == (1_500_000, 1500, 500)


def test_a_folder_whose_files_write_numbers_differently_says_so(tmp_path):
    (tmp_path / "2026-01.csv").write_text(PLAIN)
    (tmp_path / "2026-02.csv").write_text(EUROPEAN)

    with pytest.raises(DatasetError) as error:
        UsageFolderDataset(path=str(tmp_path), filename_suffix=".csv").load()

    assert "decimal mark per file: {'2026-01.csv': '.', '2026-02.csv': ','}" in message_for(error.value)


def test_a_busiest_minute_above_its_buckets_own_total_is_named(tmp_path):
    """2,790 requests in the busiest minute of an hour of 558: a slip (a peak per second, a shifted column) the
    capacity plan would replay as 300 times the mean minute. Refused naming the line, column and value."""
    text = ("timestamp,model,requests,input_tokens,output_tokens,peak_rpm,peak_otpm\n"
            "2026-01-01 10:00,claude-sonnet-4-5,600,3000000,600000,30,12000\n"
            "2026-01-01 11:00,claude-sonnet-4-5,558,2790000,558000,2790,11000\n"
            "2026-01-01 12:00,claude-sonnet-4-5,500,2500000,500000,25,500001\n")
    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(_load(tmp_path, text), PARAMS)
    message = str(error.value)
    assert "column 'peak_rpm' has invalid values at lines [3]: [2790.0]" in message
    assert "a busiest minute more than the row's own 'requests' (558)" in message
    fixed = text.replace(",2790,", ",28,")
    with pytest.raises(InvalidInputError, match=r"column 'peak_otpm' has invalid values at lines \[4\]: \[500001.0\]"):
        build_usage_buckets(_load(tmp_path, fixed), PARAMS)
    build_usage_buckets(_load(tmp_path, fixed.replace(",500001", ",10000")), PARAMS)  # within: read
    # A blank part is unknown, not zero: its row's total is not known, and nothing is checked against it.
    blank = ("timestamp,model,requests,input_tokens,cache_write_tokens,output_tokens,peak_itpm\n"
             "2026-01-01 10:00,claude-sonnet-4-5,600,,100,600000,800\n"
             "2026-01-01 11:00,claude-sonnet-4-5,600,3000000,100,600000,800\n")
    build_usage_buckets(_load(tmp_path, blank), PARAMS)
