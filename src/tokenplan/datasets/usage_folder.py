"""Kedro dataset reading a folder of usage files (one per month, say) as one table.

kedro-datasets' ``partitions.PartitionedDataset`` finds the files and loads each with
the ``dataset`` given (``tokenplan.datasets.UsageCSVDataset`` by default, which finds each
file's separator and decimal mark; ``pandas.ParquetDataset``, or
``tokenplan.datasets.AnthropicConsoleCSVDataset`` for a folder of Console exports);
this dataset concatenates them in file-name order so ``raw_usage`` stays one DataFrame
and no node has to know the data came in parts. Rows are indexed by (file, row), so a
validation error names the file and the row inside it. Overlapping files are fine:
ingestion drops repeated rows.

The suffix is matched whatever its case (``.CSV`` from a Windows export is a CSV): kedro's
``filename_suffix`` compares case-sensitively and has no option for it, so the partitions
are listed without a suffix and filtered here. Each file's headers are read as canonical
names before the files are joined (``Model`` in one file and ``model`` in the next are one
column), and a file that is not usage at all (a rate-limits table left in the folder) is
named as such. ``attrs["files"]`` lists the files read, ``attrs["files_not_read"]`` the
others in the folder, for the report's "Data read".

Catalog entry::

    raw_usage:
      type: tokenplan.datasets.UsageFolderDataset
      path: data/01_raw/usage/           # e.g. 2026-01.csv, 2026-02.csv, ...
      filename_suffix: .csv
"""

from __future__ import annotations

from typing import Any

import fsspec
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import parse_dataset_definition
from kedro_datasets.partitions import PartitionedDataset

from tokenplan.ingestion.usage_columns import read_file_headers
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
        self._filesystem_args = {**(credentials or {}), **(fs_args or {})}
        # Every file is listed; the suffix is matched in _load, whatever its case.
        self._partition_args = {"path": path, "dataset": dataset, "filename_suffix": "",
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
        loaders = self._matching_partitions()
        frames = {}
        for name in sorted(loaders, key=self._stem):
            frame = loaders[name]()
            if not isinstance(frame, pd.DataFrame):
                raise DatasetError(f"{self._path}: partition '{name}' loaded as "
                                   f"{type(frame).__name__}, not a table")
            # Named as the file is, so an error says "2026-07.csv line 7".
            frames[name] = read_file_headers(frame, f"{self._path}: {name}")
        # A (file, row) index lets validation errors point into the right file.
        usage = pd.concat(frames, names=["file", "row"])
        usage.attrs = {"files": list(frames), "files_not_read": self._other_files(),
                       "source_columns": _same_spelling(frames.values())}
        marks = {name: frame.attrs["decimal"] for name, frame in frames.items() if "decimal" in frame.attrs}
        if len(set(marks.values())) > 1:
            raise InvalidInputError(
                f"{self._path}: the files write numbers differently (decimal mark per file: {marks}): save them "
                f"all with one decimal mark")
        if marks:
            usage.attrs["decimal"] = next(iter(marks.values()))
        return usage

    def _all_partitions(self) -> dict[str, Any]:
        try:
            return self._partitions.load()
        except DatasetError:  # "No partitions found"
            return {}

    def _matching_partitions(self) -> dict[str, Any]:
        """Loaders of the files whose name ends in the suffix (any case), or InvalidInputError saying why none."""
        partitions = self._all_partitions()
        suffix = self._filename_suffix.lower()
        matching = {name: load for name, load in partitions.items() if name.lower().endswith(suffix)}
        if matching:
            return matching
        filesystem, folder = fsspec.core.url_to_fs(self._path, **self._filesystem_args)
        if not filesystem.isdir(folder):
            raise InvalidInputError(f"{self._path}: folder not found")
        others = f" (it holds: {_listed(sorted(partitions))})" if partitions else ""
        raise InvalidInputError(f"{self._path}: no files ending in '{self._filename_suffix}' in this folder{others}")

    def _other_files(self) -> list[str]:
        suffix = self._filename_suffix.lower()
        return sorted(name for name in self._all_partitions() if not name.lower().endswith(suffix))

    def _stem(self, name: str) -> str:
        """The name without its suffix: ``2026-02.csv`` sorts before ``2026-02-revised.csv`` ('-' < '.')."""
        return name[: len(name) - len(self._filename_suffix)]

    def _save(self, data: None) -> None:
        raise DatasetError("UsageFolderDataset is read-only: put the files in its folder")

    def _exists(self) -> bool:
        suffix = self._filename_suffix.lower()
        return any(name.lower().endswith(suffix) for name in self._all_partitions())

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "filename_suffix": self._filename_suffix}


def _dataset_class(dataset_type: str | type) -> type:
    return parse_dataset_definition({"type": dataset_type})[0]


def _same_spelling(frames: Any) -> dict[str, str]:
    """Canonical column -> the files' own header, where every file that has the column spells it so."""
    spellings: dict[str, set[str]] = {}
    for frame in frames:
        names = frame.attrs.get("source_columns", {})
        for column in frame.columns:
            spellings.setdefault(column, set()).add(names.get(column, column))
    return {column: next(iter(names)) for column, names in spellings.items()
            if len(names) == 1 and next(iter(names)) != column}


def _listed(names: list[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more)" if len(names) > shown else "")
