"""Kedro dataset (load only) of the earlier report folders, so a run can say what changed and grade the last plan.

Loads every ``<path>/<version>/`` holding a ``report.md`` (before this run writes its
own), newest first, as a list of read-only mappings: ``version`` (the folder name),
``data_source`` (``data_source.json``: which data it was made from; None in a report
that does not record it), ``forecast_totals`` and ``cost_forecast`` (None when the
folder lacks them), ``forecast`` (its per-bucket ``forecast.csv``, None when
absent) and ``backtest_predictions`` (the chosen method's backtest, which the
month-to-date monitor's bands need; None in a folder made before reports kept it).
Which of them is comparable depends on this run's data, so the summary chooses
(``tokenplan.reporting.since_last_report``, and the monitor
``tokenplan.organisation.monitor_plan``); the tables are read only when asked, so a
folder of demo runs costs one small JSON each. Report folders are never written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset

from tokenplan.datasets.report_directory import REPORT_FILE
from tokenplan.reporting.data_source import DATA_SOURCE_FILE

TABLES = ("forecast_totals", "cost_forecast")
PER_BUCKET = "forecast"
CHOSEN_BACKTEST = "backtest_predictions"
# Each table read on demand, with its columns parsed as dates.
_DATES = {"forecast_totals": ["start", "end"], "cost_forecast": ["start", "end"], PER_BUCKET: ["timestamp"],
          CHOSEN_BACKTEST: ["origin", "ds"]}


class EarlierReport(Mapping[str, Any]):
    """One earlier report folder; its tables are read on first access and kept."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._loaded: dict[str, Any] = {"version": folder.name}

    def __getitem__(self, key: str) -> Any:
        if key not in self._loaded:
            if key == "data_source":
                self._loaded[key] = self._data_source()
            elif key in _DATES:
                self._loaded[key] = self._table(key)
            else:
                raise KeyError(key)
        return self._loaded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("version", "data_source", *_DATES))

    def __len__(self) -> int:
        return len(_DATES) + 2

    def _data_source(self) -> dict[str, Any] | None:
        path = self._folder / DATA_SOURCE_FILE
        return JSONDataset(filepath=str(path)).load() if path.exists() else None

    def _table(self, name: str) -> Any:
        path = self._folder / f"{name}.csv"
        if not path.exists():
            return None
        return CSVDataset(filepath=str(path), load_args={"parse_dates": _DATES[name]}).load()


class PreviousReportDataset(AbstractDataset[None, list[EarlierReport]]):
    """The report folders written before this run, newest first; ``[]`` on a first run."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _load(self) -> list[EarlierReport]:
        # A folder being written is hidden (``.<version>.partial``) and has no place here.
        folders = sorted((p.parent for p in self._path.glob(f"*/{REPORT_FILE}") if not p.parent.name.startswith(".")),
                         reverse=True)
        return [EarlierReport(folder) for folder in folders]

    def _save(self, data: None) -> None:
        raise DatasetError("previous_report is read-only: the report dataset writes report folders")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
