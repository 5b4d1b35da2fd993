"""Issue 9: every source's data read right or refused with one clear message.

Node-level cases (fast, no files written): timestamps with changing or mixed offsets,
day-first dates, implausible values, blank and provider-specific model ids, the bucket
width of the input, request-log quiet hours and a bad numeric timestamp's own line,
and the one-line messages for files that cannot be read at all.
"""

from __future__ import annotations

import logging

import ibis
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro_datasets import ibis as ibis_datasets
from kedro_datasets.pandas import CSVDataset

from tests.assertions import assert_error_names
from tokenplan.datasets import AnthropicConsoleCSVDataset, DemoTrafficDataset, UsageFolderDataset
from tokenplan.hooks import DemoEventsHooks
from tokenplan.pipelines.ingestion.nodes import build_events_calendar, build_usage_buckets
from tokenplan.schemas import InvalidInputError
from tokenplan.ingestion.source_labels import label_source
from tokenplan.user_errors import message_for
from tokenplan.ingestion.usage_buckets import normalise_model_id

SONNET = "claude-sonnet-4-5"
SOURCE = "raw_usage (/data/usage.csv)"
EVENTS_SOURCE = "raw_events (/data/events.csv)"


def _params(**overrides) -> dict:
    return {"timezone": "UTC", "bucket": "auto", "series_dimensions": [], "model_aliases": {}, **overrides}


def _usage(timestamps: list, models=SONNET, **columns) -> pd.DataFrame:
    n = len(timestamps)
    frame = pd.DataFrame({"timestamp": timestamps, "model": models,
                          "requests": columns.pop("requests", [10.0] * n),
                          "input_tokens": columns.pop("input_tokens", [1000.0 + i for i in range(n)]), **columns})
    frame.attrs.update(source=SOURCE, first_line=2)  # as the project's hook labels a CSV
    return frame


def _observed(buckets: pd.DataFrame) -> list[pd.Timestamp]:
    return list(buckets.dropna(subset=["requests"])["timestamp"])


# ----------------------------------------------------------------- timestamps (items 2, 3)


def test_iso_offsets_changing_across_dst_are_read_exactly():
    raw = _usage(["2025-11-02T00:00:00-04:00", "2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00",
                  "2025-11-02T02:00:00-05:00"])

    buckets = build_usage_buckets(raw, _params(timezone="America/New_York"))

    assert _observed(buckets) == list(pd.date_range("2025-11-02 04:00", periods=4, freq="h", tz="UTC"))


def test_z_and_plus_two_mixed_in_one_column_are_read_exactly():
    raw = _usage(["2025-07-01T08:00:00Z", "2025-07-01T11:00:00+02:00", "2025-07-01 10:00"])

    buckets = build_usage_buckets(raw, _params())

    assert _observed(buckets) == list(pd.date_range("2025-07-01 08:00", periods=3, freq="h", tz="UTC"))


def test_events_with_mixed_offsets_are_read_exactly():
    events = pd.DataFrame({"start": ["2025-07-01T08:00:00Z", "2025-12-01T00:00:00-05:00"],
                           "end": ["2025-07-02T00:00:00+02:00", "2025-12-02T00:00:00-05:00"],
                           "name": ["a", "b"], "kind": ["campaign", "launch"], "scope": [None, None]})

    calendar = build_events_calendar(events, _params())

    assert calendar["start"].tolist() == [pd.Timestamp("2025-07-01 08:00", tz="UTC"),
                                          pd.Timestamp("2025-12-01 05:00", tz="UTC")]
    assert calendar["end"].iloc[0] == pd.Timestamp("2025-07-01 22:00", tz="UTC")


def test_day_first_dates_are_read_day_first_when_the_column_decides():
    stamps = [f"{day:02d}/01/2026 {hour:02d}:00" for day in (5, 13) for hour in (0, 1)]

    buckets = build_usage_buckets(_usage(stamps), _params())

    assert _observed(buckets)[0] == pd.Timestamp("2026-01-05 00:00", tz="UTC")
    assert _observed(buckets)[-1] == pd.Timestamp("2026-01-13 01:00", tz="UTC")


