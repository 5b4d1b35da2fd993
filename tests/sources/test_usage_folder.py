"""UsageFolderDataset: a folder of monthly usage files read as one table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

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


def _load(folder: Path, suffix: str = ".csv") -> pd.DataFrame:
    usage = UsageFolderDataset(path=str(folder), filename_suffix=suffix).load()
    usage.attrs["first_line"] = 2
    return usage


def _overlapping_weeks(root: Path, later: pd.DataFrame) -> pd.DataFrame:
    """Writes 2026-02 (48 hours) and ``later`` as 2026-02-b; returns what the first file holds."""
    earlier = _month("2026-02").assign(model="claude-sonnet-4-5-20250929")
    earlier.to_csv(root / "2026-02.csv", index=False)
    later.to_csv(root / "2026-02-b.csv", index=False)
    return earlier


def test_overlapping_files_spelling_the_model_differently_are_read_once(tmp_path):
    # The second file re-exports the last day under the name people write, then adds a day.
    overlap = _month("2026-02").iloc[24:].assign(model="Claude Sonnet 4.5")
    next_day = _month("2026-02").iloc[24:].assign(
        timestamp=lambda d: (pd.to_datetime(d["timestamp"]) + pd.Timedelta(days=1)).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        model="us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    _overlapping_weeks(tmp_path, pd.concat([overlap, next_day]))

    buckets = build_usage_buckets(_load(tmp_path), HOURLY)

    assert buckets["series"].unique().tolist() == ["claude-sonnet-4-5"]
    assert buckets["requests"].sum() == sum(range(1, 49)) + sum(range(25, 49))  # the overlap's day once
    assert buckets.attrs["repeated_rows"] == 24 and buckets.attrs["revised_rows"] == 0


def test_a_label_column_only_one_file_has_does_not_make_its_overlap_new_usage(tmp_path):
    _overlapping_weeks(tmp_path, _month("2026-02").iloc[24:].assign(service_tier="standard"))

    buckets = build_usage_buckets(_load(tmp_path), HOURLY)

    assert buckets["requests"].tolist() == list(range(1, 49))
    assert buckets.attrs["repeated_rows"] == 24


def test_a_later_file_spelling_the_model_differently_still_revises_the_earlier(tmp_path):
    _overlapping_weeks(tmp_path, _month("2026-02").iloc[24:].assign(model="claude-sonnet-4-5", requests=1000,
                                                                    service_tier="standard"))

    buckets = build_usage_buckets(_load(tmp_path), HOURLY)

    assert buckets["requests"].tolist() == list(range(1, 25)) + [1000] * 24
    assert buckets.attrs["revised_rows"] == 24 and buckets.attrs["repeated_rows"] == 0


def test_a_label_both_files_give_still_tells_rows_apart(tmp_path):
    standard = _month("2026-02").assign(service_tier="standard")
    _overlapping_weeks(tmp_path, pd.concat([standard.iloc[24:], standard.iloc[24:].assign(service_tier="priority")]))
    (tmp_path / "2026-02.csv").write_text(standard.to_csv(index=False))

    buckets = build_usage_buckets(_load(tmp_path), HOURLY)

    # The day both files give is the standard rows once plus the priority rows the second file adds.
    assert buckets["requests"].tolist() == list(range(1, 25)) + [2 * r for r in range(25, 49)]
    assert buckets.attrs["repeated_rows"] == 24 and buckets.attrs["revised_rows"] == 0


def test_headers_cased_differently_in_one_file_are_read_as_the_others(folder):
    february = _month("2026-02").rename(columns={"model": "Model", "requests": " Requests", "timestamp": "Timestamp"})
    february.to_csv(folder / "2026-02.csv", index=False)

    buckets = build_usage_buckets(_load(folder), HOURLY)

    assert buckets["requests"].sum() == 3 * sum(range(1, 49))


def test_a_header_clash_inside_one_file_names_that_file(folder):
    _month("2026-02").assign(Model="claude-haiku-4-5").to_csv(folder / "2026-02.csv", index=False)

    # Kedro wraps a dataset's error; the project's CLI prints the input error's message alone.
    with pytest.raises(DatasetError, match=r"2026-02.csv: columns \['model', 'Model'\] would all be read as"):
        _load(folder)


def test_a_daily_file_among_hourly_files_stops_the_run_naming_it(folder):
    days = pd.DataFrame({"timestamp": pd.date_range("2026-04-01", periods=30, freq="D").strftime("%Y-%m-%d"),
                         "model": "claude-sonnet-4-5", "requests": 500, "input_tokens": 100, "output_tokens": 10})
    days.to_csv(folder / "2026-04.csv", index=False)

    with pytest.raises(InvalidInputError, match=r"2026-04.csv has daily rows \(typically 1 day apart per series\) "
                                                r"but the folder is read in hours"):
        build_usage_buckets(_load(folder), {**HOURLY, "bucket": "auto"})
    # Read in days, hours and days add up.
    daily = build_usage_buckets(_load(folder), {**HOURLY, "bucket": "D"})
    assert daily["requests"].sum() == 3 * sum(range(1, 49)) + 30 * 500


def test_an_upper_case_suffix_is_read_and_the_report_lists_the_files(folder):
    (folder / "2026-03.csv").rename(folder / "2026-03.CSV")

    buckets = build_usage_buckets(_load(folder), HOURLY)

    assert buckets.dropna(subset=["requests"]).shape[0] == 3 * 48
    assert buckets.attrs["files_read"] == ["2026-01.csv", "2026-02.csv", "2026-03.CSV"]
    assert ("Files read (3): 2026-01.csv, 2026-02.csv, 2026-03.CSV; others in the folder, not read: README.txt."
            in data_notes(buckets.attrs))


def test_a_mistyped_folder_is_not_found(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path / 'nope'}: folder not found"):
        UsageFolderDataset(path=str(tmp_path / "nope"), filename_suffix=".csv").load()


def test_a_file_that_is_not_usage_is_named_as_such(folder):
    (folder / "rate_limits.csv").write_text("model_group,models,rpm,itpm,otpm\nSonnet,claude-sonnet-4-5,50,3,1\n")

    with pytest.raises(DatasetError, match=r"rate_limits.csv: not a usage file: none of its columns is timestamp, "
                                        r"model or a count .*; move it out of the folder"):
        UsageFolderDataset(path=str(folder), filename_suffix=".csv").load()


def test_two_spellings_inside_one_file_stay_two_routes_traffic(tmp_path):
    # The later file gives the overlap day twice, once per route (Bedrock and the API): both are usage.
    bedrock = _month("2026-02").iloc[24:].assign(model="us.anthropic.claude-sonnet-4-5-20250929-v1:0", requests=1)
    _overlapping_weeks(tmp_path, pd.concat([_month("2026-02").iloc[24:], bedrock]))

    buckets = build_usage_buckets(_load(tmp_path), HOURLY)

    assert buckets["requests"].tolist() == list(range(1, 25)) + [r + 1 for r in range(25, 49)]
    assert buckets.attrs["repeated_rows"] == 24  # the earlier file's rows are the API route's
