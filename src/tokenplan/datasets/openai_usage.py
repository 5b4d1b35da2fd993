"""Kedro dataset reading OpenAI's organization completions usage as ``raw_usage``.

Loads ``/v1/organization/usage/completions`` as the bucketed usage table
``build_usage_buckets`` takes: ``timestamp``, ``model``, the grouped dimensions,
``requests``, ``input_tokens`` (uncached: the API's input minus cached input),
``cache_read_tokens`` and ``output_tokens``; no ``cache_write_tokens`` (the API has
none). A bucket the API reported in which a series had no usage becomes a zero row.

Catalog entry (see docs/your-data/openai-usage-api.md)::

    raw_usage:
      type: tokenplan.datasets.OpenAIUsageDataset
      lookback_days: 365
      bucket_width: 1h
      group_by: [model, project_id]
      credentials: openai_admin     # or the OPENAI_ADMIN_KEY environment variable
"""

from __future__ import annotations

import pandas as pd

from tokenplan.datasets.usage_api import BucketedUsageAPIDataset
from tokenplan.sources import openai_usage


class OpenAIUsageDataset(BucketedUsageAPIDataset):
    """Read-only: the organization's completions usage, bucketed, from the OpenAI usage API.

    Options: ``group_by`` (``model`` always, plus e.g. ``project_id``, ``api_key_id``,
    ``batch``), ``filters`` (``{models: [...], project_ids: [...], batch: false}``),
    ``limit``, ``zero_fill_quiet_buckets``, and the window, connection and retry options
    of ``UsageAPIDataset``.
    """

    api_name = openai_usage.API_NAME
    default_base_url = openai_usage.DEFAULT_BASE_URL
    key_env_var = openai_usage.KEY_ENV_VAR
    endpoint = openai_usage.COMPLETIONS_PATH
    count_columns = openai_usage.USAGE_COUNT_COLUMNS

    def _load(self) -> pd.DataFrame:
        start, end = self._window()
        query = openai_usage.completions_query(start, end, self._bucket_width, self._group_by,
                                               self._filters, self._limit)
        usage, reported = self._fetch_pages(openai_usage.auth_headers, query,
                                            lambda pages: openai_usage.usage_frame(pages, self._group_by,
                                                                                   self._bucket_width))
        return self._usage_table(usage, reported)
