"""Kedro dataset serving one part of the simulated demo traffic.

The first load runs the seeded simulator once and writes every part (usage, events,
truth) as Parquet files under the folder ``path`` through kedro-datasets, so the demo's raw
data sits in ``data/01_raw`` like any user's export and later loads just read it. A
fingerprint of the config and the simulator's version in the file names means a changed
config or simulator is re-simulated rather than silently served stale.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets.pandas import ParquetDataset

PARTS = ("usage", "events", "truth", "peaks")


class DemoTrafficDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only dataset: ``part`` of the simulation configured by ``config``."""

    def __init__(
        self,
        path: str,
        part: str,
        config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if part not in PARTS:
            raise DatasetError(f"DemoTrafficDataset part must be one of {PARTS}, got {part!r}")
        self._directory = Path(path)
        self._part = part
        self._config = dict(config or {})
        self.metadata = metadata

    @property
    def fingerprint(self) -> str:
        from tokenplan.simulator import SIMULATOR_VERSION

        text = json.dumps({**self._config, "simulator_version": SIMULATOR_VERSION}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def _part_dataset(self, part: str) -> ParquetDataset:
        return ParquetDataset(filepath=str(self._directory / f"{part}-{self.fingerprint}.parquet"))

    def _materialise(self) -> None:
        from tokenplan.simulator import simulate  # heavy import only when needed

        simulation = simulate(self._config)
        self._directory.mkdir(parents=True, exist_ok=True)
        for part in PARTS:
            self._part_dataset(part).save(getattr(simulation, part))

    def _load(self) -> pd.DataFrame:
        if not all(self._part_dataset(p).exists() for p in PARTS):
            self._materialise()
        return self._part_dataset(self._part).load()

    def _save(self, data: None) -> None:
        raise DatasetError("DemoTrafficDataset is read-only: it is produced by the simulator")

    def _exists(self) -> bool:
        return True

    def same_simulation(self, other: DemoTrafficDataset) -> bool:
        """True if ``other`` serves a part of the same simulation (same folder and config)."""
        return self._directory.resolve() == other._directory.resolve() and self.fingerprint == other.fingerprint

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._directory / f"{self._part}-{self.fingerprint}.parquet"),
            "part": self._part,
            "config": self._config,
        }
