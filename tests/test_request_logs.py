"""Request-level logs -> buckets with per-minute peaks, on DuckDB through Ibis.

Fixtures are small logs in the real formats (Azure trace CSV with 100 ns ticks,
BurstGPT CSV with failures, LiteLLM spend logs as Parquet); every total and peak is
checked against a plain pandas computation on the same requests.
"""

from __future__ import annotations

import logging
import re

import ibis
import pandas as pd
import pytest

from tests.request_log_fixtures import (
    BURSTGPT_START,
    litellm_canonical,
    litellm_frame,
    reference_buckets,
    write_azure_csv,
    write_burstgpt_csv,
    write_litellm_parquet,
)
from tests.assertions import assert_error_names
from tokenplan.ingestion.request_logs import RequestLogConfig, bucket_request_log, with_quiet_buckets
from tokenplan.schemas import InvalidInputError

NEW_YORK = "America/New_York"
SOURCE = "raw_usage (requests.csv)"


@pytest.fixture
def con():
    return ibis.duckdb.connect(threads=2, preserve_insertion_order=False)


def _buckets(table, zone: str = "UTC", bucket: str = "h", dimensions=(), **config) -> pd.DataFrame:
    """Buckets of ``table`` with ``zone`` as ``ingestion.timezone`` and ``config`` as the column map."""
    return bucket_request_log(table, RequestLogConfig.from_params(config), timezone=zone, bucket=bucket,
                              series_dimensions=list(dimensions), source=SOURCE)


def _assert_matches(result: pd.DataFrame, expected: pd.DataFrame, keys=("model",)) -> None:
    order = ["timestamp", *keys]
    result = result.sort_values(order).reset_index(drop=True)
    expected = expected.sort_values(order).reset_index(drop=True)[list(result.columns)]
    pd.testing.assert_frame_equal(result, expected, check_dtype=False)


