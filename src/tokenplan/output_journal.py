"""A failed run leaves the previous run's outputs as they were.

Before the first node runs, every file-backed dataset the run will write (primary
tables, features, models, model outputs) is copied into a journal folder, with a
manifest written last. When the run completes, the journal is deleted. When it fails,
every such dataset is put back: the copy restored, a file the run created removed, a
version folder it added deleted. A run killed outright (kill -9, power loss) cannot
clean up, so the next run (under the run lock, so the journal's owner is surely gone)
rolls the journal back before doing anything else. A notebook therefore never reads
``usage_buckets`` from one run beside a forecast from another, except while a run is
in progress.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["OutputJournal", "dataset_location"]

MANIFEST = "manifest.json"


def dataset_location(dataset: Any) -> tuple[Path, bool] | None:
    """(local path, versioned) of a file-backed dataset, or None (memory, remote, database)."""
    try:
        description = dataset._describe()
    except Exception:  # a dataset that cannot describe itself is not journaled
        return None
    location = description.get("filepath") or description.get("path")
    if not location or type(dataset).__name__ == "MemoryDataset":
        return None
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        return None
    versioned = getattr(dataset, "_version", None) is not None or bool(getattr(dataset, "_versioned", False))
    return Path(text.removeprefix("file://")).resolve(), versioned


class OutputJournal:
    """Copies of a run's outputs as they were before it, in ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def recover(self) -> None:
        """Roll back a journal a killed run left behind (call only while holding the run lock)."""
        if (self.folder / MANIFEST).exists():
            logger.warning("the previous run stopped before completing: restoring its outputs to what they were "
                           "before it (from %s)", self.folder)
            self.rollback()
        elif self.folder.exists():  # killed while copying: nothing was written by any node yet
            shutil.rmtree(self.folder)

    def begin(self, locations: dict[str, tuple[Path, bool]]) -> None:
        """Copy what exists at ``locations`` (dataset name -> (path, versioned)), manifest last."""
        if self.folder.exists():
            shutil.rmtree(self.folder)
        (self.folder / "copies").mkdir(parents=True)
        entries = []
        for number, (name, (path, versioned)) in enumerate(sorted(locations.items())):
            entry: dict[str, Any] = {"dataset": name, "path": str(path), "versioned": versioned,
                                     "existed": path.exists()}
            if versioned:
                entry["versions"] = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
            elif path.exists():
                entry["copy"] = str(self.folder / "copies" / f"{number:04d}")
                _copy(path, Path(entry["copy"]))
            entries.append(entry)
        staged = self.folder / f"{MANIFEST}.tmp"
        staged.write_text(json.dumps({"entries": entries}, indent=1))
        staged.replace(self.folder / MANIFEST)

    def commit(self) -> None:
        """The run completed: forget the copies."""
        if self.folder.exists():
            shutil.rmtree(self.folder)

    def rollback(self) -> None:
        """Put every journaled output back as it was, then forget the copies."""
        manifest = self.folder / MANIFEST
        if not manifest.exists():
            self.commit()
            return
        restored = 0
        for entry in json.loads(manifest.read_text())["entries"]:
            path = Path(entry["path"])
            if entry["versioned"]:
                if path.is_dir():
                    for child in path.iterdir():
                        if child.name not in entry["versions"]:
                            _remove(child)
                            restored += 1
            elif entry.get("copy"):
                _remove(path)
                _copy(Path(entry["copy"]), path)
                restored += 1
            elif path.exists():
                _remove(path)
                restored += 1
        logger.warning("outputs of the failed run rolled back (%d datasets put back as they were)", restored)
        self.commit()


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
