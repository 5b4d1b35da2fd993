"""Markdown building blocks shared by the report's sections."""

from __future__ import annotations

import pandas as pd

__all__ = ["BUCKET_NAMES", "markdown_table"]

# A bucket width (pandas frequency) as the report's words name it.
BUCKET_NAMES = {"D": "daily", "h": "hourly", "H": "hourly"}


def _cell(value: object) -> str:
    # A pipe inside a cell (a calendar name) would split the Markdown table.
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame``'s columns and rows, values as ``str`` gives them (pipes escaped)."""
    header = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
