"""Kedro dataset reading an Anthropic Console usage CSV export as ``raw_usage``.

The file is read through ``UsageCSVDataset`` (kedro-datasets' ``pandas.CSVDataset``, so
``filepath`` may be local or any fsspec URL, with ``credentials`` / ``fs_args`` as there;
a copy re-saved by a spreadsheet with ``;`` and decimal commas is read too) and mapped by
``tokenplan.sources.anthropic_console``, which tolerates the known header variants and
names the file and the missing column for a layout it does not recognise.

Catalog entry::

    raw_usage:
      type: tokenplan.datasets.AnthropicConsoleCSVDataset
      filepath: data/01_raw/claude_api_usage.csv

Exports dated by day give daily buckets: set ``ingestion.bucket: D``.

Dates are read as any usage file's are (``ingestion.timestamp_format`` when the column
cannot tell day-first from month-first; the project's hooks pass it on), always as UTC.

The export lists only the days a model (with its key, workspace, ...) had usage. A day
the file does list (some row is dated then) inside a model's span, where that model
has no row, is therefore zero usage, not a gap: read as missing, a model unused at
weekends had its weekends filled in at its weekday level (a 4-month export: Opus'
weekend input forecast at 31.7M a day instead of 0). ``zero_fill_quiet_buckets: false``
turns this off. The zeros are appended after the file's rows, so an error still names
the file's line.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from tokenplan.datasets.usage_csv import UsageCSVDataset
from tokenplan.schemas import SUMMED_COLUMNS
from tokenplan.sources import anthropic_console
from tokenplan.sources.quiet_buckets import quiet_rows


class AnthropicConsoleCSVDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only: a Console usage export, as canonical bucketed usage."""

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        zero_fill_quiet_buckets: bool = True,
        timestamp_format: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = filepath
        self._csv = UsageCSVDataset(filepath=filepath, load_args=load_args, credentials=credentials, fs_args=fs_args)
        self._zero_fill = bool(zero_fill_quiet_buckets)
        self._timestamp_format = timestamp_format
        self.metadata = metadata

    def read_timestamps_as(self, timestamp_format: str | None) -> None:
        """Read dates with ``timestamp_format`` (strftime codes), as ``ingestion.timestamp_format`` says."""
        self._timestamp_format = timestamp_format

    def _load(self) -> pd.DataFrame:
        usage = anthropic_console.usage_frame(self._csv.load(), source=str(self._filepath),
                                              timestamp_format=self._timestamp_format)
        if not self._zero_fill or usage.empty:
            return usage
        counts = [c for c in SUMMED_COLUMNS if c in usage.columns]
        labels = [c for c in usage.columns if c != "timestamp" and c not in counts]
        zeros = quiet_rows(usage, pd.DatetimeIndex(usage["timestamp"]), labels, counts)
        out = pd.concat([usage, zeros], ignore_index=True) if len(zeros) else usage
        out.attrs = {**usage.attrs, "zero_filled_rows": len(zeros)}  # the report's "Data read" states it
        return out

    def _save(self, data: None) -> None:
        raise DatasetError("AnthropicConsoleCSVDataset is read-only: it reads an export from the Console")

    def _exists(self) -> bool:
        return self._csv.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}
