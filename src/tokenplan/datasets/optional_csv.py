"""A CSV input that may be absent, such as an events calendar a team has not written yet.

Loads through kedro-datasets' ``pandas.CSVDataset`` when the file exists; otherwise
returns an empty frame with the declared ``columns`` (and logs that it did), so a
run on usage alone still works and the report says no events were assumed.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets.pandas import CSVDataset

logger = logging.getLogger(__name__)


class OptionalCSVDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only CSV that loads as an empty table with ``columns`` when the file is missing."""

    def __init__(self, filepath: str, columns: list[str], load_args: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._csv = CSVDataset(filepath=filepath, load_args=load_args)
        self._filepath = filepath
        self._columns = list(columns)
        self.metadata = metadata

    def _load(self) -> pd.DataFrame:
        if self._csv.exists():
            return self._csv.load()
        logger.debug("%s does not exist: loading an empty table", self._filepath)
        return pd.DataFrame({c: pd.Series(dtype=object) for c in self._columns})

    def _save(self, data: None) -> None:
        raise DatasetError("OptionalCSVDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "columns": self._columns}