def test_ambiguous_day_month_dates_stop_unless_the_format_is_given():
    stamps = ["05/01/2026 00:00", "05/01/2026 01:00", "06/01/2026 00:00"]

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(_usage(stamps), _params())

    assert_error_names(error, SOURCE, "timestamp", 2, "05/01/2026 00:00")
    assert "ingestion.timestamp_format" in str(error.value)
    buckets = build_usage_buckets(_usage(stamps), _params(timestamp_format="%d/%m/%Y %H:%M"))
    assert _observed(buckets)[-1] == pd.Timestamp("2026-01-06 00:00", tz="UTC")


def test_dates_written_both_ways_round_stop():
    with pytest.raises(InvalidInputError, match="both day-first and month-first"):
        build_usage_buckets(_usage(["13/01/2026 00:00", "01/13/2026 01:00"]), _params())


def test_a_format_that_does_not_fit_names_the_line():
    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(_usage(["05/01/2026 00:00", "2026-01-05 01:00"]),
                            _params(timestamp_format="%d/%m/%Y %H:%M"))

    assert_error_names(error, SOURCE, "timestamp", 3, "2026-01-05 01:00")


# ----------------------------------------------------------------- implausible values (item 6)


def _steady(n: int = 48, spike_at: int | None = None, spike: float = 1e15) -> pd.DataFrame:
    tokens = [1_000_000.0 + 1000 * (i % 24) for i in range(n)]
    if spike_at is not None:
        tokens[spike_at] = spike
    return _usage(list(pd.date_range("2026-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M")),
                  input_tokens=tokens)


def test_an_implausible_value_stops_the_run_naming_its_line():
    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(_steady(spike_at=30), _params())

    assert_error_names(error, SOURCE, "input_tokens", 32, "1000000000000000.0")
    assert "ingestion.implausible" in str(error.value)


def test_an_implausible_value_can_be_excluded_and_listed():
    buckets = build_usage_buckets(_steady(spike_at=30), _params(implausible={"action": "exclude"}))

    assert np.isnan(buckets["input_tokens"].iloc[30]) and buckets["requests"].iloc[30] == 10.0
    [excluded] = buckets.attrs["excluded_values"]
    assert excluded["row"] == "lines [32]" and excluded["value"] == 1e15 and excluded["column"] == "input_tokens"


def test_an_excluded_cache_write_count_takes_its_one_hour_part_with_it():
    usage = _steady()
    writes = [1000.0] * len(usage)
    writes[30] = 1e15
    usage = usage.assign(cache_write_tokens=writes, cache_write_1h_tokens=200.0)

    buckets = build_usage_buckets(usage, _params(implausible={"action": "exclude"}))

    assert np.isnan(buckets["cache_write_tokens"].iloc[30]) and np.isnan(buckets["cache_write_1h_tokens"].iloc[30])
    assert buckets["cache_write_1h_tokens"].iloc[29] == 200.0


def test_bursts_and_growth_are_not_implausible():
    usage = _steady(spike_at=30, spike=50_000_000.0)  # a 50-fold burst

    assert build_usage_buckets(usage, _params())["input_tokens"].iloc[30] == 50_000_000.0


# ----------------------------------------------------------------- model ids (item 8)


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_model_id_names_its_line(blank):
    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(_usage(["2026-01-01 00:00", "2026-01-01 01:00"], models=[SONNET, blank]), _params())

    assert_error_names(error, SOURCE, "model", 3, repr(blank))


@pytest.mark.parametrize("raw", ["claude-sonnet-4-5@20250929", "vertex_ai/claude-sonnet-4-5@20250929",
                                 "anthropic.claude-sonnet-4-5-20250929-v1:0",
                                 "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock/global.anthropic.claude-sonnet-4-5-20250929-v1:0"])
def test_vertex_and_bedrock_ids_become_the_anthropic_id(raw):
    assert normalise_model_id(raw) == SONNET


@pytest.mark.parametrize("raw", ["Claude Sonnet 4.5", "claude-sonnet-4.5", "Claude-Sonnet-4-5", "claude_sonnet_4_5",
                                 "openrouter/anthropic/claude-sonnet-4.5", "azure_ai/claude-sonnet-4-5",
                                 "litellm_proxy/us.anthropic.claude-sonnet-4-5-20250929-v1:0"])
def test_a_claude_model_written_as_a_name_or_behind_a_router_is_the_anthropic_id(raw):
    # Else its own series, unpriced ("no price" in the report) or split from the same model's other rows.
    assert normalise_model_id(raw) == SONNET


