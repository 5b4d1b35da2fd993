"""The shared usage-API client against a loopback server: pages, retries, back-off, errors."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from tests.sources.loopback_api import LoopbackAPI, Reply, paged
from tokenplan.sources.http_client import RetryPolicy, UsageAPIClient, UsageAPIError, parse_retry_after

SECRET = "sk-test-admin-0123456789"
PATH = "/v1/report"


def _client(api: LoopbackAPI, waits: list[float], **retry) -> UsageAPIClient:
    policy = RetryPolicy(**{"max_attempts": 4, "backoff_seconds": 0.5, **retry})
    return UsageAPIClient("Test API", api.url, {"x-api-key": SECRET}, secrets=[SECRET], retry=policy,
                          timeout_seconds=2.0, auth_hint="check the admin key", sleep=waits.append)


def _scripted(*replies: Reply):
    """Reply with ``replies`` in turn, then with the last one forever."""
    queue = list(replies)
    return lambda request: queue.pop(0) if len(queue) > 1 else queue[0]


def test_pages_follow_next_page_until_has_more_is_false():
    pages = [{"data": [i]} for i in range(3)]
    with LoopbackAPI(lambda request: paged(pages, request)) as api, _client(api, []) as client:
        got = list(client.pages(PATH, [("limit", "2"), ("group_by[]", "model"), ("group_by[]", "workspace_id")]))

    assert [p["data"] for p in got] == [[0], [1], [2]]
    assert [r.value("page") for r in api.requests] == [None, "page_1", "page_2"]
    assert all(r.values("group_by[]") == ["model", "workspace_id"] for r in api.requests)
    assert all(r.headers["x-api-key"] == SECRET for r in api.requests)


def test_429_waits_as_long_as_retry_after_says_then_succeeds():
    replies = _scripted(Reply(429, {"error": {"type": "rate_limit_error"}}, {"retry-after": "7"}),
                        Reply(200, {"data": [], "has_more": False}))
    waits: list[float] = []
    with LoopbackAPI(replies) as api, _client(api, waits) as client:
        assert client.get_json(PATH, []) == {"data": [], "has_more": False}

    assert waits == [7.0]
    assert len(api.requests) == 2


def test_5xx_backs_off_exponentially_then_succeeds():
    replies = _scripted(Reply(500, "boom"), Reply(529, {"error": {"type": "overloaded_error"}}),
                        Reply(503, "busy"), Reply(200, {"ok": True}))
    waits: list[float] = []
    with LoopbackAPI(replies) as api, _client(api, waits) as client:
        assert client.get_json(PATH, []) == {"ok": True}

    assert waits == [0.5, 1.0, 2.0]


def test_back_off_is_capped():
    assert RetryPolicy(backoff_seconds=1, max_backoff_seconds=5).wait_seconds(10, None) == 5
    assert RetryPolicy(max_retry_after_seconds=60).wait_seconds(1, 3600) == 60


def test_last_failed_attempt_names_endpoint_status_and_attempts(caplog):
    with LoopbackAPI(lambda request: Reply(503, {"error": {"message": "overloaded"}})) as api, \
            caplog.at_level(logging.DEBUG), _client(api, [], max_attempts=3) as client:
        with pytest.raises(UsageAPIError) as error:
            client.get_json(PATH, [])

    message = str(error.value)
    assert f"GET {api.url}{PATH}" in message and "HTTP 503" in message and "after 3 attempts" in message
    assert len(api.requests) == 3
    assert "retrying" in caplog.text and SECRET not in caplog.text


def test_401_fails_at_once_and_never_shows_the_key(caplog):
    # A server that echoes the key back: the client must still not repeat it.
    body = {"type": "error", "error": {"type": "authentication_error", "message": f"invalid x-api-key {SECRET}"}}
    with LoopbackAPI(lambda request: Reply(401, body)) as api, caplog.at_level(logging.DEBUG), \
            _client(api, []) as client:
        with pytest.raises(UsageAPIError) as error:
            client.get_json(PATH, [])

    message = str(error.value)
    assert len(api.requests) == 1  # not retried
    assert "HTTP 401" in message and PATH in message and "authentication_error" in message
    assert "check the admin key" in message
    assert SECRET not in message and "[redacted]" in message
    assert SECRET not in caplog.text
    assert SECRET not in repr(client)


def test_a_timeout_is_retried():
    replies = _scripted(Reply(200, {"late": True}, delay_seconds=1.0), Reply(200, {"late": False}))
    waits: list[float] = []
    with LoopbackAPI(replies) as api:
        client = UsageAPIClient("Test API", api.url, {}, retry=RetryPolicy(max_attempts=2, backoff_seconds=0),
                                timeout_seconds=0.2, sleep=waits.append)
        with client:
            assert client.get_json(PATH, []) == {"late": False}
    assert waits == [0.0]


def test_a_refused_connection_fails_after_the_last_attempt():
    with LoopbackAPI(lambda request: Reply()) as api:
        url = api.url  # the port is closed once the server stops
    client = UsageAPIClient("Test API", url, {}, retry=RetryPolicy(max_attempts=2, backoff_seconds=0),
                            sleep=lambda s: None)
    with client, pytest.raises(UsageAPIError, match="connection failed.*after 2 attempts"):
        client.get_json(PATH, [])


def test_has_more_without_a_token_or_a_repeated_token_stops_with_an_error():
    with LoopbackAPI(lambda request: Reply(body={"data": [], "has_more": True, "next_page": None})) as api, \
            _client(api, []) as client:
        with pytest.raises(UsageAPIError, match="without a next_page"):
            list(client.pages(PATH, []))
    with LoopbackAPI(lambda request: Reply(body={"data": [], "has_more": True, "next_page": "same"})) as api, \
            _client(api, []) as client:
        with pytest.raises(UsageAPIError, match="same next_page twice"):
            list(client.pages(PATH, []))


def test_non_json_success_is_a_clear_error():
    with LoopbackAPI(lambda request: Reply(200, "<html>proxy login</html>")) as api, _client(api, []) as client:
        with pytest.raises(UsageAPIError, match="not JSON"):
            client.get_json(PATH, [])


def test_retry_after_accepts_seconds_and_http_dates():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("12", now) == 12.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
