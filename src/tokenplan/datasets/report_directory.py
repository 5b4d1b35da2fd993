"""Kedro dataset writing one report folder per run: ``<root>/<version>/<file>``.

Kedro's own versioning nests ``<filepath>/<version>/<filename>`` per file, which
scatters a report over many folders. Planners want last quarter's report intact and
this quarter's beside it, so this dataset saves a mapping of file names to contents
(``str`` for text, ``matplotlib.figure.Figure`` or PNG ``bytes`` for images,
``pandas.DataFrame`` for CSV tables) into a single folder named after the run's save
version. Each file is written through kedro-datasets (PNG bytes as they are); the folder
is assembled under a temporary name and renamed into place at the end, so a failed run
never leaves a half-written report. The month-to-date monitor writes its checks the same
way, one folder per run under ``data/08_reporting/monitor/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractVersionedDataset, DatasetError, Version
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.text import TextDataset
from matplotlib.figure import Figure

from tokenplan.reporting.plots import PNG_SAVE_ARGS

REPORT_FILE = "report.md"


class ReportDirectoryDataset(AbstractVersionedDataset[dict[str, Any], dict[str, str]]):
    """Save ``{"report.md": str, "forecast.png": Figure or PNG bytes, "forecast.csv": DataFrame}``."""

    def __init__(
        self,
        path: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
        marker: str = REPORT_FILE,
    ) -> None:
        """``marker``: the file every folder of this dataset holds (``report.md``; the monitor's
        ``month_to_date.csv``), by which the newest folder is found."""
        super().__init__(filepath=PurePosixPath(path), version=version)
        self.metadata = metadata
        self._marker = marker

    def _get_versioned_path(self, version: str) -> PurePosixPath:
        return self._filepath / version

    def _fetch_latest_load_version(self) -> str:
        reports = sorted(Path(self._filepath).glob(f"*/{self._marker}"))
        if not reports:
            raise DatasetError(f"No folder with {self._marker} found under {self._filepath}")
        return reports[-1].parent.name

    def _save(self, data: dict[str, Any]) -> None:
        final = Path(self._get_save_path())
        staging = final.with_name(f".{final.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            for name, content in data.items():
                _write_file(staging / name, content)
            staging.rename(final)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _load(self) -> dict[str, str]:
        folder = Path(self._get_load_path())
        return {p.relative_to(folder).as_posix(): str(p) for p in sorted(folder.rglob("*")) if p.is_file()}

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_dir()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "version": self._version}


def _write_file(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # e.g. gateway/litellm_config.yaml
    if isinstance(content, Figure):
        MatplotlibDataset(filepath=str(path), save_args=PNG_SAVE_ARGS).save(content)
    elif isinstance(content, bytes):  # an image already drawn, e.g. a figure the report's page embeds
        path.write_bytes(content)
    elif isinstance(content, pd.DataFrame):
        CSVDataset(filepath=str(path), save_args={"index": False}).save(content)
    elif isinstance(content, str):
        TextDataset(filepath=str(path)).save(content)
    else:
        raise DatasetError(f"Cannot write {path.name}: unsupported content type {type(content).__name__}")
