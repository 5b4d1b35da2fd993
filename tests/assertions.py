"""Assertions shared by the bad-input tests of every source."""

from __future__ import annotations

import re

import pytest


def assert_error_names(error: pytest.ExceptionInfo, source: str, column: str, row: int | str | None, value) -> None:
    """The error message names the source (file), the column and, when given, the row and value.

    ``row`` is the position as the message shows it: the line of a text file as an editor
    counts (the header is line 1), a row counted from 1 for other sources, or
    ``"2026-07.csv line 7"`` for a file of a folder source; several as text: ``"8, 51"``.
    """
    message = str(error.value)
    assert source in message, message
    assert f"'{column}'" in message, message
    if row is not None:
        pattern = rf"\[{re.escape(row)}\]" if isinstance(row, str) else rf"\b(lines|rows) \[{row}\]"
        assert re.search(pattern, message), message
        assert str(value) in message, message
