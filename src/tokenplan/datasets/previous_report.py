"""Kedro dataset (load only) of the last report folder's tables, so a run can say what changed.

Loads the newest ``<path>/<version>/`` holding a ``report.md`` (before this run writes
its own): ``{"version": <folder name>, "forecast_totals": DataFrame, "cost_forecast":
DataFrame, "data_source": dict | None}`` (``data_source.json``: which data it was made
from; None in a report that does not record it), or ``{}`` when there is no earlier
report (a first run) or it lacks those tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset

from tokenplan.datasets.report_directory import REPORT_FILE
from tokenplan.reporting.data_source import DATA_SOURCE_FILE

TABLES = ("forecast_totals", "cost_forecast")


class PreviousReportDataset(AbstractDataset[None, dict[str, Any]]):
    """The latest report folder's ``forecast_totals.csv`` and ``cost_forecast.csv``."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _load(self) -> dict[str, Any]:
        reports = sorted(p.parent for p in self._path.glob(f"*/{REPORT_FILE}") if not p.parent.name.startswith("."))
        if not reports:
            return {}
        folder = reports[-1]
        if not all((folder / f"{name}.csv").exists() for name in TABLES):
            return {}
        tables = {name: CSVDataset(filepath=str(folder / f"{name}.csv"),
                                   load_args={"parse_dates": ["start", "end"]}).load() for name in TABLES}
        identity = folder / DATA_SOURCE_FILE
        data_source = JSONDataset(filepath=str(identity)).load() if identity.exists() else None
        return {"version": folder.name, **tables, "data_source": data_source}

    def _save(self, data: None) -> None:
        raise DatasetError("previous_report is read-only: the report dataset writes report folders")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
