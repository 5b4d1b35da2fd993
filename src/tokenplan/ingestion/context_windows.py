"""Tokens of long-context requests, kept as a part of each token count before the windows are summed.

Anthropic bills a request above 200K input tokens at a higher tier, and its usage
sources say which window each row is in: the Console export's and the Admin API's
``context_window`` (``0-200k``, ``200k-1M``). Unless ``context_window`` is a series
dimension, rows of both windows are summed into one series, so before they are, each
token count gets its long-context part (``long_context_input_tokens``, ...): the count
itself on a long-context row, 0 on a base row. Pricing reads the share from those parts
(``tokenplan.planning.long_context``).

A window is read from its label, whatever the spelling: the base window starts at 0
(``0-200k``, ``0 – 200K``, ``<200k``, ``up to 200k``); any window that starts above 0 is
long context (``200k-1m``, ``200K-1M``, ``>200k``, ``200k+``). A blank label is the base
window. A label with no bound at all stops the run, naming the rows.
"""

from __future__ import annotations

import re

import pandas as pd

from tokenplan.schemas import LONG_CONTEXT_TOKENS, _fail
from tokenplan.sources.anthropic_console import canonical_header

__all__ = ["CONTEXT_WINDOW", "is_long_context", "with_long_context_parts"]

CONTEXT_WINDOW = "context_window"
_BOUND = re.compile(r"\d+(?:\.\d+)?\s*[km]?", re.IGNORECASE)
# Words before a single bound that make it the window's end, not its start.
_UP_TO = re.compile(r"^\s*(?:<|≤|=<|<=|up\s*to|under|below|less\s*than|lt|le)", re.IGNORECASE)


def is_long_context(label: object) -> bool | None:
    """Whether a ``context_window`` label is a long-context window (starts above 0 tokens); None if it
    states no bound. A blank label is the base window (False)."""
    if label is None or pd.isna(label) or not str(label).strip():
        return False
    text = str(label)
    bounds = _BOUND.findall(text)
    if not bounds:
        return None
    if len(bounds) == 1 and _UP_TO.search(text):
        return False
    return float(re.sub(r"[^0-9.]", "", bounds[0])) > 0


def with_long_context_parts(usage: pd.DataFrame, source: str, first_line: int | None = None) -> pd.DataFrame:
    """``usage`` with ``long_context_<count>`` beside each token count, where it has a ``context_window``
    column (any spelling of the header); unchanged without one, or where the parts are given already."""
    column = next((c for c in usage.columns if canonical_header(c) == CONTEXT_WINDOW), None)
    parts = {part: whole for part, whole in LONG_CONTEXT_TOKENS.items() if whole in usage.columns}
    if column is None or not parts or any(part in usage.columns for part in parts):
        return usage
    labels = usage[column].astype(object)
    long_context = labels.map(is_long_context)
    unread = long_context.isna()
    if unread.any():
        raise _fail(source, str(column), list(usage.index[unread]), list(labels[unread]),
                    "a context window states its token bounds, e.g. 0-200k or 200k-1M", first_line)
    is_long = long_context.astype(bool)
    # A blank count stays blank in its part: unknown, not zero.
    return usage.assign(**{part: usage[whole].where(is_long, 0.0).where(usage[whole].notna())
                           for part, whole in parts.items()})
