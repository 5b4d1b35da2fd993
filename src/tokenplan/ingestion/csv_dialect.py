"""How a CSV file is written: its field separator, the decimal mark that goes with it, and rows that are empty.

A spreadsheet saves CSV as its locale does: where the decimal mark is a comma (most of
Europe), Excel separates fields with ``;`` and writes ``3081000,5``. The separator is
found from the file's first lines (the standard library's ``csv.Sniffer``, among
``, ; tab |``), and a ``;``-separated file is read with a decimal comma (and ``.``
between thousands: ``tokenplan.ingestion.number_format``). A file read as one column
otherwise failed with "required column 'timestamp' is missing" and a header full of
semicolons.

Spreadsheets also leave rows with no value at all (``,,,,``) below the data; like
blank lines they carry nothing and are dropped, and the other rows keep their place,
so an error still names the line an editor shows.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["SEPARATORS", "CsvDialect", "sniff_dialect", "without_empty_rows"]

SEPARATORS = ",;\t|"


@dataclass(frozen=True)
class CsvDialect:
    """A file's field separator and decimal mark, as ``pandas.read_csv`` arguments."""

    sep: str = ","
    decimal: str = "."

    def load_args(self) -> dict[str, Any]:
        """``sep`` and ``decimal`` for ``pandas.read_csv``."""
        return {"sep": self.sep, "decimal": self.decimal}


def sniff_dialect(sample: str) -> CsvDialect:
    """The dialect of a file whose first lines are ``sample``: ``;`` goes with a decimal comma."""
    lines = sample.lstrip("\ufeff")
    if "\n" in lines:  # whole lines only: a line cut short would look like another layout
        lines = lines[: lines.rindex("\n") + 1]
    try:
        sep = csv.Sniffer().sniff(lines, delimiters=SEPARATORS).delimiter
    except csv.Error:  # one column, or no data: nothing to separate
        sep = ","
    header = lines.splitlines()[0] if lines.strip() else ""
    if sep not in header:  # a guess the header does not bear out (a value's own punctuation)
        sep = ","
    return CsvDialect(sep=sep, decimal="," if sep == ";" else ".")


def without_empty_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without rows whose every cell is empty or blank; the other rows keep their index (line)."""
    empty = frame.isna()
    for column in frame.columns[frame.dtypes == object]:
        empty[column] |= frame[column].astype("string").str.strip().eq("").fillna(False).astype(bool)
    kept = ~empty.all(axis=1)
    return frame if kept.all() else frame.loc[kept].copy()  # a frame of its own: callers add columns to it
