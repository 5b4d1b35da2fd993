"""A client for paginated usage APIs: JSON pages, retries with back-off, no secret in any message.

Usage endpoints (Anthropic's Admin API, OpenAI's organization API) page their reports
with ``has_more`` / ``next_page`` and answer bursts with 429 and a ``retry-after``
header. The client retries 429, 5xx and transport failures (timeouts, refused
connections) with exponential back-off, honours ``retry-after`` (seconds or an HTTP
date), and after its last attempt raises :class:`UsageAPIError` naming the API, the
endpoint and the status. Other 4xx answers (a wrong key, a bad parameter) fail at once.

The admin key travels only in request headers: it is never logged, and any text quoted
from a response is scrubbed of it before it reaches a message.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

logger = logging.getLogger(__name__)

QueryParams = Sequence[tuple[str, str]]
MAX_QUOTED_CHARS = 300
REDACTED = "[redacted]"

__all__ = ["QueryParams", "RetryPolicy", "UsageAPIClient", "UsageAPIError", "parse_retry_after"]


class UsageAPIError(RuntimeError):
    """A usage API request failed for good; the message names API, endpoint and status, never the key."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: ``max_attempts`` in all, waits in seconds."""

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    # A server asking for a longer pause than this is waited for this long only.
    max_retry_after_seconds: float = 300.0

    def __post_init__(self) -> None:
        if int(self.max_attempts) < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("back-off seconds must be >= 0")

    def wait_seconds(self, failed_attempts: int, retry_after: float | None) -> float:
        """Seconds to wait after ``failed_attempts`` failures: the server's word, else 2^n back-off."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_seconds)
        return min(self.backoff_seconds * 2 ** (failed_attempts - 1), self.max_backoff_seconds)


def _is_retryable(status: int) -> bool:
    return status == 429 or status >= 500


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``retry-after`` as seconds: a number, or an HTTP date turned into seconds from ``now``."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(timezone.utc)
    return max((when - now).total_seconds(), 0.0)


class UsageAPIClient:
    """GET JSON from ``base_url`` with auth ``headers``, retrying per ``retry``.

    ``secrets`` are scrubbed from any response text quoted in an error. ``auth_hint``
    ends the message of a 401/403 (where the key should come from). ``sleep`` is
    replaceable so tests can record waits instead of waiting.
    """

    def __init__(
        self,
        api_name: str,
        base_url: str,
        headers: Mapping[str, str],
        *,
        secrets: Sequence[str] = (),
        retry: RetryPolicy | None = None,
        timeout_seconds: float = 30.0,
        auth_hint: str = "",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_name = api_name
        self.base_url = base_url.rstrip("/")
        self._secrets = tuple(s for s in secrets if s)
        self._retry = retry or RetryPolicy()
        self._auth_hint = auth_hint
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.base_url, headers=dict(headers),
                                  timeout=httpx.Timeout(timeout_seconds), follow_redirects=False)
        self._timeout_seconds = timeout_seconds

    def __enter__(self) -> UsageAPIClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:  # the headers (and the key in them) stay out of any repr
        return f"UsageAPIClient({self.api_name!r}, {self.base_url!r})"

    # ------------------------------------------------------------------ requests

    def get_json(self, path: str, params: QueryParams) -> dict[str, Any]:
        """The JSON object at ``path`` with query ``params``, after retries; else UsageAPIError."""
        endpoint = f"GET {self.base_url}{path}"
        attempts = self._retry.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.get(path, params=list(params))
            except httpx.TimeoutException:
                failure, retry_after = f"no answer within {self._timeout_seconds:g} s", None
            except httpx.TransportError as error:
                failure, retry_after = f"connection failed ({type(error).__name__}: {self._scrub(str(error))})", None
            else:
                if response.is_success:
                    return self._json(response, endpoint)
                failure = f"HTTP {response.status_code}{self._quote_error(response)}"
                if not _is_retryable(response.status_code):
                    hint = f"; {self._auth_hint}" if response.status_code in (401, 403) and self._auth_hint else ""
                    raise UsageAPIError(f"{self.api_name}: {endpoint} failed with {failure}{hint}")
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            if attempt == attempts:
                break
            wait = self._retry.wait_seconds(attempt, retry_after)
            logger.warning("%s: %s: %s; retrying in %.1f s (attempt %d of %d)",
                           self.api_name, endpoint, failure, wait, attempt + 1, attempts)
            self._sleep(wait)
        raise UsageAPIError(f"{self.api_name}: {endpoint} failed with {failure} "
                            f"after {attempts} attempt{'s' if attempts > 1 else ''}")

    def pages(self, path: str, params: QueryParams, page_param: str = "page") -> Iterator[dict[str, Any]]:
        """Every page of a report: ``page`` = the previous ``next_page`` until ``has_more`` is false
        (or, where a page has no ``has_more``, until ``next_page`` is empty)."""
        endpoint = f"GET {self.base_url}{path}"
        seen: set[str] = set()
        token: str | None = None
        while True:
            query = list(params) + ([(page_param, token)] if token else [])
            page = self.get_json(path, query)
            yield page
            # Reports say has_more; lists such as rate_limits give only a next_page (null at the end).
            if not (page.get("has_more") if "has_more" in page else page.get("next_page")):
                return
            token = page.get("next_page")
            if not token:
                raise UsageAPIError(f"{self.api_name}: {endpoint} said has_more without a next_page token")
            if token in seen:
                raise UsageAPIError(f"{self.api_name}: {endpoint} returned the same next_page twice; stopping")
            seen.add(token)

    # ------------------------------------------------------------------ messages

    def _json(self, response: httpx.Response, endpoint: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise UsageAPIError(f"{self.api_name}: {endpoint} answered HTTP {response.status_code} "
                                f"with a body that is not JSON") from None
        if not isinstance(body, dict):
            raise UsageAPIError(f"{self.api_name}: {endpoint} answered with JSON that is not an object")
        return body

    def _quote_error(self, response: httpx.Response) -> str:
        """`` (type: message)`` from a JSON error body, else the start of the text; scrubbed."""
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if isinstance(error, dict):
            text = ": ".join(str(error[k]) for k in ("type", "message") if error.get(k))
        else:
            text = response.text.strip()
        text = self._scrub(text)[:MAX_QUOTED_CHARS]
        return f" ({text})" if text else ""

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text
