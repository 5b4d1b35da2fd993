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

import pandas as pd
from kedro.io import DatasetError
from kedro.io.core import get_filepath_str
from kedro_datasets.pandas import CSVDataset

from tokenplan.ingestion.csv_dialect import CsvDialect, sniff_dialect, without_empty_rows

# Enough lines to find the separator; the whole file is read by pandas.
SAMPLE_BYTES = 64 * 1024


class UsageCSVDataset(CSVDataset):
    """Read-only: kedro-datasets' CSV dataset, with the file's separator and decimal mark found and empty rows
    dropped (its constructor, filesystem, ``exists`` and description as they are)."""

    def load(self) -> pd.DataFrame:
        given = self._load_args
        dialect = CsvDialect() if "sep" in given or "delimiter" in given else sniff_dialect(self._sample())
        # Blank lines are read as empty rows and dropped below, so the rows after them keep their line.
        self._load_args = {**dialect.load_args(), "skip_blank_lines": False, **given}
        try:
            frame = super().load()
            decimal = self._load_args.get("decimal", ".")
        finally:
            self._load_args = given  # found again at the next load: the file may have changed
        frame = without_empty_rows(frame)
        frame.attrs["decimal"] = decimal
        return frame

    def _sample(self) -> str:
        """The file's first bytes as text, through the dataset's own filesystem, decompressed as pandas will read
        them (``.csv.gz``)."""
        encoding = self._load_args.get("encoding") or "utf-8"
        path = get_filepath_str(self._get_load_path(), self._protocol)
        try:
            with self._fs.open(path, mode="rb", compression=self._load_args.get("compression", "infer")) as file:
                return file.read(SAMPLE_BYTES).decode(encoding, errors="replace")
        except FileNotFoundError:
            return ""  # pandas names the missing file

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError("UsageCSVDataset is read-only: it reads a usage file")
