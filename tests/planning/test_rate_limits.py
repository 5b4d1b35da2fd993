"""Limits from a file and from the (loopback) Admin API; ITPM excludes cache reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.sources.loopback_api import LoopbackAPI, Reply
from tokenplan.datasets import AnthropicRateLimitsDataset
from tokenplan.planning.peaks import forecast_bucket_peaks, usage_peaks
from tokenplan.planning.rate_limits import (LIMIT_COLUMNS, group_of_series, groups_without_series,
                                            limits_from_file, undated_model_id, unused_limits)
from tokenplan.schemas import InvalidInputError

ADMIN_KEY = "sk-ant-admin-test-rate-limits"


def _file(**overrides) -> pd.DataFrame:
    rows = {"model_group": ["Claude Sonnet 4.x", "Claude Opus 4.x"],
            "models": ["claude-sonnet-4-5-20250929 claude-sonnet-4-6", "claude-opus-4-5"],
            "rpm": ["1,000", "50"], "itpm": ["450000", ""], "otpm": ["90000", "8000"]}
    frame = pd.DataFrame({**rows, **overrides})
    frame.attrs["source"] = "rate_limits_raw (limits.csv)"
    return frame


def test_file_is_validated_and_an_empty_limit_means_none():
    limits = limits_from_file(_file())
    assert list(limits.columns) == list(LIMIT_COLUMNS)
    assert limits["rpm"].tolist() == [1000.0, 50.0]
    assert np.isnan(limits.loc[1, "itpm"])
    assert not limits["itpm_counts_cache_reads"].any()
    # Dated ids in the file match the undated series ids ingestion makes.
    groups = group_of_series(["claude-sonnet-4-5", "claude-sonnet-4-5/team-a", "claude-haiku-4-5"], limits)
    assert groups == {"claude-sonnet-4-5": "Claude Sonnet 4.x", "claude-sonnet-4-5/team-a": "Claude Sonnet 4.x"}


def _openai_file() -> pd.DataFrame:
    return limits_from_file(pd.DataFrame({"model_group": ["GPT-4.1", "GPT-4o mini", "Claude Sonnet 4.x"],
                                          "models": ["gpt-4.1", "gpt-4o-mini-2024-07-18", "claude-sonnet-4-5"],
                                          "rpm": ["5000", "500", "1000"], "itpm": ["", "", "450000"],
                                          "otpm": ["", "", "90000"], "tpm": ["10000000", "200000", ""]}))


def test_a_snapshot_and_its_undated_alias_match_either_way_round():
    """OpenAI's usage keeps a snapshot's date (gpt-4.1-2025-04-14) where a limits row names the model: the
    snapshot is planned against the alias's limits, as a Claude snapshot is; an undated series matches a row
    naming one dated snapshot. Another snapshot of the same model does not take a dated row's limits."""
    limits = _openai_file()
    groups = group_of_series(["gpt-4.1-2025-04-14", "gpt-4.1", "gpt-4o-mini", "gpt-4o-mini-2024-09-01/team-a",
                              "claude-sonnet-4-5-20250929/team-a", "gpt-4.1-mini-2025-04-14"], limits)
    assert groups == {"gpt-4.1-2025-04-14": "GPT-4.1", "gpt-4.1": "GPT-4.1", "gpt-4o-mini": "GPT-4o mini",
                      "claude-sonnet-4-5-20250929/team-a": "Claude Sonnet 4.x"}
    assert undated_model_id("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert undated_model_id("claude-sonnet-4-5@20250929") == "claude-sonnet-4-5"
    assert undated_model_id("gpt-4.1") == "gpt-4.1"
    # Two rows naming two snapshots of one model: its undated alias is neither's.
    two = limits_from_file(pd.DataFrame({"model_group": ["A", "B"], "models": ["gpt-4o-2024-05-13",
                                                                                "gpt-4o-2024-08-06"],
                                         "rpm": ["1", "2"], "itpm": ["", ""], "otpm": ["", ""]}))
    assert group_of_series(["gpt-4o", "gpt-4o-2024-08-06"], two) == {"gpt-4o-2024-08-06": "B"}


def test_a_limits_row_no_model_of_the_usage_matches_is_named_and_not_planned():
    """The tester's case, with the alias now matching: a row whose models the usage does not have (here
    ``gpt-4o``, the usage has ``gpt-4o-mini-2024-07-18``) binds nothing, and each of its limits is a gap."""
    limits = _openai_file().assign(models=["gpt-4.1", "gpt-4o", "claude-sonnet-4-5"])
    series = ["gpt-4.1-2025-04-14", "gpt-4.1", "gpt-4o-mini-2024-07-18"]
    assert groups_without_series(limits, series) == ["GPT-4o mini", "Claude Sonnet 4.x"]
    unused = unused_limits(limits, series)
    assert list(zip(unused["model_group"], unused["metric"], unused["planned"], strict=True)) == [
        ("GPT-4o mini", "rpm", False), ("GPT-4o mini", "tpm", False), ("Claude Sonnet 4.x", "rpm", False),
        ("Claude Sonnet 4.x", "itpm", False), ("Claude Sonnet 4.x", "otpm", False)]
    assert unused["reason"].iloc[0] == (
        "its limits row lists gpt-4o, which no model of the usage matches (the usage's models: gpt-4.1, "
        "gpt-4.1-2025-04-14, gpt-4o-mini-2024-07-18); list a model as the usage names it, or its undated alias")
    assert unused_limits(_openai_file(), [*series, "claude-sonnet-4-5"]).empty


@pytest.mark.parametrize(("column", "value", "message"), [
    ("rpm", ["-5", "50"], "column 'rpm' has an invalid value at row 1: '-5'"),
    ("otpm", ["90000", "lots"], "column 'otpm' has an invalid value at row 2: 'lots'"),
    ("models", ["claude-opus-4-5", "claude-opus-4-5"], "column 'models' has an invalid value at row 2"),
])
def test_bad_file_values_name_file_column_row_and_value(column, value, message):
    with pytest.raises(InvalidInputError, match="limits.csv") as error:
        limits_from_file(_file(**{column: value}))
    assert message in str(error.value)


def test_itpm_excludes_cache_reads_unless_the_group_counts_them():
    usage = pd.DataFrame({
        "timestamp": pd.date_range("2026-01-01", periods=24, freq="h", tz="UTC"), "series": "m",
        "requests": 60.0, "input_tokens": 600.0, "cache_write_tokens": 0.0, "cache_read_tokens": 1800.0,
        "output_tokens": 60.0, "peak_rpm": 2.0, "peak_itpm": 20.0, "peak_otpm": 2.0})
    excluded = usage_peaks(usage, {"m": "g"}, {"g": False}, "h", 2.0)
    itpm = excluded[excluded["metric"] == "itpm"]
    assert itpm["total"].eq(600.0).all() and itpm["peak"].eq(20.0).all()
    counted = usage_peaks(usage, {"m": "g"}, {"g": True}, "h", 2.0)
    itpm = counted[counted["metric"] == "itpm"]
    assert itpm["total"].eq(2400.0).all() and itpm["peak"].eq(80.0).all()  # scaled by the reads' share
    daily = forecast_bucket_peaks(excluded, "h", "D")
    assert daily.set_index("metric").loc["itpm", "ratio"] == pytest.approx(20.0 / (600.0 * 24 / 1440))


def _rate_limits_api(request):
    pages = {
        None: {"data": [{"id": "rl_1", "type": "rate_limit",
                         "group": {"id": "rlg_1", "type": "model_group", "display_name": "Claude Sonnet 4.x"},
                         "models": ["claude-sonnet-4-5", "claude-sonnet-4-6"],
                         "limits": [{"type": "requests_per_minute", "value": 4000},
                                    {"type": "input_tokens_per_minute", "value": 9000000},
                                    {"type": "input_tokens_per_minute_cache_aware", "value": 2000000},
                                    {"type": "output_tokens_per_minute", "value": 400000},
                                    {"type": "tokens_per_day", "value": 10}]}],
               "next_page": "page_2"},
        "page_2": {"data": [{"id": "rl_2", "type": "rate_limit",
                             "group": {"id": "rlg_2", "type": "model_group", "display_name": "Claude 3 Haiku"},
                             "models": ["claude-3-haiku-20240307"],
                             "limits": [{"type": "requests_per_minute", "value": 50},
                                        {"type": "input_tokens_per_minute", "value": 50000}]}],
                   "next_page": None},
    }
    if request.headers.get("x-api-key") != ADMIN_KEY:
        return Reply(401, {"error": {"type": "authentication_error", "message": "bad key"}})
    return Reply(body=pages[request.value("page")])


def test_limits_from_the_loopback_admin_api():
    with LoopbackAPI(_rate_limits_api) as api:
        dataset = AnthropicRateLimitsDataset(base_url=api.url, credentials={"api_key": ADMIN_KEY})
        limits = dataset.load()
    assert [r.path for r in api.requests] == ["/v1/organizations/rate_limits"] * 2
    assert api.requests[0].value("group_type") == "model_group"
    assert api.requests[1].value("page") == "page_2"
    assert limits["model_group"].tolist() == ["Claude Sonnet 4.x", "Claude 3 Haiku"]
    sonnet, haiku = limits.iloc[0], limits.iloc[1]
    # The cache-aware ITPM is the one that applies when both are listed.
    assert (sonnet["rpm"], sonnet["itpm"], sonnet["otpm"]) == (4000, 2_000_000, 400_000)
    assert not sonnet["itpm_counts_cache_reads"]
    assert haiku["itpm_counts_cache_reads"] and np.isnan(haiku["otpm"])
    assert sonnet["as_of"] and "rate_limits" in sonnet["source"]


def test_admin_api_401_is_a_clear_error_without_the_key():
    with LoopbackAPI(_rate_limits_api) as api:
        dataset = AnthropicRateLimitsDataset(base_url=api.url, credentials={"api_key": "wrong-key"},
                                             max_attempts=1)
        with pytest.raises(Exception, match="401") as error:
            dataset.load()
    assert "wrong-key" not in str(error.value)
