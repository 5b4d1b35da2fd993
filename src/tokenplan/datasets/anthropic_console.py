"""Kedro dataset reading an Anthropic Console usage CSV export as ``raw_usage``.

The file is read through kedro-datasets' ``pandas.CSVDataset`` (so ``filepath`` may be
local or any fsspec URL, with ``credentials`` / ``fs_args`` as there) and mapped by
``tokenplan.sources.anthropic_console``, which tolerates the known header variants and
names the file and the missing column for a layout it does not recognise.

Catalog entry::

    raw_usage:
      type: tokenplan.datasets.AnthropicConsoleCSVDataset
      filepath: data/01_raw/claude_api_usage.csv

Exports dated by day give daily buckets: set ``ingestion.bucket: D``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets.pandas import CSVDataset

from tokenplan.sources import anthropic_console


class AnthropicConsoleCSVDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only: a Console usage export, as canonical bucketed usage."""

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = filepath
        self._csv = CSVDataset(filepath=filepath, load_args=load_args, credentials=credentials, fs_args=fs_args)
        self.metadata = metadata

    def _load(self) -> pd.DataFrame:
        return anthropic_console.usage_frame(self._csv.load(), source=str(self._filepath))

    def _save(self, data: None) -> None:
        raise DatasetError("AnthropicConsoleCSVDataset is read-only: it reads an export from the Console")

    def _exists(self) -> bool:
        return self._csv.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}
