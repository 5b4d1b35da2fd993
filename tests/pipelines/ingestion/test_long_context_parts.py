"""A Console export's long-context rows survive ingestion as the long-context part of each token count."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tokenplan.datasets import AnthropicConsoleCSVDataset
from tokenplan.ingestion.context_windows import is_long_context
from tokenplan.pipelines.ingestion.nodes import build_usage_buckets
from tokenplan.schemas import LONG_CONTEXT_TOKENS, InvalidInputError

HEADER = ("usage_date_utc,model_version,workspace,context_window,usage_input_tokens_no_cache,"
          "usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,"
          "usage_output_tokens")
ROWS = [  # two days; on each, base and long-context rows of the same model and workspace
    "2026-09-01,claude-sonnet-4-5-20250929,Default,0-200k,3000,100,0,500,300",
    "2026-09-01,claude-sonnet-4-5-20250929,Default,200k-1M,1000,0,0,200,100",
    "2026-09-02,claude-sonnet-4-5-20250929,Default,0-200k,2000,100,0,500,300",
    "2026-09-02,claude-sonnet-4-5-20250929,Default,200K - 1M,2000,50,0,0,100",
]
PARAMS = {"timezone": "UTC", "bucket": "D", "series_dimensions": [], "model_aliases": {}}


def _buckets(tmp_path: Path, rows: list[str], header: str = HEADER, **params) -> pd.DataFrame:
    path = tmp_path / "claude_api_usage.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return build_usage_buckets(AnthropicConsoleCSVDataset(filepath=str(path)).load(), {**PARAMS, **params})


@pytest.mark.parametrize("label", ["200k-1M", "200k-1m", "200K - 1M", "200k_1m", ">200k", "200k+", "1m"])
def test_windows_starting_above_zero_are_long_context(label):
    assert is_long_context(label) is True


@pytest.mark.parametrize("label", ["0-200k", "0 – 200K", "0_200k", "<200k", "up to 200k", "", None])
def test_the_window_from_zero_and_a_blank_one_are_the_base(label):
    assert is_long_context(label) is False


def test_the_long_context_rows_are_the_parts_of_the_summed_series(tmp_path):
    buckets = _buckets(tmp_path, ROWS).set_index("timestamp")
    assert list(buckets["series"].unique()) == ["claude-sonnet-4-5"]  # both windows summed into one series
    assert buckets["input_tokens"].tolist() == [4000, 4000]
    assert buckets["long_context_input_tokens"].tolist() == [1000, 2000]
    assert buckets["long_context_cache_write_tokens"].tolist() == [0, 50]
    assert buckets["long_context_cache_read_tokens"].tolist() == [200, 0]
    assert buckets["long_context_output_tokens"].tolist() == [100, 100]


def test_with_the_window_as_a_series_dimension_each_series_is_all_or_nothing_long_context(tmp_path):
    buckets = _buckets(tmp_path, ROWS[:2], series_dimensions=["context_window"]).set_index("series")
    assert buckets.loc["claude-sonnet-4-5/200k-1M", "long_context_input_tokens"] == 1000
    assert buckets.loc["claude-sonnet-4-5/0-200k", "long_context_input_tokens"] == 0


def test_an_export_without_context_window_has_no_long_context_parts(tmp_path):
    header = HEADER.replace(",context_window", "")
    rows = [",".join(r.split(",")[:3] + r.split(",")[4:]) for r in ROWS[::2]]
    buckets = _buckets(tmp_path, rows, header=header)
    assert not set(LONG_CONTEXT_TOKENS) & set(buckets.columns)  # unknown, not zero


def test_a_window_without_bounds_stops_the_run_naming_the_line(tmp_path):
    rows = [*ROWS[:2], ROWS[2].replace("0-200k", "standard")]
    with pytest.raises(InvalidInputError, match=r"claude_api_usage.csv: column 'context_window' has invalid values "
                                                r"at lines \[4\]: \['standard'\]"):
        _buckets(tmp_path, rows)
