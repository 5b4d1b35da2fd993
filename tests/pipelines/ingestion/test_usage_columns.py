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

from tokenplan.datasets import UsageFolderDataset
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
    ("n_calls", "did you mean requests?"),
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


@pytest.mark.parametrize("column, count", [
    ("OutputTokens", "output_tokens"),
    ("outputTokens", "output_tokens"),
    ("completionTokens", "output_tokens"),
    ("cacheReadInputTokens", "cache_read_tokens"),
    ("CacheCreationInputTokens", "cache_write_tokens"),
    ("numModelRequests", "requests"),
])
def test_a_known_name_in_camel_case_is_read(column, count):
    buckets = build_usage_buckets(_file(input_tokens=[1000, 1100, 1200], **{column: [10, 11, 12]}), _params())

    assert buckets[count].tolist() == [10.0, 11.0, 12.0]


def test_a_one_hour_cache_write_part_in_camel_case_is_read():
    frame = _file(cacheWriteTokens=[10, 11, 12], CacheWrite1hTokens=[1, 2, 3])

    buckets = build_usage_buckets(frame, _params())

    assert buckets["cache_write_1h_tokens"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("column, count", [
    ("output_tokns", "output_tokens"),
    ("output_tok", "output_tokens"),
    ("output", "output_tokens"),
    ("output_token", "output_tokens"),
    ("out_tokens", "output_tokens"),
    ("GeneratedTokens", "output_tokens"),  # the Azure LLM inference trace's output
    ("ContextTokens", "input_tokens"),     # and its input
    ("inptu_tokens", "input_tokens"),
    ("Request tokens", "input_tokens"),    # BurstGPT's input
    ("cacheHitTokens", "cache_read_tokens"),
    ("reqs", "requests"),
    ("rquests", "requests"),
])
def test_a_misspelt_or_partial_count_name_stops_the_run_with_the_closest_count(column, count):
    message = _refusal(_file(input_tokens=[1000, 1100, 1200], **{column: [5, 6, 7]}))

    _names(message, "/data/usage.csv", f"column '{column}'", f"did you mean {count}?", "ingestion.unused_columns")


def test_a_count_like_column_listed_as_unused_is_left_out_in_any_case():
    frame = _file(input_tokens=[1000, 1100, 1200], GeneratedTokens=[5, 6, 7], **{"Total Tokens": [1, 2, 3]})

    buckets = build_usage_buckets(frame, _params(unused_columns=["generated_tokens", "total_tokens"]))

    assert buckets["input_tokens"].tolist() == [1000.0, 1100.0, 1200.0]


def test_ids_times_dimensions_costs_and_documented_columns_are_not_counts():
    frame = _file(
        requests=[10, 10, 10], input_tokens=[100, 100, 100], cache_write_tokens=[10, 10, 10],
        cache_write_1h_tokens=[1, 1, 1], long_context_input_tokens=[0, 0, 50], peak_rpm=[1, 1, 1],
        context_window=["0-200k", "0-200k", "200k-1M"], request_id=[1, 2, 3], userId=[4, 5, 6], team=[7, 8, 9],
        APIKey=["a", "b", "c"], generated_at=[1767225600, 1767312000, 1767398400], latency_ms=[300, 310, 320],
        input_cost_usd=[0.1, 0.1, 0.1], cache_hit_rate=[0.5, 0.5, 0.5], tokens_per_second=[50, 50, 50],
        peak_tpm=[90, 90, 90], long_context_requests=[0, 0, 1], frequency=[1, 1, 1], input_tpm=[100, 100, 100],
        prompt=["hi", "hello", "hey"], output=["a", "b", "c"])

    assert len(build_usage_buckets(frame, _params())) == 3


def _folder(tmp_path, **february) -> pd.DataFrame:
    """A folder of two files read as one table: January with canonical headers, February with ``february``."""
    root = tmp_path / "usage"
    root.mkdir()
    _file(input_tokens=[1, 2, 3], output_tokens=[1, 2, 3]).to_csv(root / "2026-01.csv", index=False)
    _file(**february).assign(timestamp=["2026-02-01", "2026-02-02", "2026-02-03"]).to_csv(
        root / "2026-02.csv", index=False)
    usage = UsageFolderDataset(path=str(root), filename_suffix=".csv").load()
    usage.attrs.update(source=f"raw_usage ({root})")
    return usage


def test_a_count_like_column_in_a_folder_names_the_file_that_has_it(tmp_path):
    message = _refusal(_folder(tmp_path, input_tokens=[1, 2, 3], GeneratedTokens=[1, 2, 3]))

    _names(message, "column 'GeneratedTokens' (in 2026-02.csv)", "did you mean output_tokens?")


def test_camel_case_headers_of_two_files_in_a_folder_are_one_column(tmp_path):
    buckets = build_usage_buckets(_folder(tmp_path, InputTokens=[1, 2, 3], OutputTokens=[4, 5, 6]), _params())

    assert buckets.dropna(subset=["output_tokens"])["output_tokens"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


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
