"""Ingestion nodes as plain functions: canonical usage buckets, events calendar, bad input."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from tests.assertions import assert_error_names
from tokenplan.pipelines.ingestion.nodes import build_events_calendar, build_usage_buckets
from tokenplan.reporting.data_notes import data_notes
from tokenplan.schemas import COUNT_COLUMNS, InvalidInputError

SONNET = "claude-sonnet-4-5"
USAGE_SOURCE = "raw_usage (data/01_raw/usage.csv)"
EVENTS_SOURCE = "raw_events (data/01_raw/events.csv)"
NEW_YORK = "America/New_York"


def _params(**overrides) -> dict:
    return {"timezone": "UTC", "bucket": "h", "series_dimensions": [], "model_aliases": {}, **overrides}


def _usage(timestamps: list[str], models: list[str] | str = SONNET, **columns) -> pd.DataFrame:
    n = len(timestamps)
    frame = pd.DataFrame({
        "timestamp": timestamps,
        "model": models,
        "requests": columns.pop("requests", list(range(1, n + 1))),
        "input_tokens": columns.pop("input_tokens", [100 * (i + 1) for i in range(n)]),
        "output_tokens": columns.pop("output_tokens", [10 * (i + 1) for i in range(n)]),
        **columns,
    })
    frame.attrs.update(source=USAGE_SOURCE, first_line=2)  # as the project's hook labels a CSV
    return frame


def _events(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "start": ["2025-03-01", "2025-01-10 09:00"],
        "end": ["2025-03-08", "2025-01-10 17:00"],
        "name": ["spring campaign", "sonnet launch"],
        "kind": ["campaign", "launch"],
        "scope": [None, "claude-sonnet-4-5-20250929"],
        **overrides,
    })
    frame.attrs.update(source=EVENTS_SOURCE, first_line=2)
    return frame


def _local_hours(start: str, end: str) -> list[str]:
    """Wall-clock hour labels a local-time export would carry, DST transitions included."""
    hours = pd.date_range(pd.Timestamp(start, tz=NEW_YORK), pd.Timestamp(end, tz=NEW_YORK), freq="h")
    return list(hours.tz_localize(None).strftime("%Y-%m-%d %H:%M"))


def _by_hour(buckets: pd.DataFrame, column: str = "requests") -> pd.Series:
    return buckets.set_index("timestamp")[column]


# ----------------------------------------------------------------- canonical output


def test_usage_buckets_are_canonical_utc_float_hourly_rows():
    raw = _usage(["2025-01-01 00:10", "2025-01-01 00:40", "2025-01-01 01:05", "2025-01-01 02:59"])

    buckets = build_usage_buckets(raw, _params())

    assert str(buckets["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert list(buckets.columns[:2]) == ["timestamp", "series"]
    for column in COUNT_COLUMNS:
        assert buckets[column].dtype == np.float64, column
    # Sub-hour rows are summed into their bucket start.
    assert _by_hour(buckets).to_dict() == {
        pd.Timestamp("2025-01-01 00:00", tz="UTC"): 3.0,
        pd.Timestamp("2025-01-01 01:00", tz="UTC"): 3.0,
        pd.Timestamp("2025-01-01 02:00", tz="UTC"): 4.0,
    }
    assert set(buckets["series"]) == {SONNET}
    # A column the source lacks is unknown (NaN), not zero.
    assert buckets["cache_read_tokens"].isna().all()


def test_missing_bucket_is_kept_as_a_nan_row_not_a_zero():
    raw = _usage(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 04:00"])

    buckets = build_usage_buckets(raw, _params())

    expected_grid = pd.date_range("2025-01-01 00:00", "2025-01-01 04:00", freq="h", tz="UTC")
    assert list(buckets["timestamp"]) == list(expected_grid)
    gaps = buckets[buckets["timestamp"].isin(expected_grid[[2, 3]])]
    assert len(gaps) == 2
    assert gaps[["requests", "input_tokens", "output_tokens"]].isna().all().all()
    assert (gaps["series"] == SONNET).all()
    assert buckets["requests"].sum() == 6.0


def test_missing_buckets_are_logged_with_the_dates_they_fall_on(caplog):
    days = pd.date_range("2026-11-01", "2026-11-30", freq="D").strftime("%Y-%m-%d")
    raw = _usage([d for d in days if not "2026-11-03" <= d <= "2026-11-09" and d != "2026-11-20"])  # an outage

    with caplog.at_level(logging.INFO, logger="tokenplan"):
        build_usage_buckets(raw, _params(bucket="D"))

    assert "usage_buckets: 8 missing buckets kept as NaN rows, on 2026-11-03 to 2026-11-09, 2026-11-20" in caplog.text


def test_half_hourly_rows_are_summed_to_hours_and_the_report_says_so():
    stamps = pd.date_range("2026-07-06", periods=8, freq="30min").strftime("%Y-%m-%d %H:%M").tolist()

    buckets = build_usage_buckets(_usage(stamps), _params(bucket="auto"))

    assert buckets["requests"].tolist() == [1 + 2, 3 + 4, 5 + 6, 7 + 8]
    assert ("buckets: hourly (`h`); its rows are typically 30 minutes apart and were summed to hourly buckets."
            in data_notes(buckets.attrs))
    assert "finer_rows" not in build_usage_buckets(_usage(stamps[::2]), _params(bucket="auto")).attrs


def test_a_day_the_file_has_for_other_series_is_a_zero_for_a_series_without_a_row_and_a_day_nobody_has_is_missing():
    days = pd.date_range("2026-11-02", "2026-11-15", freq="D")  # two weeks, Monday to Sunday
    weekdays = [d for d in days if d.dayofweek < 5]
    every = [d for d in days if d != pd.Timestamp("2026-11-11")]  # a day the whole file lacks: an export gap
    raw = pd.concat([_usage([f"{d:%Y-%m-%d}" for d in every], models=SONNET),
                     _usage([f"{d:%Y-%m-%d}" for d in weekdays if d != pd.Timestamp("2026-11-11")],
                            models="claude-haiku-4-5")], ignore_index=True)
    raw.attrs.update(source=USAGE_SOURCE, first_line=2)

    buckets = build_usage_buckets(raw, _params(bucket="auto")).set_index(["series", "timestamp"])["requests"]

    haiku = buckets.loc["claude-haiku-4-5"]
    weekend = haiku[haiku.index.dayofweek >= 5]
    assert len(weekend) == 4 and (weekend == 0).all()  # the service's weekends, which the file covers
    assert haiku.index.max() == pd.Timestamp("2026-11-15", tz="UTC")  # zeros after its last row, to the file's end
    assert haiku.index.min() == pd.Timestamp("2026-11-02", tz="UTC")  # none before its first
    assert np.isnan(haiku[pd.Timestamp("2026-11-11", tz="UTC")])  # a day nobody has: missing
    kept = build_usage_buckets(raw, _params(bucket="auto", absent_rows="missing"))
    assert kept.loc[kept["series"] == "claude-haiku-4-5", "requests"].isna().sum() == 3


def test_each_series_gets_its_own_complete_grid():
    raw = _usage(["2025-01-01 00:00", "2025-01-01 02:00", "2025-01-01 01:00", "2025-01-01 03:00"],
                 models=[SONNET, SONNET, "claude-haiku-4-5", "claude-haiku-4-5"])

    buckets = build_usage_buckets(raw, _params())

    sizes = buckets.groupby("series").size().to_dict()
    assert sizes == {"claude-haiku-4-5": 3, SONNET: 4}  # each from its first row; Sonnet's 03:00 a zero
    assert not buckets.duplicated(["timestamp", "series"]).any()


def test_one_hour_cache_writes_are_summed_into_buckets_beside_all_cache_writes():
    raw = _usage(["2025-01-01 00:10", "2025-01-01 00:40", "2025-01-01 01:05"],
                 cache_write_tokens=[100, 50, 80], cache_write_1h_tokens=[20, 0, None])

    buckets = build_usage_buckets(raw, _params())

    assert _by_hour(buckets, "cache_write_tokens").tolist() == [150.0, 80.0]
    one_hour = _by_hour(buckets, "cache_write_1h_tokens")
    assert one_hour.iloc[0] == 20.0 and np.isnan(one_hour.iloc[1])  # a blank part stays unknown
    # Usage that does not split its cache writes has no such column (the split is unknown, not zero).
    assert "cache_write_1h_tokens" not in build_usage_buckets(raw.drop(columns="cache_write_1h_tokens"),
                                                              _params()).columns


# ----------------------------------------------------------------- model ids


def test_dated_model_id_and_its_alias_merge_into_one_series():
    raw = _usage(["2025-01-01 00:00", "2025-01-01 00:00", "2025-01-01 01:00"],
                 models=["claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "anthropic/claude-sonnet-4-5-20250929"])

    buckets = build_usage_buckets(raw, _params())

    assert set(buckets["series"]) == {SONNET}
    # Same bucket, two raw ids: both rows are real usage and are summed, not deduplicated.
    assert _by_hour(buckets).tolist() == [3.0, 3.0]


def test_alias_map_renames_and_merges_series():
    raw = _usage(["2025-01-01 00:00", "2025-01-01 00:00", "2025-01-01 01:00"],
                 models=["my-proxy-sonnet", "claude-sonnet-4-5-20250929", "claude-3-5-sonnet-20241022"])
    aliases = {"my-proxy-sonnet": SONNET, "claude-3-5-sonnet": "sonnet-legacy"}

    buckets = build_usage_buckets(raw, _params(model_aliases=aliases))

    assert set(buckets["series"]) == {SONNET, "sonnet-legacy"}
    assert buckets.loc[buckets["series"] == SONNET, "requests"].sum() == 3.0


def test_event_scope_is_normalised_like_usage_model_ids():
    events = build_events_calendar(_events(), _params())

    assert list(events["name"]) == ["sonnet launch", "spring campaign"]  # sorted by start
    assert events.loc[events["kind"] == "launch", "scope"].item() == SONNET
    assert events.loc[events["kind"] == "campaign", "scope"].item() == ""
    assert str(events["start"].dtype) == "datetime64[ns, UTC]"


# ----------------------------------------------------------------- duplicates


def test_duplicate_rows_are_removed_by_key_and_logged(caplog):
    raw = _usage(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 01:00"], requests=[1, 5, 5],
                 input_tokens=[100, 200, 200], output_tokens=[10, 20, 20])

    with caplog.at_level(logging.WARNING, logger="tokenplan"):
        buckets = build_usage_buckets(raw, _params())

    assert _by_hour(buckets).tolist() == [1.0, 5.0]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(USAGE_SOURCE in m and "1 duplicate" in m for m in messages), messages


def test_duplicate_rows_are_removed_without_a_pandas_warning():
    # The rows left were once a slice of the file's frame: naming their models warned of chained assignment.
    raw = _usage(["2025-01-01 00:00", "2025-01-01 00:00"], requests=[1, 1], input_tokens=[100, 100],
                 output_tokens=[10, 10])

    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.SettingWithCopyWarning)
        buckets = build_usage_buckets(raw, _params())

    assert _by_hour(buckets).tolist() == [1.0]


def test_rows_with_the_same_key_and_different_values_stop_the_run_naming_both():
    raw = _usage(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 01:00"], requests=[1, 2, 5])

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(raw, _params())

    message = str(error.value)
    assert USAGE_SOURCE in message and "lines [3, 4]" in message, message
    assert "'requests': 2.0" in message and "'requests': 5.0" in message, message


def test_same_bucket_in_two_workspaces_is_not_a_duplicate():
    raw = _usage(["2025-01-01 00:00", "2025-01-01 00:00"], workspace=["research", None])

    buckets = build_usage_buckets(raw, _params(series_dimensions=["workspace"]))

    assert len(buckets) == 2
    assert buckets["requests"].sum() == 3.0  # the null (default) workspace is not dropped


def test_duplicate_events_are_removed():
    raw = _events(start=["2025-03-01", "2025-03-01"], end=["2025-03-08", "2025-03-08"],
                  name=["spring campaign"] * 2, kind=["campaign"] * 2, scope=[None, None])

    assert len(build_events_calendar(raw, _params())) == 1


# ----------------------------------------------------------------- time zones and DST


def test_naive_timestamps_are_read_in_the_configured_zone():
    raw = _usage(["2025-07-01 09:00", "2025-01-15 09:00", "2025-01-15 10:00"])

    buckets = build_usage_buckets(raw, _params(timezone=NEW_YORK)).dropna(subset=["requests"])

    assert set(buckets["timestamp"]) == {pd.Timestamp("2025-07-01 13:00", tz="UTC"),  # EDT, UTC-4
                                        pd.Timestamp("2025-01-15 14:00", tz="UTC"),  # EST, UTC-5
                                        pd.Timestamp("2025-01-15 15:00", tz="UTC")}


def test_aware_timestamps_keep_their_offset():
    raw = _usage(["2025-07-01T09:00:00+02:00"])

    buckets = build_usage_buckets(raw, _params(timezone=NEW_YORK))

    assert buckets["timestamp"].item() == pd.Timestamp("2025-07-01 07:00", tz="UTC")


@pytest.mark.parametrize("dimensions", [[], ["workspace"]])
def test_dst_fall_back_keeps_both_repeated_local_hours(dimensions):
    hours = _local_hours("2025-11-01 22:00", "2025-11-02 04:00")
    assert hours.count("2025-11-02 01:00") == 2  # the export repeats the wall-clock hour
    raw = _usage(hours, requests=list(range(1, len(hours) + 1)))
    if dimensions:  # two series interleaved row by row, as a grouped export would list them
        raw = pd.concat([raw.assign(workspace="a"), raw.assign(workspace="b")])
        raw = raw.sort_values("timestamp", kind="stable").reset_index(drop=True)
        raw.attrs["source"] = USAGE_SOURCE

    buckets = build_usage_buckets(raw, _params(timezone=NEW_YORK, series_dimensions=dimensions))

    expected = pd.date_range("2025-11-02 02:00", periods=len(hours), freq="h", tz="UTC")
    for _, series in buckets.groupby("series"):
        assert list(series["timestamp"]) == list(expected)
        assert series["requests"].tolist() == [float(v) for v in range(1, len(hours) + 1)]


def test_dst_spring_forward_neither_drops_nor_invents_buckets():
    hours = _local_hours("2025-03-08 23:00", "2025-03-09 05:00")
    assert "2025-03-09 02:00" not in hours  # the skipped wall-clock hour
    raw = _usage(hours)

    buckets = build_usage_buckets(raw, _params(timezone=NEW_YORK))

    expected = pd.date_range("2025-03-09 04:00", periods=len(hours), freq="h", tz="UTC")
    assert list(buckets["timestamp"]) == list(expected)
    assert buckets["requests"].notna().all()
    assert buckets["requests"].tolist() == [float(v) for v in range(1, len(hours) + 1)]


def test_events_naive_times_are_read_in_the_configured_zone():
    events = build_events_calendar(_events(), _params(timezone=NEW_YORK))

    launch = events[events["kind"] == "launch"].iloc[0]
    assert launch["start"] == pd.Timestamp("2025-01-10 14:00", tz="UTC")
    assert launch["end"] == pd.Timestamp("2025-01-10 22:00", tz="UTC")


# ----------------------------------------------------------------- bad input


def test_wrong_type_names_source_column_row_and_value():
    raw = _usage(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 02:00"],
                 input_tokens=[100, 200, "12k"])

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(raw, _params())

    assert_error_names(error, USAGE_SOURCE, "input_tokens", 4, "12k")


def test_negative_tokens_name_source_column_row_and_value():
    raw = _usage(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 02:00"],
                 output_tokens=[10, -7, 30])

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(raw, _params())

    assert_error_names(error, USAGE_SOURCE, "output_tokens", 3, -7)


def test_unparseable_timestamp_names_source_column_row_and_value():
    raw = _usage(["2025-01-01 00:00", "yesterday-ish", "2025-01-01 02:00"])

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(raw, _params())

    assert_error_names(error, USAGE_SOURCE, "timestamp", 3, "yesterday-ish")


def test_missing_required_column_names_source_and_column():
    raw = _usage(["2025-01-01 00:00"]).drop(columns="model")

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(raw, _params())

    assert_error_names(error, USAGE_SOURCE, "model", row=None, value=None)
    assert "missing" in str(error.value)


@pytest.mark.parametrize("one_hour, bad", [([20, 150, 30], 150), ([20, -5, 30], -5)])
def test_one_hour_cache_writes_above_all_writes_or_negative_name_source_column_row_and_value(one_hour, bad):
    raw = _usage(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 02:00"],
                 cache_write_tokens=[100, 100, 100], cache_write_1h_tokens=one_hour)

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(raw, _params())

    assert_error_names(error, USAGE_SOURCE, "cache_write_1h_tokens", 3, bad)


def test_one_hour_cache_writes_without_all_cache_writes_say_what_is_missing():
    raw = _usage(["2025-01-01 00:00"], cache_write_1h_tokens=[20])

    with pytest.raises(InvalidInputError, match=r"usage.csv\): column 'cache_write_1h_tokens' is a part of "
                                                r"'cache_write_tokens', but 'cache_write_tokens' is missing"):
        build_usage_buckets(raw, _params())


def test_missing_model_id_is_rejected_not_turned_into_a_series():
    raw = _usage(["2025-01-01 00:00", "2025-01-01 01:00"], models=[SONNET, None])

    with pytest.raises(InvalidInputError) as error:
        build_usage_buckets(raw, _params())

    assert_error_names(error, USAGE_SOURCE, "model", 3, "[blank]")


def test_bad_event_kind_names_source_column_row_and_value():
    raw = _events(kind=["campaign", "party"])

    with pytest.raises(InvalidInputError) as error:
        build_events_calendar(raw, _params())

    assert_error_names(error, EVENTS_SOURCE, "kind", 3, "party")


def test_stated_effect_is_optional_and_read_as_a_multiplier():
    assert build_events_calendar(_events(), _params())["effect"].isna().all()
    events = build_events_calendar(_events(effect=["1.3", None]), _params())
    assert events.set_index("name")["effect"].to_dict() == pytest.approx({"sonnet launch": np.nan,
                                                                            "spring campaign": 1.3}, nan_ok=True)


@pytest.mark.parametrize(("effect", "kind", "bad"), [
    (["1.3", "lots"], ["campaign", "launch"], "lots"),
    (["1.3", "-0.5"], ["campaign", "launch"], "-0.5"),
    (["1.3", "0.5"], ["campaign", "outage"], "0.5"),
    (["1.3", "0.5"], ["campaign", "holiday"], "0.5"),
])
def test_bad_stated_effect_names_source_column_row_and_value(effect, kind, bad):
    with pytest.raises(InvalidInputError) as error:
        build_events_calendar(_events(effect=effect, kind=kind), _params())

    assert_error_names(error, EVENTS_SOURCE, "effect", 3, float(bad) if bad != "lots" else bad)


def test_an_event_that_ends_when_it_starts_names_source_column_row_and_value():
    raw = _events(end=["2025-03-08", "2025-01-10 09:00"])

    with pytest.raises(InvalidInputError) as error:
        build_events_calendar(raw, _params())

    assert_error_names(error, EVENTS_SOURCE, "end", 3, "2025-01-10 09:00")


def test_a_blank_effect_cell_means_unknown():
    events = build_events_calendar(_events(effect=["  ", "1.2"]), _params())
    assert events.set_index("name")["effect"].isna().to_dict() == {"sonnet launch": False, "spring campaign": True}


def test_an_empty_events_calendar_of_any_dtype_is_no_events():
    # pandas gives an empty frame float columns; that is "no events", not "a number, not a date".
    empty = pd.DataFrame({"start": [], "end": [], "name": [], "kind": [], "scope": []})
    calendar = build_events_calendar(empty, _params())
    assert calendar.empty and str(calendar["start"].dtype) == "datetime64[ns, UTC]"
