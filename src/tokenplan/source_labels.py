"""Where a loaded dataset came from, so validation errors can name the file.

Only the catalog knows paths; nodes should not. A hook labels each loaded object: a
pandas frame in ``df.attrs["source"]`` (copies keep it), any other object (an Ibis
table, which is immutable) in a weak map that forgets it when the object goes away.
"""

from __future__ import annotations

import weakref
from typing import Any

import pandas as pd

__all__ = ["label_source", "source_of"]

_LABELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def label_source(data: Any, label: str) -> None:
    """Remember that ``data`` was loaded from ``label`` (e.g. ``raw_usage (data/usage.csv)``)."""
    if isinstance(data, pd.DataFrame):
        data.attrs["source"] = label
        return
    try:
        _LABELS[data] = label
    except TypeError:  # not weakly referenceable (dicts of parameters): nothing to name
        pass


def source_of(data: Any, default: str) -> str:
    """The label of ``data``, or ``default`` when it was not loaded through the catalog."""
    if isinstance(data, pd.DataFrame):
        return data.attrs.get("source", default)
    try:
        return _LABELS.get(data, default)
    except TypeError:
        return default
