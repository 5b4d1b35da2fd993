"""Kedro datasets reading the Anthropic Admin API: usage (``raw_usage``) and cost reports.

``AnthropicUsageDataset`` loads ``usage_report/messages`` as the bucketed usage table
``build_usage_buckets`` takes: ``timestamp``, ``model``, the grouped dimensions and
the four token columns, **without** ``requests`` (the report has no request count).
A bucket the API reported in which a series had no usage becomes a zero row (see
``tokenplan.sources.quiet_buckets``); a bucket it did not report stays missing.

``AnthropicCostDataset`` loads ``cost_report`` (daily) as ``date, model, cost_type,
token_type, service_tier, context_window, description, amount_usd, currency``.

Catalog entry (see docs/your-data/anthropic-admin-api.md)::

    raw_usage:
      type: tokenplan.datasets.AnthropicUsageDataset
      starting_at: "2026-01-01T00:00:00Z"
      bucket_width: 1h
      group_by: [model, workspace_id]
      credentials: anthropic_admin     # or the ANTHROPIC_ADMIN_KEY environment variable
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tokenplan.datasets.usage_api import BucketedUsageAPIDataset, UsageAPIDataset
from tokenplan.sources import anthropic_admin
from tokenplan.sources.bucket_report import as_list


class AnthropicUsageDataset(BucketedUsageAPIDataset):
    """Read-only: the organization's Messages usage, bucketed, from the Anthropic Admin API.

    Options: ``group_by`` (``model`` always, plus e.g. ``workspace_id``, ``service_tier``,
    ``context_window``), ``filters`` (``{models: [...], workspace_ids: [...], ...}``),
    ``limit`` (buckets per page; default the API's maximum), ``zero_fill_quiet_buckets``,
    and the window, connection and retry options of ``UsageAPIDataset``.
    """

    api_name = anthropic_admin.API_NAME
    default_base_url = anthropic_admin.DEFAULT_BASE_URL
    key_env_var = anthropic_admin.KEY_ENV_VAR
    endpoint = anthropic_admin.USAGE_REPORT_PATH
    count_columns = anthropic_admin.USAGE_COUNT_COLUMNS

    def _load(self) -> pd.DataFrame:
        start, end = self._window()
        query = anthropic_admin.usage_report_query(start, end, self._bucket_width, self._group_by,
                                                   self._filters, self._limit)
        usage, reported = self._fetch_pages(anthropic_admin.auth_headers, query,
                                            lambda pages: anthropic_admin.usage_frame(pages, self._group_by,
                                                                                      self._bucket_width))
        return self._usage_table(usage, reported)


class AnthropicCostDataset(UsageAPIDataset):
    """Read-only: daily costs in USD from the Anthropic Admin API ``cost_report``.

    ``group_by`` defaults to ``[description]``, which splits costs by model, cost type
    and token type; add ``workspace_id`` for a ``workspace`` column.
    """

    api_name = anthropic_admin.API_NAME
    default_base_url = anthropic_admin.DEFAULT_BASE_URL
    key_env_var = anthropic_admin.KEY_ENV_VAR
    endpoint = anthropic_admin.COST_REPORT_PATH

    def __init__(self, *, group_by: list[str] | None = None, limit: int | None = None, **api_options: Any) -> None:
        super().__init__(bucket_width=anthropic_admin.COST_BUCKET_WIDTH, **api_options)
        self._group_by = as_list(group_by) if group_by is not None else ["description"]
        self._limit = limit

    def _load(self) -> pd.DataFrame:
        start, end = self._window()
        query = anthropic_admin.cost_report_query(start, end, self._group_by, self._limit)
        source = f"{self.api_name} {self.endpoint}"
        return self._fetch_pages(anthropic_admin.auth_headers, query,
                                 lambda pages: anthropic_admin.cost_frame(pages, self._group_by, source))

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "group_by": self._group_by}
