"""What every usage-API dataset shares: the admin key, the report window, the HTTP client.

The admin key comes from the dataset's Kedro ``credentials`` (``{api_key: ...}`` in
``conf/local/credentials.yml``) or, without them, from an environment variable. It is
read only when the dataset loads, so a run that does not need the API needs no key,
and it never appears in ``_describe`` (hence in no repr, log line or Kedro error).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from tokenplan.sources.bucket_report import usage_group_by
from tokenplan.sources.http_client import QueryParams, RetryPolicy, UsageAPIClient
from tokenplan.sources.quiet_buckets import add_quiet_buckets
from tokenplan.sources.time_window import report_window, rfc3339


class UsageAPIDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only base: subclasses name the API and endpoint and implement ``_load`` with :meth:`_fetch_pages`."""

    api_name: ClassVar[str]
    default_base_url: ClassVar[str]
    key_env_var: ClassVar[str]
    endpoint: ClassVar[str]

    def __init__(
        self,
        *,
        starting_at: Any = None,
        ending_at: Any = None,
        lookback_days: float | None = None,
        bucket_width: str = "1h",
        base_url: str | None = None,
        credentials: dict[str, Any] | None = None,
        max_attempts: int = 5,
        timeout_seconds: float = 30.0,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._starting_at = starting_at
        self._ending_at = ending_at
        self._lookback_days = lookback_days
        self._bucket_width = bucket_width
        self._base_url = (base_url or self.default_base_url).rstrip("/")
        self._credentials = dict(credentials or {})
        self._retry = RetryPolicy(max_attempts=int(max_attempts), backoff_seconds=float(backoff_seconds),
                                  max_backoff_seconds=float(max_backoff_seconds))
        self._timeout_seconds = float(timeout_seconds)
        self.metadata = metadata
        try:  # a bad window fails when the catalog is built, not after a long run
            self._window()
        except ValueError as error:
            raise DatasetError(f"{type(self).__name__}: {error}") from None

    def _window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return report_window(self._starting_at, self._ending_at, self._lookback_days, self._bucket_width)

    def _api_key(self) -> str:
        if self._credentials:
            key = self._credentials.get("api_key")
            if not key:
                raise DatasetError(f"{self.api_name}: the dataset's credentials have no 'api_key' entry "
                                   f"(found keys: {sorted(self._credentials)})")
            return str(key)
        key = os.environ.get(self.key_env_var, "")
        if not key:
            raise DatasetError(f"{self.api_name}: no admin key. Set the environment variable {self.key_env_var} "
                               f"or give the dataset `credentials:` naming an entry with `api_key` in "
                               f"conf/local/credentials.yml")
        return key

    def _client(self, headers: dict[str, str], api_key: str) -> UsageAPIClient:
        hint = (f"check the admin key (the dataset's credentials 'api_key', or {self.key_env_var}); "
                f"an ordinary API key is not an admin key")
        return UsageAPIClient(self.api_name, self._base_url, headers, secrets=[api_key], retry=self._retry,
                              timeout_seconds=self._timeout_seconds, auth_hint=hint)

    def _fetch_pages(self, headers_for: Callable[[str], dict[str, str]], query: QueryParams,
                     flatten: Callable[[Iterator[dict[str, Any]]], Any]) -> Any:
        """``flatten`` applied to every page of the report at ``endpoint`` for ``query``."""
        api_key = self._api_key()
        with self._client(headers_for(api_key), api_key) as client:
            return flatten(client.pages(self.endpoint, query))

    def _save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only: it reads the {self.api_name}")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        # ``path`` is what SourceLabelHooks shows in validation errors. No credentials here.
        window = {"starting_at": self._starting_at, "ending_at": self._ending_at,
                  "lookback_days": self._lookback_days}
        try:
            start, end = self._window()
            window = {"starting_at": rfc3339(start), "ending_at": rfc3339(end)}
        except ValueError:
            pass
        return {"path": f"{self._base_url}{self.endpoint}", **window, "bucket_width": self._bucket_width}


class BucketedUsageAPIDataset(UsageAPIDataset):
    """Base of the usage (not cost) datasets: ``group_by``, ``filters``, ``limit``, quiet-bucket zeros.

    ``api_options`` are :class:`UsageAPIDataset`'s: the window (``starting_at``,
    ``ending_at``, ``lookback_days``), ``bucket_width``, ``base_url``, ``credentials``,
    ``max_attempts``, ``timeout_seconds``, ``backoff_seconds``, ``max_backoff_seconds``.
    """

    count_columns: ClassVar[list[str]]

    def __init__(
        self,
        *,
        group_by: list[str] | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        zero_fill_quiet_buckets: bool = True,
        **api_options: Any,
    ) -> None:
        super().__init__(**api_options)
        self._group_by = usage_group_by(group_by)
        self._filters = dict(filters or {})
        self._limit = limit
        self._zero_fill = bool(zero_fill_quiet_buckets)

    def _usage_table(self, usage: pd.DataFrame, reported: pd.DatetimeIndex) -> pd.DataFrame:
        """The flattened report with quiet buckets as zeros; a report without usage is an error."""
        if usage.empty:
            start, end = self._window()
            raise DatasetError(f"{self.api_name}: GET {self._base_url}{self.endpoint} reported no usage from "
                               f"{rfc3339(start)} to {rfc3339(end)} ({len(reported)} buckets, none with results); "
                               f"check the window, the filters and that the key belongs to the right organization")
        if not self._zero_fill:
            return usage
        labels = [c for c in usage.columns if c != "timestamp" and c not in self.count_columns]
        return add_quiet_buckets(usage, reported, labels, self.count_columns)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "group_by": self._group_by, "filters": self._filters or None}
