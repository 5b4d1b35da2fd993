"""Kedro dataset reading the rate limits in force from the Anthropic Admin API.

``GET /v1/organizations/rate_limits?group_type=model_group`` lists one entry per model
group with its models and limits; it loads as the same table a limits file gives
(``tokenplan.planning.rate_limits.LIMIT_COLUMNS``), dated today (UTC). Key, retries
and errors follow the usage datasets (``tokenplan.datasets.usage_api``).

Catalog entry (``conf/local/catalog.yml``)::

    rate_limits_raw:
      type: tokenplan.datasets.AnthropicRateLimitsDataset
      credentials: anthropic_admin     # or the ANTHROPIC_ADMIN_KEY environment variable
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from kedro.io import DatasetError

from tokenplan.datasets.usage_api import UsageAPIDataset
from tokenplan.planning.rate_limits import limits_from_admin_pages
from tokenplan.sources import anthropic_admin


class AnthropicRateLimitsDataset(UsageAPIDataset):
    """Read-only: per-model-group RPM, ITPM and OTPM limits from the Admin API.

    Options: ``limit`` (groups per page), ``base_url``, ``credentials``, ``max_attempts``,
    ``timeout_seconds``, ``backoff_seconds``, ``max_backoff_seconds``.
    """

    api_name = anthropic_admin.API_NAME
    default_base_url = anthropic_admin.DEFAULT_BASE_URL
    key_env_var = anthropic_admin.KEY_ENV_VAR
    endpoint = anthropic_admin.RATE_LIMITS_PATH

    def __init__(self, *, limit: int | None = None, **api_options: Any) -> None:
        # The list has no time window; the base class's window is unused.
        super().__init__(lookback_days=1, **api_options)
        self._limit = limit

    def _load(self) -> pd.DataFrame:
        source = f"{self.api_name} {self.endpoint}"
        as_of = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"
        table = self._fetch_pages(anthropic_admin.auth_headers, anthropic_admin.rate_limits_query(self._limit),
                                  lambda pages: limits_from_admin_pages(pages, source, as_of))
        if table.empty:
            raise DatasetError(f"{source} listed no model-group limits; check that the key belongs to the "
                               "right organization")
        return table

    def _describe(self) -> dict[str, Any]:
        return {"path": f"{self._base_url}{self.endpoint}", "limit": self._limit}
