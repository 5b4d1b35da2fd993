"""UsageFolderDataset: a folder of monthly usage files read as one table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tokenplan.datasets import UsageFolderDataset
from tokenplan.pipelines.ingestion.nodes import build_usage_buckets
from tokenplan.reporting.data_notes import data_notes
from tokenplan.schemas import InvalidInputError

HOURLY = {"timezone": "UTC", "bucket": "h", "series_dimensions": [], "model_aliases": {}}
MONTHS = ("2026-01", "2026-02", "2026-03")


def _month(month: str) -> pd.DataFrame:
    """The first 48 hours of ``month`` for one model; requests count the hours from 1."""
    hours = pd.date_range(f"{month}-01", periods=48, freq="h", tz="UTC")
    return pd.DataFrame({"timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ"), "model": "claude-sonnet-4-5",
                         "requests": range(1, 49), "input_tokens": 100, "output_tokens": 10})


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "usage"
    root.mkdir()
    for month in reversed(MONTHS):  # written out of order on purpose
        _month(month).to_csv(root / f"{month}.csv", index=False)
    (root / "README.txt").write_text("not usage")
    return root


def test_three_monthly_csvs_load_as_one_table_in_file_order(folder):
    usage = UsageFolderDataset(path=str(folder), filename_suffix=".csv").load()

    assert len(usage) == 3 * 48
    assert usage.index.get_level_values("file").unique().tolist() == [f"{m}.csv" for m in MONTHS]
    assert pd.to_datetime(usage["timestamp"]).is_monotonic_increasing


def test_folder_feeds_ingestion_with_gaps_between_months_kept_missing(folder):
    buckets = build_usage_buckets(UsageFolderDataset(path=str(folder), filename_suffix=".csv").load(), HOURLY)

    observed = buckets.dropna(subset=["requests"])
    assert len(observed) == 3 * 48
    assert observed["requests"].sum() == 3 * sum(range(1, 49))
    # Hours between the files' two-day spans are missing rows, not zeros.
    assert buckets["requests"].isna().sum() == len(buckets) - 3 * 48


def test_a_bad_value_names_the_file_and_its_row(folder):
    february = _month("2026-02")
    february.loc[5, "input_tokens"] = -3
    february.to_csv(folder / "2026-02.csv", index=False)
    usage = UsageFolderDataset(path=str(folder), filename_suffix=".csv").load()

    usage.attrs["first_line"] = 2  # what the project's hook sets for a folder of CSV files

    # The file and its line as an editor counts them (header = line 1).
    with pytest.raises(InvalidInputError, match=r"'input_tokens' has invalid values at \[2026-02.csv line 7\]"):
        build_usage_buckets(usage, HOURLY)


def test_parquet_folder(tmp_path):
    for month in MONTHS:
        _month(month).to_parquet(tmp_path / f"{month}.parquet")

    usage = UsageFolderDataset(path=str(tmp_path), dataset="pandas.ParquetDataset",
                               filename_suffix=".parquet").load()

    assert len(usage) == 3 * 48


def test_describe_names_the_folder(folder):
    assert UsageFolderDataset(path=str(folder))._describe()["path"] == str(folder)


def test_a_later_file_revises_an_earlier_one_and_the_count_is_kept(folder, caplog):
    revision = _month("2026-02").head(5).assign(requests=1000)  # re-exported first hours, revised
    revision.to_csv(folder / "2026-02-revised.csv", index=False)
    usage = UsageFolderDataset(path=str(folder), filename_suffix=".csv").load()

    with caplog.at_level("WARNING", logger="tokenplan"):
        buckets = build_usage_buckets(usage, HOURLY)

    february = buckets[buckets["timestamp"] >= pd.Timestamp("2026-02-01", tz="UTC")]
    assert february["requests"].head(6).tolist() == [1000.0] * 5 + [6.0]
    assert buckets.attrs["revised_rows"] == 5
    assert any("5 rows revised by a later file" in r.getMessage() for r in caplog.records)


def test_a_month_exported_twice_is_read_once_and_the_report_says_how_many_rows_repeated(folder):
    _month("2026-02").to_csv(folder / "2026-02 (1).csv", index=False)  # the same export, saved twice
    usage = UsageFolderDataset(path=str(folder), filename_suffix=".csv").load()
    single = build_usage_buckets(UsageFolderDataset(path=str(folder), filename_suffix=".csv").load()
                                 .drop(index="2026-02 (1).csv", level="file"), HOURLY)

    buckets = build_usage_buckets(usage, HOURLY)

    pd.testing.assert_frame_equal(buckets, single)
    assert buckets.attrs["repeated_rows"] == 48 and single.attrs["repeated_rows"] == 0
    assert "a file given twice), read once: 48." in data_notes(buckets.attrs)


def test_conflicting_rows_inside_one_file_name_both_lines(folder):
    february = _month("2026-02")
    february.loc[3, "requests"] = 99
    pd.concat([february, february.iloc[[3]].assign(requests=7)]).to_csv(folder / "2026-02.csv", index=False)
    usage = UsageFolderDataset(path=str(folder), filename_suffix=".csv").load()
    usage.attrs["first_line"] = 2

    with pytest.raises(InvalidInputError, match=r"\[2026-02.csv line 5, 2026-02.csv line 50\] have the same"):
        build_usage_buckets(usage, HOURLY)
