"""Where a loaded dataset came from, so validation errors can name the file and line.

Only the catalog knows paths; nodes should not. A hook labels each loaded object: a
pandas frame in ``df.attrs["source"]`` (copies keep it), any other object (an Ibis
table, which is immutable) in a weak map that forgets it when the object goes away.
For a text file with a header the label also says that data row 0 is line 2
(``first_line``), so errors count lines as an editor does.
"""

from __future__ import annotations

import weakref
from typing import Any

import pandas as pd

__all__ = ["first_line_of_source", "label_source", "source_of"]

_LABELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def label_source(data: Any, label: str, first_line: int | None = None) -> None:
    """Remember that ``data`` was loaded from ``label`` (e.g. ``raw_usage (data/usage.csv)``)."""
    if isinstance(data, pd.DataFrame):
        data.attrs["source"] = label
        if first_line is not None:
            data.attrs["first_line"] = first_line
        return
    try:
        _LABELS[data] = (label, first_line)
    except TypeError:  # not weakly referenceable (dicts of parameters): nothing to name
        pass


def source_of(data: Any, default: str) -> str:
    """The label of ``data``, or ``default`` when it was not loaded through the catalog."""
    if isinstance(data, pd.DataFrame):
        return data.attrs.get("source", default)
    try:
        return _LABELS.get(data, (default, None))[0]
    except TypeError:
        return default


def first_line_of_source(data: Any) -> int | None:
    """The file line of data row 0 (2 for a CSV with a header), or None when rows have no lines."""
    if isinstance(data, pd.DataFrame):
        return data.attrs.get("first_line")
    try:
        return _LABELS.get(data, (None, None))[1]
    except TypeError:
        return None
