"""How a file writes its numbers: the decimal mark, and the thousands separator that goes with it.

Spreadsheets write counts as their locale does: ``1,234,567`` (decimal point) or
``1.234.567`` and ``3081000,5`` (decimal comma; Excel then separates fields with
``;``). A count is read by the file's own convention, strictly (Babel's
``parse_decimal``): thousands groups must be whole (``1,234``, not ``1,5``), so a
value written another way is refused by name, never read as some other number. In
particular ``1.234`` in a decimal-comma file is 1234, not 1.234.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from babel.numbers import NumberFormatError, parse_decimal

__all__ = ["DECIMAL_MARKS", "convention", "read_numbers"]

# Decimal mark -> a locale that writes numbers that way (its thousands separator is the other mark).
DECIMAL_MARKS = {".": "en_US", ",": "de_DE"}
# Decimal mark -> a count written plainly or in whole thousands groups by that convention: read
# without Babel (a file's every cell, fast); anything else goes to Babel, value by value.
_WELL_FORMED = {".": r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?",
                ",": r"[+-]?(?:\d+|\d{1,3}(?:\.\d{3})+)(?:,\d+)?"}


def convention(decimal: str) -> str:
    """``decimal point, ',' between thousands`` or ``decimal comma, '.' between thousands``: for messages."""
    return "decimal point, ',' between thousands" if decimal == "." else "decimal comma, '.' between thousands"


def read_numbers(values: pd.Series, decimal: str = ".") -> pd.Series:
    """``values`` as floats, written with the ``decimal`` mark; NaN where empty or not such a number.

    Numbers already parsed (by the CSV reader) are kept. Text is read strictly by the
    convention: with a decimal point, plain numbers (``12``, ``12.0``, ``1e5``) and
    grouped ones (``"1,234"``); with a decimal comma, ``12``, ``3081000,5`` and
    ``1.234.567``.
    """
    if pd.api.types.is_numeric_dtype(values):  # the CSV reader parsed them all: nothing to read
        return values.astype(float)
    locale = DECIMAL_MARKS[decimal]
    text = values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    numbers = pd.to_numeric(values.where(~text), errors="coerce").to_numpy(dtype=float)
    if decimal == ".":
        numbers[text] = pd.to_numeric(values[text], errors="coerce").to_numpy(dtype=float)
        text &= np.isnan(numbers)
    if text.any():
        strings = values[text].astype("string").str.strip()
        plain = strings.str.fullmatch(_WELL_FORMED[decimal]).fillna(False).to_numpy(dtype=bool)
        other = "," if decimal == "." else "."
        digits = strings[plain].str.replace(other, "", regex=False).str.replace(decimal, ".", regex=False)
        readings = np.full(len(strings), np.nan)
        readings[plain] = pd.to_numeric(digits, errors="coerce").to_numpy(dtype=float)
        rest = strings[~plain]
        readings[~plain] = rest.map({v: _strict(v, locale) for v in rest.unique()}).to_numpy(dtype=float)
        numbers[text] = readings
    return pd.Series(numbers, index=values.index, name=values.name)


def _strict(value: str, locale: str) -> float:
    if not value.strip():
        return np.nan
    try:
        return float(parse_decimal(value, locale=locale, strict=True))
    except (NumberFormatError, ValueError, OverflowError):
        return np.nan