def _csv(con, tmp_path, frame: pd.DataFrame, name: str = "requests.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return con.read_csv(str(path))


# ----------------------------------------------------------------- the three formats


def test_azure_trace_buckets_and_peaks_match_pandas(con, tmp_path):
    path, requests = write_azure_csv(tmp_path / "AzureLLMInferenceTrace_code.csv")
    first = path.read_text().splitlines()[1].split(",")[0]
    assert re.fullmatch(r"2023-11-16 18:1\d:\d\d\.\d{7}", first), first  # 100 ns ticks, as the real trace

    result = _buckets(con.read_csv(str(path)), preset="azure", model_name="azure-code")

    assert list(result.columns) == ["timestamp", "model", "requests", "input_tokens", "output_tokens",
                                    "peak_rpm", "peak_itpm", "peak_otpm"]  # no cache columns: unknown
    assert str(result["timestamp"].dtype) == "datetime64[ns, UTC]"
    _assert_matches(result, reference_buckets(requests))
    assert result["requests"].sum() == len(requests)
    # The burst makes the busiest minute far above the mean minute.
    assert result["peak_rpm"].max() > 3 * len(requests) / 150


@pytest.mark.parametrize("failed_tokens", [False, True])
def test_burstgpt_failures_count_as_requests_and_their_tokens_only_if_asked(con, tmp_path, failed_tokens):
    path, requests = write_burstgpt_csv(tmp_path / "BurstGPT_1.csv")
    assert (~requests["ok"]).sum() > 50

    result = _buckets(con.read_csv(str(path)), preset="burstgpt", start=BURSTGPT_START, failed_tokens=failed_tokens)

    _assert_matches(result, reference_buckets(requests, failed_tokens=failed_tokens))
    assert set(result["model"]) == {"chatgpt", "gpt-4"}
    assert result["requests"].sum() == len(requests)  # failures included
    assert result["timestamp"].min() == pd.Timestamp(BURSTGPT_START, tz="UTC")


def test_burstgpt_log_type_as_a_series_dimension(con, tmp_path):
    path, requests = write_burstgpt_csv(tmp_path / "BurstGPT_1.csv")

    result = _buckets(con.read_csv(str(path)), preset="burstgpt", start=BURSTGPT_START, dimensions=["log_type"])

    _assert_matches(result, reference_buckets(requests, dimensions=("log_type",)), keys=("model", "log_type"))


def test_litellm_parquet_uncached_input_cache_columns_and_merged_model_ids(con, tmp_path):
    path, requests = write_litellm_parquet(tmp_path / "spend_logs.parquet")

    result = _buckets(con.read_parquet(str(path)), preset="litellm", dimensions=["team_id"])

    # Dated, undated and provider-prefixed ids are one series, merged before the peaks.
    assert set(result["model"]) == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    assert "(none)" in set(result["team_id"])  # a null team is a series, not dropped
    _assert_matches(result, reference_buckets(requests, dimensions=("team_id",)), keys=("model", "team_id"))


def test_litellm_without_cache_columns_counts_all_input_as_uncached(con, tmp_path, caplog):
    frame = litellm_frame(500).drop(columns=["cache_read_input_tokens", "cache_creation_input_tokens"])
    path = tmp_path / "spend_logs.parquet"
    frame.to_parquet(path)

    with caplog.at_level(logging.WARNING, logger="tokenplan"):
        result = _buckets(con.read_parquet(str(path)), preset="litellm")

    assert "cache_read_tokens" not in result.columns
    counted = frame["status"].eq("success")
    assert result["input_tokens"].sum() == frame.loc[counted, "prompt_tokens"].sum()
    assert any("include cached tokens" in r.getMessage() for r in caplog.records)


def test_daily_and_quarter_hour_buckets(con, tmp_path):
    path, requests = write_azure_csv(tmp_path / "trace.csv", n=800)
    table = con.read_csv(str(path))

    for bucket in ("D", "15min"):
        result = _buckets(table, bucket=bucket, preset="azure", model_name="azure-code")
        _assert_matches(result, reference_buckets(requests, bucket=bucket))


# ----------------------------------------------------------------- time zones


def _naive_log(times: list[str], tokens: list[int] | None = None) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({"timestamp": times, "model": "claude-sonnet-4-5",
                         "input_tokens": tokens or [100] * n, "output_tokens": [10] * n})


def test_naive_timestamps_are_read_in_the_configured_zone(con, tmp_path):
    table = _csv(con, tmp_path, _naive_log(["2025-07-01 09:10:00", "2025-01-15 09:10:00"]))

    result = _buckets(table, zone=NEW_YORK)

    assert list(result["timestamp"]) == [pd.Timestamp("2025-01-15 14:00", tz="UTC"),   # EST, UTC-5
                                         pd.Timestamp("2025-07-01 13:00", tz="UTC")]   # EDT, UTC-4


def test_timestamps_with_an_offset_keep_it_whatever_the_zone(con, tmp_path):
    table = _csv(con, tmp_path, _naive_log(["2025-07-01T09:10:00+02:00", "2025-07-01T09:20:00Z"]))

    result = _buckets(table, zone=NEW_YORK)

    assert list(result["timestamp"]) == [pd.Timestamp("2025-07-01 07:00", tz="UTC"),
                                         pd.Timestamp("2025-07-01 09:00", tz="UTC")]


def test_text_timestamps_mixing_naive_and_offset_values(con, tmp_path):
    log = _naive_log(["2025-07-01T09:10:00+02:00", "2025-07-01 09:20:00", "2025-07-01 10:30:00.1234567"])
    log.to_parquet(tmp_path / "requests.parquet")  # Parquet keeps them as text

    result = _buckets(con.read_parquet(str(tmp_path / "requests.parquet")), zone=NEW_YORK)

    assert result.set_index("timestamp")["requests"].to_dict() == {
        pd.Timestamp("2025-07-01 07:00", tz="UTC"): 1.0,   # its own offset
        pd.Timestamp("2025-07-01 13:00", tz="UTC"): 1.0,   # naive: New York, EDT
        pd.Timestamp("2025-07-01 14:00", tz="UTC"): 1.0,
    }


def test_a_log_zone_overrides_the_ingestion_zone(con, tmp_path):
    table = _csv(con, tmp_path, _naive_log(["2025-07-01 09:10:00"]))

    result = _buckets(table, zone=NEW_YORK, timezone="UTC")

    assert result["timestamp"].item() == pd.Timestamp("2025-07-01 09:00", tz="UTC")


def test_dst_spring_forward_keeps_every_hour(con, tmp_path):
    local = ["2025-03-09 00:30:00", "2025-03-09 01:30:00", "2025-03-09 03:30:00", "2025-03-09 04:30:00"]
    table = _csv(con, tmp_path, _naive_log(local, tokens=[1, 2, 3, 4]))

    result = _buckets(table, zone=NEW_YORK)

    # 01:30 EST and 03:30 EDT are consecutive UTC hours: nothing dropped, nothing invented.
    assert list(result["timestamp"]) == list(pd.date_range("2025-03-09 05:00", periods=4, freq="h", tz="UTC"))
    assert result["input_tokens"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_dst_spring_forward_reads_a_skipped_time_before_the_change_and_warns(con, tmp_path, caplog):
    local = ["2025-03-09 01:30:00", "2025-03-09 02:30:00", "2025-03-09 02:31:00"]  # 02:xx never happens in New York
    table = _csv(con, tmp_path, _naive_log(local, tokens=[1, 2, 3]))

    with caplog.at_level(logging.WARNING, logger="tokenplan"):
        result = _buckets(table, zone=NEW_YORK)

    # Read in EST (UTC-5), as a clock not yet put forward: two minutes, not one minute at 03:00 EDT.
    assert result.set_index("timestamp")["input_tokens"].to_dict() == {
        pd.Timestamp("2025-03-09 06:00", tz="UTC"): 1.0, pd.Timestamp("2025-03-09 07:00", tz="UTC"): 5.0}
    assert result["peak_rpm"].tolist() == [1.0, 1.0]
    assert result.attrs["request_log"]["skipped_time_requests"] == 2
    assert any("2 requests at local times the clocks skip" in r.getMessage() for r in caplog.records)


# A log written as requests happen, through the night New York's clocks go back (01:xx twice).
FALL_BACK = ["2025-11-02 00:30:00",
             "2025-11-02 01:10:00", "2025-11-02 01:10:30", "2025-11-02 01:40:00",  # EDT, UTC-4
             "2025-11-02 01:05:00", "2025-11-02 01:04:50", "2025-11-02 01:10:20",  # EST, UTC-5; one row late
             "2025-11-02 02:30:00"]


def test_dst_fall_back_places_the_repeated_hour_by_the_order_of_the_log(con, tmp_path, caplog):
    table = _csv(con, tmp_path, _naive_log(FALL_BACK, tokens=[1, 2, 4, 8, 16, 32, 64, 128]))

    with caplog.at_level(logging.INFO, logger="tokenplan"):
        result = _buckets(table, zone=NEW_YORK).set_index("timestamp")

    hour = pd.Timestamp("2025-11-02 04:00", tz="UTC")
    assert result["input_tokens"].to_dict() == {hour: 1.0, hour + pd.Timedelta("1h"): 14.0,
                                                hour + pd.Timedelta("2h"): 112.0, hour + pd.Timedelta("3h"): 128.0}
    # Two requests at 01:10 EDT and one at 01:10 EST are different minutes, an hour apart (merged: 3).
    assert result["peak_rpm"].tolist() == [1.0, 2.0, 1.0, 1.0]
    assert {k: result.attrs["request_log"][k] for k in ("repeated_hour_requests", "second_pass_requests")} == {
        "repeated_hour_requests": 6, "second_pass_requests": 3}
    assert any("6 requests at local times the clocks repeat" in r.getMessage() for r in caplog.records)


def test_dst_fall_back_in_a_file_per_model_is_placed_file_by_file(con, tmp_path):
    for model in ("claude-haiku-4-5", "claude-sonnet-4-5"):
        _naive_log(FALL_BACK, tokens=[1, 2, 4, 8, 16, 32, 64, 128]).assign(model=model).to_csv(
            tmp_path / f"{model}.csv", index=False)

    result = _buckets(con.read_csv(str(tmp_path / "*.csv")), zone=NEW_YORK)

    for _, rows in result.groupby("model"):
        assert rows["input_tokens"].tolist() == [1.0, 14.0, 112.0, 128.0]


@pytest.mark.parametrize("local", [
    ["2025-11-02 00:30:00", "2025-11-02 01:10:00", "2025-11-02 01:40:00", "2025-11-02 02:30:00"],  # one pass
    sorted(FALL_BACK),  # sorted by the local time: the passes interleave
], ids=["no-step-back", "sorted-by-local-time"])
def test_dst_fall_back_stops_when_the_order_of_the_log_does_not_tell(con, tmp_path, local):
    table = _csv(con, tmp_path, _naive_log(local))

    with pytest.raises(InvalidInputError) as error:
        _buckets(table, zone=NEW_YORK)

    message = str(error.value)
    assert all(part in message for part in (SOURCE, "2025-11-02 01:00-02:00", NEW_YORK, "clocks repeat", "UTC")), \
        message


def test_numeric_epoch_timestamps_with_a_unit(con, tmp_path):
    moments = pd.to_datetime(["2026-01-01 10:05:00", "2026-01-01 11:59:59"]).astype("int64") // 10**6
    table = _csv(con, tmp_path, _naive_log(list(moments)))

    result = _buckets(table, zone=NEW_YORK, timestamp_unit="ms")  # epochs are UTC: no zone applies

    assert list(result["timestamp"]) == [pd.Timestamp("2026-01-01 10:00", tz="UTC"),
                                         pd.Timestamp("2026-01-01 11:00", tz="UTC")]


# ----------------------------------------------------------------- duplicates


def test_repeated_rows_are_removed_and_counted(con, tmp_path, caplog):
    path, requests = write_azure_csv(tmp_path / "trace.csv", n=1000)
    log = pd.read_csv(path)
    repeated = pd.concat([log, log.iloc[100:130], log.iloc[500:501]]).sample(frac=1, random_state=0)

    with caplog.at_level(logging.WARNING, logger="tokenplan"):
        result = _buckets(_csv(con, tmp_path, repeated, "repeated.csv"), preset="azure", model_name="azure-code")

    _assert_matches(result, reference_buckets(requests))
    assert any("removed 31 duplicate requests" in r.getMessage() and SOURCE in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_same_request_id_is_one_request_and_different_ids_are_two(con, tmp_path, caplog):
    frame = litellm_frame(600)
    again = frame.iloc[:20].copy()
    twin = frame.iloc[20:21].assign(request_id="another-id")  # same content, other id: a real request
    path = tmp_path / "spend_logs.parquet"
    pd.concat([frame, again, twin]).to_parquet(path)

    with caplog.at_level(logging.WARNING, logger="tokenplan"):
        result = _buckets(con.read_parquet(str(path)), preset="litellm")

    expected = reference_buckets(litellm_canonical(pd.concat([frame, twin])).drop(columns="team_id"))
    _assert_matches(result, expected)
    assert any("removed 20 duplicate requests (by request id)" in r.getMessage() for r in caplog.records)


def test_same_request_id_with_different_counts_names_both_rows(con, tmp_path):
    frame = litellm_frame(50)
    changed = frame.iloc[[7]].assign(completion_tokens=frame["completion_tokens"].iloc[7] + 968)
    path = tmp_path / "spend_logs.parquet"
    pd.concat([frame, changed]).to_parquet(path)

    with pytest.raises(InvalidInputError) as error:
        _buckets(con.read_parquet(str(path)), preset="litellm")

    assert_error_names(error, SOURCE, "request_id", "8, 51", frame["request_id"].iloc[7])
    assert "different token counts" in str(error.value)


def test_deduplication_can_be_switched_off(con, tmp_path):
    log = _naive_log(["2025-01-01 00:00:01", "2025-01-01 00:00:01"])

    result = _buckets(_csv(con, tmp_path, log), deduplicate=False)

    assert result["requests"].item() == 2


# ----------------------------------------------------------------- bad input


def test_missing_mapped_column_names_source_and_column(con, tmp_path):
    path, _ = write_azure_csv(tmp_path / "trace.csv", n=50)
    table = con.read_csv(str(path)).drop("GeneratedTokens")

    with pytest.raises(InvalidInputError) as error:
        _buckets(table, preset="azure", model_name="azure-code")

    assert_error_names(error, SOURCE, "GeneratedTokens", None, None)
    assert "missing" in str(error.value) and "output_tokens" in str(error.value)


@pytest.mark.parametrize("header", ["OutputTokens", "GeneratedTokens", "output_tokns"])
def test_a_missing_column_names_the_column_that_probably_holds_it(con, tmp_path, header):
    log = _naive_log(["2025-01-01 00:00", "2025-01-01 00:01"]).rename(columns={"output_tokens": header})

    with pytest.raises(InvalidInputError) as error:
        _buckets(_csv(con, tmp_path, log))

    assert "required column 'output_tokens' is missing" in str(error.value)
    assert f"did you mean '{header}'? Map it with ingestion.request_log.output_tokens" in str(error.value)


@pytest.mark.parametrize("header, count", [("cacheReadTokens", "cache_read_tokens"),
                                           ("cache_read_input_tokens", "cache_read_tokens"),
                                           ("Cache Creation Input Tokens", "cache_write_tokens")])
def test_a_cache_column_the_default_map_would_leave_unread_stops_the_run(con, tmp_path, header, count):
    log = _naive_log(["2025-01-01 00:00", "2025-01-01 00:01"]).assign(**{header: [5, 6]})

    with pytest.raises(InvalidInputError) as error:
        _buckets(_csv(con, tmp_path, log))

    assert_error_names(error, SOURCE, header, None, None)
    assert f"map it with --params ingestion.request_log.{count}={header}" in str(error.value)


def test_negative_tokens_name_source_column_row_and_value(con, tmp_path):
    log = _naive_log(["2025-01-01 00:00", "2025-01-01 00:01", "2025-01-01 00:02", "2025-01-01 00:03"])
    log.loc[2, "output_tokens"] = -7

    with pytest.raises(InvalidInputError) as error:
        _buckets(_csv(con, tmp_path, log))

    assert_error_names(error, SOURCE, "output_tokens", 3, -7)


def test_a_request_with_more_tokens_than_any_model_takes_names_its_row(con, tmp_path):
    """One request logged with 1e9 input tokens (1,000 times any context window) had passed as a busy
    hour and made the quarter's ITPM plan 435M tokens a minute."""
    log = _naive_log(["2025-01-01 00:00", "2025-01-01 00:01", "2025-01-01 00:02", "2025-01-01 00:03"])
    log.loc[2, "input_tokens"] = 1e9

    with pytest.raises(InvalidInputError) as error:
        _buckets(_csv(con, tmp_path, log))

    assert_error_names(error, SOURCE, "input_tokens", 3, 1000000000)
    assert "max_tokens_per_request" in str(error.value)
    assert len(_buckets(_csv(con, tmp_path, log), max_tokens_per_request=2e9)) == 1  # a bound the user raised
    assert len(_buckets(_csv(con, tmp_path, log), max_tokens_per_request=0)) == 1  # the check turned off
    with pytest.raises(ValueError, match="max_tokens_per_request must be 0"):
        RequestLogConfig.from_params({"max_tokens_per_request": -1})


def test_a_bad_row_in_a_glob_of_files_names_its_file_and_its_own_line(con, tmp_path):
    _naive_log(["2026-01-01 10:00:00"] * 3).to_csv(tmp_path / "requests_a.csv", index=False)
    _naive_log(["2026-01-01 11:00:00"] * 3).assign(output_tokens=[10, -3, 10]).to_csv(
        tmp_path / "requests_b.csv", index=False)

    with pytest.raises(InvalidInputError) as error:
        bucket_request_log(con.read_csv(str(tmp_path / "*.csv")), RequestLogConfig.from_params({}), timezone="UTC",
                           bucket="h", source=SOURCE, first_line=2)

    assert "at [requests_b.csv line 3]: [-3]" in str(error.value)  # not line 6 of the glob


def test_unparseable_timestamp_names_source_column_row_and_value(con, tmp_path):
    log = _naive_log(["2025-01-01 00:00", "2025-01-01 00:01", "yesterday-ish", "2025-01-01 00:03"])

    with pytest.raises(InvalidInputError) as error:
        _buckets(_csv(con, tmp_path, log))

    assert_error_names(error, SOURCE, "timestamp", 3, "yesterday-ish")


def test_text_in_a_token_column_names_source_column_row_and_value(con, tmp_path):
    log = _naive_log(["2025-01-01 00:00", "2025-01-01 00:01", "2025-01-01 00:02"])
    log["input_tokens"] = ["100", "12k", "300"]

    with pytest.raises(InvalidInputError) as error:
        _buckets(_csv(con, tmp_path, log))

    assert_error_names(error, SOURCE, "input_tokens", 2, "12k")


def test_cached_tokens_above_total_input_are_rejected(con, tmp_path):
    frame = litellm_frame(50)
    frame.loc[7, ["prompt_tokens", "cache_read_input_tokens"]] = [5, 1000]
    path = tmp_path / "spend_logs.parquet"
    frame.to_parquet(path)

    with pytest.raises(InvalidInputError) as error:
        _buckets(con.read_parquet(str(path)), preset="litellm")

    assert_error_names(error, SOURCE, "prompt_tokens", 8, 5)


# ----------------------------------------------------------------- other engines


LITELLM_SCHEMA = {"request_id": "string", "startTime": "timestamp('UTC')", "model": "string",
                  "prompt_tokens": "int64", "completion_tokens": "int64", "cache_read_input_tokens": "int64",
                  "cache_creation_input_tokens": "int64", "status": "string", "team_id": "string"}
AZURE_SCHEMA = {"TIMESTAMP": "string", "ContextTokens": "string", "GeneratedTokens": "int64"}


@pytest.mark.parametrize("dialect", ["pyspark", "bigquery", "snowflake", "postgres", "trino"])
@pytest.mark.parametrize("schema, params", [
    (LITELLM_SCHEMA, {"preset": "litellm"}),
    (AZURE_SCHEMA, {"preset": "azure", "model_name": "m"}),
])
def test_the_aggregation_compiles_for_spark_and_warehouses(dialect, schema, params, monkeypatch):
    """The plan is Ibis expressions only: it compiles for engines other than DuckDB."""
    import ibis.config

    from tokenplan.ingestion import request_logs as rl

    if dialect == "pyspark" and ibis.options.pyspark is None:  # set when pyspark itself is installed
        class PySparkOptions(ibis.config.Config):
            treat_nan_as_null: bool = False
        monkeypatch.setattr(ibis.options, "pyspark", PySparkOptions())
    monkeypatch.setattr(rl, "_backend_name", lambda table: dialect)
    table = ibis.table(schema, name="requests")
    config = RequestLogConfig.from_params(params)
    dimensions = ["team_id"] if "team_id" in schema else []
    labels = ["minute", "is_local", "model", *dimensions, "status", "no_output"]
    requests = rl._canonical(table, config, rl._resolve_columns(table, config, dimensions, "x"), "Europe/Berlin")
    minutes = rl._without_duplicates(requests, rl._per_minute(requests, labels, config), labels, config)
    minutes = rl._counted(minutes, config)
    summary = {"local_min": 29_000_000, "local_max": 29_100_000}
    utc = minutes.mutate(minute=rl._utc_minutes(minutes, "Europe/Berlin", summary))

    sql = ibis.to_sql(rl._per_bucket(utc, ["model", *dimensions], 60), dialect=dialect)

    assert "GROUP BY" in sql.upper()


# ----------------------------------------------------------------- configuration


def test_explicit_keys_override_the_preset():
    config = RequestLogConfig.from_params({"preset": "litellm", "input_tokens": "input", "timezone": None})

    assert config.columns["input_tokens"] == "input"
    assert config.columns["output_tokens"] == "completion_tokens"
    assert config.input_includes_cache and config.timezone == "UTC"  # null keeps the preset's value


@pytest.mark.parametrize("params, message", [
    ({"preset": "nope"}, "preset"),
    ({"timestmap": "t"}, "unknown keys"),
    ({"preset": "burstgpt"}, "start"),
    ({"preset": "azure"}, "model_name"),
    ({"timestamp_unit": "minutes"}, "timestamp_unit"),
])
def test_bad_configuration_is_named(params, message):
    with pytest.raises(ValueError, match=message):
        RequestLogConfig.from_params(params)


def test_an_empty_log_and_a_calendar_bucket_are_named(con, tmp_path):
    (tmp_path / "empty.csv").write_text("timestamp,model,input_tokens,output_tokens\n")

    with pytest.raises(InvalidInputError, match="no rows"):
        _buckets(con.read_csv(str(tmp_path / "empty.csv")))
    with pytest.raises(ValueError, match="ingestion.bucket 'W'"):
        _buckets(_csv(con, tmp_path, _naive_log(["2025-01-01 00:00"])), bucket="W")


def test_a_log_with_a_presets_columns_is_told_to_use_the_preset(con, tmp_path):
    path, _ = write_azure_csv(tmp_path / "trace.csv", n=50)

    with pytest.raises(InvalidInputError, match=r"required column 'timestamp' is missing.*"
                       r"preset=azure,ingestion\.request_log\.model_name=NAME"):
        _buckets(con.read_csv(str(path)))


def test_a_model_without_requests_after_its_last_one_has_zeros_to_the_log_s_end_and_none_before_its_first():
    hour = lambda h: pd.Timestamp(f"2026-01-01 {h:02d}:00", tz="UTC")  # noqa: E731
    result = pd.DataFrame({"timestamp": [hour(0), hour(1), hour(3), hour(1)],
                           "model": ["claude-sonnet-4-5"] * 3 + ["claude-haiku-4-5"], "requests": [5.0, 4.0, 6.0, 2.0]})

    full = with_quiet_buckets(result, ["model"], "h").set_index(["model", "timestamp"])["requests"]

    assert full.loc["claude-haiku-4-5"].to_dict() == {hour(1): 2.0, hour(2): 0.0, hour(3): 0.0}
    assert full.loc["claude-sonnet-4-5"].to_dict() == {hour(0): 5.0, hour(1): 4.0, hour(2): 0.0, hour(3): 6.0}