@pytest.mark.parametrize(("raw", "expected"), [("Claude 3.5 Sonnet", "claude-3-5-sonnet"), ("gpt-4.1", "gpt-4.1"),
                                               ("meta-llama/llama-3.1-70b", "meta-llama/llama-3.1-70b")])
def test_only_claude_names_lose_their_dots_and_paths(raw, expected):
    assert normalise_model_id(raw) == expected


# ----------------------------------------------------------------- bucket width (issue 8)


def test_daily_usage_gets_daily_buckets_not_23_missing_hours(caplog):
    days = list(pd.date_range("2026-01-01", periods=10, freq="D").strftime("%Y-%m-%d"))

    with caplog.at_level("INFO", logger="tokenplan"):
        buckets = build_usage_buckets(_usage(days), _params())

    assert len(buckets) == 10 and buckets["requests"].notna().all()
    assert buckets.attrs["bucket"] == "D"
    assert (buckets["timestamp"].diff().dropna() == pd.Timedelta(days=1)).all()
    assert any("detected" in r.getMessage() and "daily" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("days", "timezone"), [
    # Local midnights east of UTC are the previous UTC day: each row is still its own date.
    (["2026-03-27T00:00:00+01:00", "2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+02:00",
      "2026-03-30T00:00:00+02:00"], "UTC"),
    (["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30"], "Asia/Tokyo"),
    (["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30"], "America/New_York"),
    # +12 (New Zealand's winter): midnight is noon UTC the day before, a tie each row alone rounds both ways.
    (["2026-03-27T00:00:00+12:00", "2026-03-28T00:00:00+12:00", "2026-03-29T00:00:00+12:00",
      "2026-03-30T00:00:00+12:00"], "UTC"),
    # Across New Zealand's daylight-saving end (2026-04-05): +13, then +12; and naive midnights read there.
    (["2026-04-03T00:00:00+13:00", "2026-04-04T00:00:00+13:00", "2026-04-05T00:00:00+13:00",
      "2026-04-06T00:00:00+12:00"], "UTC"),
    (["2026-04-03 00:00", "2026-04-04 00:00", "2026-04-05 00:00", "2026-04-06 00:00"], "Pacific/Auckland"),
    (["2026-03-27 00:00:00", "2026-03-28 00:00:00", "2026-03-29 00:00:00", "2026-03-30 00:00:00"], "Europe/Berlin"),
])
def test_daily_rows_keep_their_own_date_in_any_zone(days, timezone):
    buckets = build_usage_buckets(_usage(days, requests=[1.0, 2.0, 3.0, 4.0]), _params(timezone=timezone))

    assert _observed(buckets) == list(pd.date_range(days[0][:10], periods=4, freq="D", tz="UTC"))
    assert buckets["requests"].tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("written", [["2026-09-27", "2026-10-25"], ["27-09-2026", "25-10-2026"]])
def test_a_date_alone_is_read_in_the_configured_zone_not_as_an_offset(written):
    # "-27" and "-2026" at the end of a date are not zones: an event on a date starts at its local midnight.
    from tokenplan.schemas import parse_timestamps

    times = parse_timestamps(pd.Series(written), "events.csv", "start", "Europe/Berlin")

    assert times.tolist() == [pd.Timestamp("2026-09-26 22:00", tz="UTC"), pd.Timestamp("2026-10-24 22:00", tz="UTC")]
    with_time = parse_timestamps(pd.Series(["2026-09-27T00:00:00-05:00", "2026-09-27 10:00"]), "e", "start", "Asia/Tokyo")
    assert with_time.tolist() == [pd.Timestamp("2026-09-27 05:00", tz="UTC"), pd.Timestamp("2026-09-27 01:00", tz="UTC")]
    # ISO 8601's compact clock times keep their offsets.
    compact = parse_timestamps(pd.Series(["20260105T100000+0200", "2026-01-05T10+02", "2026-01-05T1000+0200"]),
                               "e", "start", "Asia/Tokyo")
    assert (compact == pd.Timestamp("2026-01-05 08:00", tz="UTC")).all()


def test_hours_summed_to_days_keep_the_utc_day_they_start_in():
    hours = list(pd.date_range("2026-03-27 20:00", periods=8, freq="h").strftime("%Y-%m-%d %H:%M"))

    buckets = build_usage_buckets(_usage(hours), _params(bucket="D"))

    assert buckets["timestamp"].tolist() == list(pd.date_range("2026-03-27", periods=2, freq="D", tz="UTC"))
    assert buckets["requests"].tolist() == [40.0, 40.0]


