"""A usage file's columns: a count is never silently left out, and a missing column says where it is.

Other tools' names for the same count are read as it (Anthropic's
``cache_read_input_tokens``, OpenAI's ``completion_tokens``); names whose meaning
differs (``prompt_tokens`` includes cached tokens, ``total_tokens`` mixes input and
output) and unknown count-like columns stop the run naming the file, the column and the
fix. A Console export given as a usage file says which environment reads it.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tokenplan.pipelines.ingestion.nodes import build_usage_buckets
from tokenplan.schemas import InvalidInputError
from tokenplan.user_errors import message_for

SOURCE = "raw_usage (/data/usage.csv)"
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]


def _params(**overrides) -> dict:
    return {"timezone": "UTC", "bucket": "auto", "series_dimensions": [], "model_aliases": {}, **overrides}


def _file(**columns) -> pd.DataFrame:
    frame = pd.DataFrame({"timestamp": DAYS, "model": "claude-sonnet-4-5", **columns})
    frame.attrs.update(source=SOURCE, first_line=2)
    return frame


def _names(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, message


def _refusal(frame: pd.DataFrame, **params) -> str:
    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(frame, _params(**params))
    message = message_for(error.value)
    assert message is not None and "\n" not in message
    return message


def test_prompt_tokens_is_refused_with_the_fix_not_silently_dropped():
    message = _refusal(_file(prompt_tokens=[1000, 1100, 1200], output_tokens=[10, 11, 12]))

    _names(message, "/data/usage.csv", "'prompt_tokens'")
    assert "did you mean input_tokens" in message and "cache_read_tokens" in message
    assert "ingestion.unused_columns" in message


@pytest.mark.parametrize("column, suggestion", [
    ("total_tokens", "input_tokens and output_tokens"),
    ("cached_tokens", "did you mean cache_read_tokens"),
    ("input_cached_tokens", "did you mean cache_read_tokens"),
    ("web_search_count", "did you mean one of"),
    ("n_calls", "did you mean one of"),
])
def test_an_unread_count_like_column_stops_the_run(column, suggestion):
    message = _refusal(_file(input_tokens=[1000, 1100, 1200], **{column: [5, 6, 7]}))

    _names(message, "/data/usage.csv", f"'{column}'")
    assert suggestion in message


def test_a_column_listed_as_unused_is_left_out():
    buckets = build_usage_buckets(_file(input_tokens=[1000, 1100, 1200], total_tokens=[5, 6, 7]),
                                  _params(unused_columns=["total_tokens"]))

    assert buckets["input_tokens"].tolist() == [1000.0, 1100.0, 1200.0]


def test_names_with_the_same_meaning_are_read_as_the_canonical_count(caplog):
    frame = _file(**{"Input Tokens": [1000, 1100, 1200], "completion_tokens": [10, 11, 12],
                     "cache_read_input_tokens": [1, 2, 3], "cache_creation_input_tokens": [4, 5, 6],
                     "num_model_requests": [7, 8, 9]})
    with caplog.at_level("INFO", logger="tokenplan"):
        buckets = build_usage_buckets(frame, _params())

    assert buckets["input_tokens"].tolist() == [1000.0, 1100.0, 1200.0]
    assert buckets["output_tokens"].tolist() == [10.0, 11.0, 12.0]
    assert buckets["cache_read_tokens"].tolist() == [1.0, 2.0, 3.0]
    assert buckets["cache_write_tokens"].tolist() == [4.0, 5.0, 6.0]
    assert buckets["requests"].tolist() == [7.0, 8.0, 9.0]
    assert "column 'completion_tokens' read as output_tokens" in caplog.text


def test_a_bad_value_in_a_renamed_column_names_the_files_own_column():
    message = _refusal(_file(input_tokens=[1, 2, 3], completion_tokens=[10, -11, 12]))

    _names(message, SOURCE, "column 'completion_tokens'", "lines [3]", "-11")


def test_two_columns_for_one_count_are_refused():
    message = _refusal(_file(output_tokens=[1, 2, 3], completion_tokens=[1, 2, 3]))

    assert "['output_tokens', 'completion_tokens']" in message and "keep one" in message


def test_labels_and_costs_are_not_counts():
    frame = _file(input_tokens=[1, 2, 3], api_key=["a", "b", "c"], cost_usd=[0.1, 0.2, 0.3],
                  service_tier=["standard"] * 3, request_id=[11, 12, 13], tokens_note=["x", "y", "z"])

    assert len(build_usage_buckets(frame, _params())) == 3


CONSOLE_EXPORT = pd.DataFrame({
    "usage_date_utc": DAYS, "model_version": "claude-sonnet-4-5-20250929",
    "usage_input_tokens_no_cache": [1, 2, 3], "usage_input_tokens_cache_write_5m": [0, 0, 0],
    "usage_input_tokens_cache_write_1h": [0, 0, 0], "usage_input_tokens_cache_read": [0, 0, 0],
    "usage_output_tokens": [1, 2, 3]})


def test_a_console_export_given_as_a_usage_file_names_its_environment():
    frame = CONSOLE_EXPORT.copy()
    frame.attrs.update(source=SOURCE, first_line=2)

    message = _refusal(frame)

    _names(message, "/data/usage.csv", "Anthropic Console usage export", "--env anthropic_console")


def test_a_folder_of_console_exports_names_the_dataset_that_reads_them():
    frame = pd.concat({"2026-01.csv": CONSOLE_EXPORT}, names=["file", "row"])
    frame.attrs.update(source="raw_usage (/data/usage)", first_line=2)

    assert "usage_format=tokenplan.datasets.AnthropicConsoleCSVDataset" in _refusal(frame)


@pytest.mark.parametrize("name", ["date", "Date", "time", "datetime", "ts", "start_time"])
def test_a_timestamp_under_another_name_gets_a_rename_hint(name):
    frame = _file(input_tokens=[1, 2, 3]).rename(columns={"timestamp": name})

    message = _refusal(frame)

    assert f"required column 'timestamp' is missing: did you mean '{name}'? Rename it to timestamp" in message


def test_a_model_under_another_name_gets_a_rename_hint():
    message = _refusal(_file(input_tokens=[1, 2, 3]).rename(columns={"model": "model_name"}))

    assert "did you mean 'model_name'" in message
