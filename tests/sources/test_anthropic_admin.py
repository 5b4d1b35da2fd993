"""AnthropicUsageDataset and AnthropicCostDataset against a loopback Admin API."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from tests.sources.loopback_api import LoopbackAPI, Reply, Request, paged
from tokenplan.datasets import AnthropicCostDataset, AnthropicUsageDataset
from tokenplan.pipelines.ingestion.nodes import build_usage_buckets

ADMIN_KEY = "sk-ant-admin01-test-key-do-not-log"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"


def _result(model: str, uncached: int, write_5m: int = 0, write_1h: int = 0, read: int = 0, output: int = 0,
            workspace_id: str | None = None, service_tier: str = "standard") -> dict:
    """One ``results`` entry in the documented shape."""
    return {"uncached_input_tokens": uncached,
            "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
            "cache_read_input_tokens": read, "output_tokens": output,
            "server_tool_use": {"web_search_requests": 0},
            "model": model, "workspace_id": workspace_id, "api_key_id": None,
            "service_tier": service_tier, "context_window": "0-200k"}


def _bucket(start: str, *results: dict) -> dict:
    begin = pd.Timestamp(start)
    return {"starting_at": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ending_at": (begin + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "results": list(results)}


# Three pages of hourly buckets; 02:00 lists no usage at all (a quiet hour), Haiku
# is absent from 01:00 (quiet for Haiku only), and 04:00 is not reported at all.
PAGES = [
    {"data": [_bucket("2026-01-01T00:00Z", _result(SONNET, 1500, 500, 1000, 200, 500),
                      _result(HAIKU, 100, output=10, workspace_id="wrkspc_research")),
              _bucket("2026-01-01T01:00Z", _result(SONNET, 1000, output=300))]},
    {"data": [_bucket("2026-01-01T02:00Z")]},
    {"data": [_bucket("2026-01-01T03:00Z", _result(SONNET, 800, read=50, output=200),
                      _result(HAIKU, 200, output=20, workspace_id="wrkspc_research")),
              _bucket("2026-01-01T05:00Z", _result(SONNET, 700, output=100))]},
]


def _usage_api(pages: list[dict] = PAGES):
    def respond(request: Request) -> Reply:
        if request.headers.get("x-api-key") != ADMIN_KEY:
            return Reply(401, {"type": "error", "error": {"type": "authentication_error",
                                                          "message": "invalid x-api-key"}})
        return paged(pages, request)
    return respond


def _usage_dataset(api: LoopbackAPI, **options) -> AnthropicUsageDataset:
    settings = {"starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-01-01T06:00:00Z",
                "base_url": api.url, "credentials": {"api_key": ADMIN_KEY}, "backoff_seconds": 0.01, **options}
    return AnthropicUsageDataset(**settings)


def test_multi_page_report_is_flattened_to_canonical_usage():
    with LoopbackAPI(_usage_api()) as api:
        usage = _usage_dataset(api, zero_fill_quiet_buckets=False).load()

    assert len(api.requests) == 3
    assert list(usage.columns) == ["timestamp", "model", "input_tokens", "cache_write_tokens",
                                   "cache_write_1h_tokens", "cache_read_tokens", "output_tokens"]
    assert "requests" not in usage.columns  # the usage report has no request count
    assert str(usage["timestamp"].dtype) == "datetime64[ns, UTC]"
    first = usage.iloc[0]
    assert first["model"] == SONNET
    assert (first["input_tokens"], first["cache_write_tokens"], first["cache_read_tokens"],
            first["output_tokens"]) == (1500, 1500, 200, 500)  # cache writes = 5m + 1h
    assert first["cache_write_1h_tokens"] == 1000  # the part billed at the 1-hour rate is kept
    assert len(usage) == 6


def test_request_sends_window_bucket_width_group_by_limit_and_headers():
    with LoopbackAPI(_usage_api()) as api:
        _usage_dataset(api, group_by=["workspace_id", "service_tier"],
                       filters={"models": [SONNET, HAIKU]}).load()

    first, second = api.requests[0], api.requests[1]
    assert first.path == USAGE_PATH
    assert first.value("starting_at") == "2026-01-01T00:00:00Z"
    assert first.value("ending_at") == "2026-01-01T06:00:00Z"
    assert first.value("bucket_width") == "1h"
    assert first.value("limit") == "168"  # the API's maximum for hourly buckets
    assert first.values("group_by[]") == ["model", "workspace_id", "service_tier"]
    assert first.values("models[]") == [SONNET, HAIKU]
    assert first.value("page") is None and second.value("page") == "page_1"
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert first.headers["x-api-key"] == ADMIN_KEY


def test_grouped_dimensions_become_columns_and_series():
    with LoopbackAPI(_usage_api()) as api:
        usage = _usage_dataset(api, group_by=["model", "workspace_id", "service_tier"]).load()

    assert {"workspace", "service_tier"} <= set(usage.columns)
    assert "workspace_id" not in usage.columns
    buckets = build_usage_buckets(usage, {"timezone": "UTC", "bucket": "h", "series_dimensions": ["workspace"],
                                          "model_aliases": {}})
    assert set(buckets["series"]) == {"claude-sonnet-4-5/(none)", "claude-haiku-4-5/wrkspc_research"}


def test_quiet_buckets_are_zero_and_unreported_buckets_stay_missing():
    with LoopbackAPI(_usage_api()) as api:
        usage = _usage_dataset(api).load()

    buckets = build_usage_buckets(usage, {"timezone": "UTC", "bucket": "h", "series_dimensions": [],
                                          "model_aliases": {}})
    sonnet = buckets[buckets["series"] == "claude-sonnet-4-5"].set_index("timestamp")["input_tokens"]
    hour = lambda h: pd.Timestamp(f"2026-01-01 {h:02d}:00", tz="UTC")  # noqa: E731
    assert sonnet[hour(2)] == 0.0  # reported, no usage: a real zero
    assert np.isnan(sonnet[hour(4)])  # never reported: a gap, not a zero
    haiku = buckets[buckets["series"] == "claude-haiku-4-5"].set_index("timestamp")["input_tokens"]
    assert haiku[hour(1)] == 0.0 and haiku[hour(2)] == 0.0
    assert haiku[hour(5)] == 0.0  # reported after Haiku's last row: no usage (it stopped), not unknown
    assert np.isnan(haiku[hour(4)])
    assert buckets["requests"].isna().all()


def test_429_with_retry_after_is_waited_out_then_the_report_loads(caplog):
    calls = {"n": 0}

    def respond(request: Request) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
                         headers={"retry-after": "1"})
        return _usage_api()(request)

    with LoopbackAPI(respond) as api, caplog.at_level(logging.WARNING, logger="tokenplan"):
        started = time.monotonic()
        usage = _usage_dataset(api).load()
        elapsed = time.monotonic() - started

    assert elapsed >= 0.95  # retry-after: 1, not the 0.01 s back-off
    assert len(usage) > 0 and len(api.requests) == 4
    assert any("HTTP 429" in r.getMessage() and "retrying in 1.0 s" in r.getMessage() for r in caplog.records)


def test_500_is_retried_then_the_report_loads():
    calls = {"n": 0}

    def respond(request: Request) -> Reply:
        calls["n"] += 1
        return Reply(500, {"type": "error", "error": {"type": "api_error"}}) if calls["n"] == 2 else \
            _usage_api()(request)

    with LoopbackAPI(respond) as api:
        usage = _usage_dataset(api, zero_fill_quiet_buckets=False).load()

    assert len(usage) == 6
    assert [r.value("page") for r in api.requests] == [None, "page_1", "page_1", "page_2"]


def test_permanent_401_is_a_clear_error_without_the_key(caplog):
    with LoopbackAPI(_usage_api()) as api, caplog.at_level(logging.DEBUG):
        dataset = _usage_dataset(api, credentials={"api_key": "sk-ant-admin01-wrong-key-xyz"})
        with pytest.raises(DatasetError) as error:
            dataset.load()

    message = str(error.value)
    assert len(api.requests) == 1
    assert "HTTP 401" in message and USAGE_PATH in message and "Anthropic Admin API" in message
    assert "admin key" in message
    for text in (message, caplog.text, repr(dataset), str(dataset._describe())):
        assert "sk-ant-admin01-wrong-key-xyz" not in text


def test_retries_exhausted_names_endpoint_and_status():
    with LoopbackAPI(lambda request: Reply(503, "unavailable")) as api:
        with pytest.raises(DatasetError, match=rf"{USAGE_PATH} failed with HTTP 503.*after 2 attempts"):
            _usage_dataset(api, max_attempts=2).load()
    assert len(api.requests) == 2


def test_key_comes_from_credentials_else_the_environment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN_KEY)
    with LoopbackAPI(_usage_api()) as api:
        assert len(_usage_dataset(api, credentials=None).load()) > 0
        with pytest.raises(DatasetError, match="HTTP 401"):  # credentials win over the environment
            _usage_dataset(api, credentials={"api_key": "another"}).load()

    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
    with pytest.raises(DatasetError, match="ANTHROPIC_ADMIN_KEY"):
        AnthropicUsageDataset(lookback_days=1).load()
    with pytest.raises(DatasetError, match="no 'api_key' entry"):
        AnthropicUsageDataset(lookback_days=1, credentials={"key": ADMIN_KEY}).load()


def test_lookback_window_ends_at_the_current_bucket():
    with LoopbackAPI(lambda request: paged(PAGES, request)) as api:
        AnthropicUsageDataset(lookback_days=7, bucket_width="1d", base_url=api.url,
                              credentials={"api_key": ADMIN_KEY}).load()

    start = pd.Timestamp(api.requests[0].value("starting_at"))
    end = pd.Timestamp(api.requests[0].value("ending_at"))
    assert end == pd.Timestamp.now(tz="UTC").floor("D")
    assert end - start == pd.Timedelta(days=7)
    assert api.requests[0].value("limit") == "31"


def test_a_report_without_usage_is_a_clear_error():
    empty = [{"data": [_bucket("2026-01-01T00:00Z"), _bucket("2026-01-01T01:00Z")]}]
    with LoopbackAPI(lambda request: paged(empty, request)) as api:
        with pytest.raises(DatasetError, match="reported no usage from 2026-01-01T00:00:00Z.*2 buckets"):
            _usage_dataset(api).load()


def test_bad_bucket_width_or_window_fails_when_the_catalog_is_built():
    with pytest.raises(DatasetError, match="bucket_width"):
        AnthropicUsageDataset(lookback_days=1, bucket_width="1w")
    with pytest.raises(DatasetError, match="must be before"):
        AnthropicUsageDataset(starting_at="2026-02-01", ending_at="2026-01-01")


# ------------------------------------------------------------------ cost report


def _cost(amount: str, model: str, token_type: str, currency: str = "USD") -> dict:
    return {"currency": currency, "amount": amount, "workspace_id": None,
            "description": f"Claude Sonnet 4.5 Usage - {token_type}", "cost_type": "tokens",
            "context_window": "0-200k", "model": model, "service_tier": "standard", "token_type": token_type}


COST_PAGES = [
    {"data": [{"starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-01-02T00:00:00Z",
               "results": [_cost("12345.5", SONNET, "uncached_input_tokens"),
                           _cost("250", SONNET, "output_tokens")]}]},
    {"data": [{"starting_at": "2026-01-02T00:00:00Z", "ending_at": "2026-01-03T00:00:00Z",
               "results": [_cost("0.75", HAIKU, "cache_read_input_tokens")]}]},
]


def test_cost_report_amounts_in_cents_become_dollars():
    with LoopbackAPI(lambda request: paged(COST_PAGES, request)) as api:
        costs = AnthropicCostDataset(starting_at="2026-01-01", ending_at="2026-01-03", base_url=api.url,
                                     credentials={"api_key": ADMIN_KEY}).load()

    assert api.requests[0].path == COST_PATH
    assert api.requests[0].values("group_by[]") == ["description"]
    assert api.requests[0].value("bucket_width") == "1d"
    assert list(costs.columns[:5]) == ["date", "model", "cost_type", "token_type", "service_tier"]
    assert {"amount_usd", "currency"} <= set(costs.columns)
    assert costs["amount_usd"].tolist() == pytest.approx([123.455, 2.5, 0.0075])
    assert costs["date"].tolist() == [pd.Timestamp("2026-01-01", tz="UTC")] * 2 + [pd.Timestamp("2026-01-02", tz="UTC")]
    assert set(costs["currency"]) == {"USD"}


def test_cost_report_in_another_currency_is_refused():
    pages = [{"data": [{"starting_at": "2026-01-01T00:00:00Z", "results": [_cost("100", SONNET, "output_tokens",
                                                                                 currency="EUR")]}]}]
    with LoopbackAPI(lambda request: paged(pages, request)) as api:
        with pytest.raises(DatasetError, match="currency 'EUR'"):
            AnthropicCostDataset(starting_at="2026-01-01", ending_at="2026-01-02", base_url=api.url,
                                 credentials={"api_key": ADMIN_KEY}).load()


def test_an_answer_in_wider_buckets_than_asked_stops_the_load():
    from tokenplan.schemas import InvalidInputError
    from tokenplan.sources import anthropic_admin

    daily = {"data": [{"starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-01-02T00:00:00Z",
                       "results": [_result(SONNET, 100)]}], "has_more": False}

    with pytest.raises(InvalidInputError, match=r"asked for 1h buckets, but the answer's bucket .* is 1 days"):
        anthropic_admin.usage_frame([daily], bucket_width="1h")
    usage, _ = anthropic_admin.usage_frame([daily], bucket_width="1d")
    assert usage["input_tokens"].tolist() == [100.0]
