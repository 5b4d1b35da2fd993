"""OpenAIUsageDataset against a loopback organization usage API."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from kedro.io import DatasetError

from tests.sources.loopback_api import LoopbackAPI, Reply, Request, paged
from tokenplan.datasets import OpenAIUsageDataset
from tokenplan.pipelines.ingestion.nodes import build_usage_buckets

ADMIN_KEY = "sk-admin-openai-test-key-do-not-log"
PATH = "/v1/organization/usage/completions"
START = pd.Timestamp("2026-01-01", tz="UTC")


def _result(model: str, input_tokens: int, cached: int, output: int, requests: int,
            project_id: str | None = None) -> dict:
    return {"object": "organization.usage.completions.result", "input_tokens": input_tokens,
            "output_tokens": output, "input_cached_tokens": cached, "input_audio_tokens": 0,
            "output_audio_tokens": 0, "num_model_requests": requests, "project_id": project_id,
            "user_id": None, "api_key_id": None, "model": model, "batch": None}


def _bucket(hour: int, *results: dict) -> dict:
    start = int((START + pd.Timedelta(hours=hour)).timestamp())
    return {"object": "bucket", "start_time": start, "end_time": start + 3600, "results": list(results)}


PAGES = [
    {"object": "page", "data": [_bucket(0, _result("gpt-4o-mini", 1000, 800, 500, 5, "proj_a"),
                                        _result("gpt-4.1", 300, 0, 90, 2, "proj_b"))]},
    {"object": "page", "data": [_bucket(1), _bucket(2, _result("gpt-4o-mini", 600, 100, 200, 3, "proj_a"))]},
]


def _api(request: Request) -> Reply:
    if request.headers.get("authorization") != f"Bearer {ADMIN_KEY}":
        return Reply(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                     "code": "invalid_api_key"}})
    return paged(PAGES, request)


def _dataset(api: LoopbackAPI, **options) -> OpenAIUsageDataset:
    settings = {"starting_at": START, "ending_at": START + pd.Timedelta(hours=3), "base_url": api.url,
                "credentials": {"api_key": ADMIN_KEY}, "backoff_seconds": 0.01, **options}
    return OpenAIUsageDataset(**settings)


def test_pages_are_mapped_to_uncached_input_cache_reads_and_requests():
    with LoopbackAPI(_api) as api:
        usage = _dataset(api, zero_fill_quiet_buckets=False).load()

    assert len(api.requests) == 2
    assert list(usage.columns) == ["timestamp", "model", "requests", "input_tokens", "cache_read_tokens",
                                   "output_tokens"]
    mini = usage.iloc[0]
    assert mini["timestamp"] == START and mini["model"] == "gpt-4o-mini"
    # OpenAI's input_tokens include the cached ones.
    assert (mini["input_tokens"], mini["cache_read_tokens"], mini["output_tokens"], mini["requests"]) == \
        (200, 800, 500, 5)
    assert "cache_write_tokens" not in usage.columns


def test_query_uses_unix_seconds_repeated_group_by_and_bearer_auth():
    with LoopbackAPI(_api) as api:
        _dataset(api, group_by=["project_id"], filters={"models": ["gpt-4o-mini"], "batch": False}).load()

    first, second = api.requests
    assert first.path == PATH
    assert first.value("start_time") == str(int(START.timestamp()))
    assert first.value("end_time") == str(int(START.timestamp()) + 3 * 3600)
    assert first.value("bucket_width") == "1h" and first.value("limit") == "168"
    assert first.values("group_by") == ["model", "project_id"]
    assert first.values("models") == ["gpt-4o-mini"] and first.value("batch") == "false"
    assert first.headers["authorization"] == f"Bearer {ADMIN_KEY}"
    assert second.value("page") == "page_1"


def test_projects_become_series_and_quiet_hours_are_zero():
    with LoopbackAPI(_api) as api:
        usage = _dataset(api, group_by=["project_id"]).load()

    assert "project" in usage.columns
    buckets = build_usage_buckets(usage, {"timezone": "UTC", "bucket": "h", "series_dimensions": ["project"],
                                          "model_aliases": {}})
    mini = buckets[buckets["series"] == "gpt-4o-mini/proj_a"].set_index("timestamp")
    assert mini["requests"].tolist() == [5.0, 0.0, 3.0]  # hour 1 was reported, with no usage
    assert buckets["cache_write_tokens"].isna().all()


def test_429_then_success(caplog):
    calls = {"n": 0}

    def respond(request: Request) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(429, {"error": {"message": "Rate limit reached"}}, headers={"retry-after": "0.05"})
        return _api(request)

    with LoopbackAPI(respond) as api, caplog.at_level(logging.WARNING, logger="tokenplan"):
        usage = _dataset(api).load()

    assert len(usage) > 0 and len(api.requests) == 3
    assert any("HTTP 429" in r.getMessage() for r in caplog.records)


def test_5xx_then_success():
    calls = {"n": 0}

    def respond(request: Request) -> Reply:
        calls["n"] += 1
        return Reply(502, "bad gateway") if calls["n"] == 1 else _api(request)

    with LoopbackAPI(respond) as api:
        assert len(_dataset(api).load()) > 0


def test_wrong_key_is_a_clear_error_without_the_key(caplog, monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-wrong-env-key-123")
    with LoopbackAPI(_api) as api, caplog.at_level(logging.DEBUG):
        dataset = _dataset(api, credentials=None)
        with pytest.raises(DatasetError) as error:
            dataset.load()

    message = str(error.value)
    assert "OpenAI usage API" in message and PATH in message and "HTTP 401" in message
    assert "OPENAI_ADMIN_KEY" in message  # where the key came from, not the key
    for text in (message, caplog.text, repr(dataset)):
        assert "sk-admin-wrong-env-key-123" not in text