def test_daily_usage_with_an_hourly_bucket_stops_saying_what_the_data_has():
    days = list(pd.date_range("2026-01-01", periods=10, freq="D").strftime("%Y-%m-%d"))

    with pytest.raises(InvalidInputError, match=r"ingestion.bucket is 'h' but the data is daily"):
        build_usage_buckets(_usage(days), _params(bucket="h"))


def test_five_minute_rows_are_summed_to_hours():
    stamps = list(pd.date_range("2026-01-01", periods=18, freq="5min").strftime("%Y-%m-%d %H:%M"))

    buckets = build_usage_buckets(_usage(stamps), _params())

    assert buckets.attrs["bucket"] == "h"
    assert buckets["requests"].tolist() == [120.0, 60.0]


# ----------------------------------------------------------------- request logs (items 4, 7)


def test_a_bad_numeric_timestamp_in_a_request_log_is_named_at_its_own_line(tmp_path):
    path = tmp_path / "requests.csv"
    path.write_text("timestamp,model,input_tokens,output_tokens\n"
                    "1767225600,m,5,1\n1767225660,m,5,1\n17672256x0,m,5,1\n1767229200,m,5,1\n")
    table = ibis.duckdb.connect().read_csv(str(path))
    label_source(table, SOURCE, first_line=2)

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(table, _params(request_log={}))

    assert_error_names(error, SOURCE, "timestamp", 4, "17672256x0")


def _request_log(path, text: str):
    path.write_text(text)
    table = ibis.duckdb.connect().read_csv(str(path))
    label_source(table, SOURCE, first_line=2)
    return table


def test_an_empty_request_log_file_says_so(tmp_path):
    with pytest.raises(InvalidInputError, match=r"^raw_usage \(/data/usage.csv\): the file is empty"):
        build_usage_buckets(_request_log(tmp_path / "requests.csv", ""), _params(request_log={}))


def test_a_request_log_line_with_an_extra_field_is_named_not_read_as_one_column(tmp_path):
    lines = ["timestamp,model,input_tokens,output_tokens"] + [f"2026-01-01T00:{i:02d}:00Z,m,5,1" for i in range(30)]
    lines[12] += ",oops"
    table = _request_log(tmp_path / "requests.csv", "\n".join(lines) + "\n")

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(table, _params(request_log={}))

    message = str(error.value)
    assert message.startswith(SOURCE) and "2026-01-01T00:11:00Z,m,5,1,oops" in message, message
    assert "5 fields" in message and "header's 4" in message, message


def test_a_csv_whose_dialect_cannot_be_sniffed_gets_one_line(tmp_path):
    path = tmp_path / "requests.csv"
    lines = ["timestamp,model,input_tokens,output_tokens"] + [f"2026-01-01T00:{i:02d}:00Z,m,5,1" for i in range(30)]
    path.write_bytes(("\r\n".join(lines[:15]) + "\n" + "\r\n".join(lines[15:]) + "\r\n").encode())
    dataset = ibis_datasets.FileDataset(filepath=str(path), file_format="csv",
                                        connection={"backend": "duckdb", "database": ":memory:"})

    message = message_for(_load_error(dataset))

    assert message.startswith(f"{path}: not a readable CSV") and "\n" not in message, message
    assert "line endings" in message


# ----------------------------------------------------------------- files that cannot be read (item 7)


def _load_error(dataset) -> BaseException:
    with pytest.raises(Exception) as error:
        dataset.load()
    return error.value


def test_an_empty_file_says_so(tmp_path):
    (tmp_path / "usage.csv").write_text("")

    message = message_for(_load_error(CSVDataset(filepath=str(tmp_path / "usage.csv"))))

    assert message == f"{tmp_path / 'usage.csv'}: the file is empty (no header, no rows)"


def test_a_header_only_file_says_so(tmp_path):
    (tmp_path / "usage.csv").write_text("timestamp,model,requests\n")
    usage = CSVDataset(filepath=str(tmp_path / "usage.csv")).load()
    usage.attrs["source"] = SOURCE

    with pytest.raises(InvalidInputError, match=r"raw_usage \(/data/usage.csv\): no data rows"):
        build_usage_buckets(usage, _params())


