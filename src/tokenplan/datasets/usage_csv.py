"""Kedro dataset reading a usage CSV as a spreadsheet wrote it: ``,`` or ``;``, decimal point or comma.

kedro-datasets' ``pandas.CSVDataset`` reads the file (so ``filepath`` may be local or
any fsspec URL, with ``credentials`` / ``fs_args`` as there); this dataset first finds
the field separator and decimal mark from the file's first lines
(``tokenplan.ingestion.csv_dialect``), unless ``load_args`` gives ``sep``. It drops rows
with no value in any cell (blank lines, a spreadsheet's ``,,,,`` rows) and keeps the
others' row numbers, so an error names the line an editor shows. The decimal mark goes
to ``df.attrs["decimal"]``: counts are read by it at validation.

Catalog entry::

    raw_usage:
      type: tokenplan.datasets.UsageCSVDataset
      filepath: data/01_raw/usage.csv
"""

from __future__ import annotations

from typing import Any

import fsspec
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets.pandas import CSVDataset

from tokenplan.ingestion.csv_dialect import CsvDialect, sniff_dialect, without_empty_rows

# Enough lines to find the separator; the whole file is read by pandas.
SAMPLE_BYTES = 64 * 1024


class UsageCSVDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only: a CSV with its separator and decimal mark found, empty rows dropped."""

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = filepath
        self._load_args = dict(load_args or {})
        self._credentials = credentials
        self._fs_args = fs_args
        self.metadata = metadata

    def _load(self) -> pd.DataFrame:
        given = "sep" in self._load_args or "delimiter" in self._load_args
        dialect = CsvDialect() if given else sniff_dialect(self._sample())
        # Blank lines are read as empty rows and dropped below, so the rows after them keep their line.
        load_args = {**dialect.load_args(), "skip_blank_lines": False, **self._load_args}
        frame = CSVDataset(filepath=self._filepath, load_args=load_args, credentials=self._credentials,
                           fs_args=self._fs_args).load()
        frame = without_empty_rows(frame)
        frame.attrs["decimal"] = load_args.get("decimal", ".")
        return frame

    def _sample(self) -> str:
        """The file's first bytes as text, decompressed as pandas will read them (``.csv.gz``)."""
        encoding = self._load_args.get("encoding") or "utf-8"
        compression = self._load_args.get("compression", "infer")
        # As kedro-datasets builds the filesystem: fs_args (less its open_args_*) and credentials.
        options = {k: v for k, v in (self._fs_args or {}).items() if not k.startswith("open_args")}
        options.update(self._credentials or {})
        try:
            with fsspec.open(self._filepath, mode="rb", compression=compression, **options) as file:
                return file.read(SAMPLE_BYTES).decode(encoding, errors="replace")
        except FileNotFoundError:
            return ""  # pandas names the missing file

    def _save(self, data: None) -> None:
        raise DatasetError("UsageCSVDataset is read-only: it reads a usage file")

    def _exists(self) -> bool:
        return CSVDataset(filepath=self._filepath, credentials=self._credentials, fs_args=self._fs_args).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}
