"""The recent days of each model's usage history, over which shares of its usage are measured."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

__all__ = ["recent_rows_by_model"]


def recent_rows_by_model(rows: pd.DataFrame, days: int) -> Iterator[tuple[str, pd.DataFrame]]:
    """Per model (in name order), its rows in the ``days`` days ending on the day of its last row."""
    for model, group in rows.groupby("model", sort=True):
        first_day = group["timestamp"].max().floor("D") - pd.Timedelta(days=days - 1)
        yield str(model), group[group["timestamp"] >= first_day]