def test_a_file_that_is_not_utf8_says_so(tmp_path):
    (tmp_path / "usage.csv").write_bytes("timestamp,model,requests\n2026-01-01,caf\xe9,1\n".encode("latin-1"))

    message = message_for(_load_error(CSVDataset(filepath=str(tmp_path / "usage.csv"))))

    assert message.startswith(f"{tmp_path / 'usage.csv'}: not UTF-8 text") and "encoding" in message


def test_an_unknown_console_layout_names_the_missing_column(tmp_path):
    (tmp_path / "export.csv").write_text("day,model,tokens\n2026-01-01,m,1\n")

    message = message_for(_load_error(AnthropicConsoleCSVDataset(filepath=str(tmp_path / "export.csv"))))

    assert "not a recognised Anthropic Console usage export: missing column 'usage_date_utc'" in message


def test_an_empty_folder_says_so(tmp_path):
    message = message_for(_load_error(UsageFolderDataset(path=str(tmp_path), filename_suffix=".csv")))

    assert message == f"{tmp_path}: no files ending in '.csv' in this folder"


def test_a_bug_is_not_dressed_as_an_input_error():
    assert message_for(KeyError("x")) is None


# ----------------------------------------------------------------- the demo's events (item 1)


def _demo(tmp_path, part: str) -> DemoTrafficDataset:
    return DemoTrafficDataset(path=str(tmp_path / "demo"), part=part, config={"seed": 1})


def test_a_user_source_never_gets_the_demo_calendar(tmp_path):
    catalog = DataCatalog({"raw_usage": CSVDataset(filepath=str(tmp_path / "usage.csv")),
                           "raw_events": _demo(tmp_path, "events")})

    DemoEventsHooks().after_catalog_created(catalog)

    events = catalog.load("raw_events")
    assert events.empty and list(events.columns) == ["start", "end", "name", "kind", "scope"]


def test_replacing_the_demos_calendar_and_limits_for_a_users_file_warns_of_nothing(tmp_path, caplog):
    """Kedro logs a warning when a dataset is replaced; this replacement is the hook's own, said in a line
    of its own, and a user's run printed a WARNING it could not act on."""
    limits = CSVDataset(filepath=str(tmp_path / "rate_limits_demo_2026-09-30.csv"))
    catalog = DataCatalog({"raw_usage": CSVDataset(filepath=str(tmp_path / "usage.csv")),
                           "raw_events": _demo(tmp_path, "events"), "rate_limits_raw": limits})

    with caplog.at_level(logging.INFO):
        DemoEventsHooks().after_catalog_created(catalog)

    assert catalog.load("rate_limits_raw").empty
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("demo's example rate limits are not used" in r.getMessage() for r in caplog.records)


def test_the_demo_keeps_its_own_calendar(tmp_path):
    events = _demo(tmp_path, "events")
    catalog = DataCatalog({"raw_usage": _demo(tmp_path, "usage"), "raw_events": events})

    DemoEventsHooks().after_catalog_created(catalog)

    assert catalog.get("raw_events") is events


def test_an_implausible_request_in_a_log_names_its_line_or_its_bucket(tmp_path):
    path = tmp_path / "requests.csv"
    rows = [f"2026-01-01T{h:02d}:{m:02d}:00Z,m,{10 + m},10" for h in range(24) for m in (0, 30)]
    rows[31] = "2026-01-01T15:30:00Z,m,1000000000000000,10"
    path.write_text("timestamp,model,input_tokens,output_tokens\n" + "\n".join(rows) + "\n")
    table = ibis.duckdb.connect().read_csv(str(path))
    label_source(table, SOURCE, first_line=2)

    # More than any model takes in one request: the request's own line.
    with pytest.raises(InvalidInputError, match=r"'input_tokens' has invalid values at lines \[33\]"):
        build_usage_buckets(table, _params(request_log={}))
    # A plausible request that makes its hour 10,000 times the usual one: the bucket.
    rows[31] = "2026-01-01T15:30:00Z,m,1900000,10"
    path.write_text("timestamp,model,input_tokens,output_tokens\n" + "\n".join(rows) + "\n")
    table = ibis.duckdb.connect().read_csv(str(path))
    label_source(table, SOURCE, first_line=2)
    with pytest.raises(InvalidInputError, match=r"'input_tokens' has implausible values at buckets "
                                                r"2026-01-01 15:00:00\+00:00 m"):
        build_usage_buckets(table, _params(request_log={}))
