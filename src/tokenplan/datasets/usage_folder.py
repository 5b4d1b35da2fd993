"""Kedro dataset reading a folder of usage files (one per month, say) as one table.

kedro-datasets' ``partitions.PartitionedDataset`` finds the files and loads each with
the ``dataset`` given (``tokenplan.datasets.UsageCSVDataset`` by default, which finds each
file's separator and decimal mark; ``pandas.ParquetDataset``, or
``tokenplan.datasets.AnthropicConsoleCSVDataset`` for a folder of Console exports);
this dataset concatenates them in file-name order so ``raw_usage`` stays one DataFrame
and no node has to know the data came in parts. Rows are indexed by (file, row), so a
validation error names the file and the row inside it. Overlapping files are fine:
ingestion drops repeated rows.

Catalog entry::

    raw_usage:
      type: tokenplan.datasets.UsageFolderDataset
      path: data/01_raw/usage/           # e.g. 2026-01.csv, 2026-02.csv, ...
      filename_suffix: .csv
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import parse_dataset_definition
from kedro_datasets.partitions import PartitionedDataset

from tokenplan.schemas import InvalidInputError

DEFAULT_DATASET = "tokenplan.datasets.UsageCSVDataset"


class UsageFolderDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only: every file under ``path`` ending in ``filename_suffix``, concatenated."""

    def __init__(
        self,
        path: str,
        dataset: str | dict[str, Any] = DEFAULT_DATASET,
        filename_suffix: str = "",
        credentials: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = path
        self._filename_suffix = filename_suffix
        self._partition_args = {"path": path, "dataset": dataset, "filename_suffix": filename_suffix,
                                "credentials": credentials, "load_args": load_args, "fs_args": fs_args}
        self._partitions = PartitionedDataset(**self._partition_args)
        self.metadata = metadata

    def read_timestamps_as(self, timestamp_format: str | None) -> None:
        """Pass ``ingestion.timestamp_format`` to file datasets that read dates themselves (Console exports)."""
        dataset = self._partition_args["dataset"]
        spec = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        if not hasattr(_dataset_class(spec["type"]), "read_timestamps_as"):
            return  # plain files: their dates are read by the ingestion node
        spec["timestamp_format"] = timestamp_format
        self._partitions = PartitionedDataset(**{**self._partition_args, "dataset": spec})

    def _load(self) -> pd.DataFrame:
        try:
            loaders = self._partitions.load()
        except DatasetError:  # "No partitions found"
            loaders = {}
        if not loaders:
            raise InvalidInputError(f"{self._path}: no files ending in '{self._filename_suffix}' in this folder")
        frames = {}
        for partition in sorted(loaders):
            frame = loaders[partition]()
            if not isinstance(frame, pd.DataFrame):
                raise DatasetError(f"{self._path}: partition '{partition}' loaded as "
                                   f"{type(frame).__name__}, not a table")
            # Named as the file is, so an error says "2026-07.csv line 7".
            frames[f"{partition}{self._filename_suffix}"] = frame
        # A (file, row) index lets validation errors point into the right file.
        usage = pd.concat(frames, names=["file", "row"])
        usage.attrs = {}
        marks = {name: frame.attrs["decimal"] for name, frame in frames.items() if "decimal" in frame.attrs}
        if len(set(marks.values())) > 1:
            raise InvalidInputError(
                f"{self._path}: the files write numbers differently (decimal mark per file: {marks}): save them "
                f"all with one decimal mark")
        if marks:
            usage.attrs["decimal"] = next(iter(marks.values()))
        return usage

    def _save(self, data: None) -> None:
        raise DatasetError("UsageFolderDataset is read-only: put the files in its folder")

    def _exists(self) -> bool:
        try:
            return bool(self._partitions.load())
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "filename_suffix": self._filename_suffix}


def _dataset_class(dataset_type: str | type) -> type:
    return parse_dataset_definition({"type": dataset_type})[0]
