"""Assertions shared by the bad-input tests of every source."""

from __future__ import annotations

import pytest


def assert_error_names(error: pytest.ExceptionInfo, source: str, column: str, row: int | None, value) -> None:
    """The error message names the source (file), the column and, when given, the row and value."""
    message = str(error.value)
    assert source in message, message
    assert f"'{column}'" in message, message
    if row is not None:
        assert f"rows [{row}]" in message, message
        assert str(value) in message, message
