"""One ``kedro run`` at a time per project data folder.

Two runs writing the same ``usage_buckets``, models and outputs at once would each
"complete" with the other's data mixed in. The lock is an ``flock`` on a file in the
data folder: the kernel releases it when the process ends, however it ends (kill -9
included), so a crashed run never leaves a stale lock. The file holds the holder's PID,
start time and command, which the refused run names.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sys
from pathlib import Path

__all__ = ["RunLock", "RunLockedError"]


class RunLockedError(RuntimeError):
    """Another run holds the project's data folder."""


class RunLock:
    """An exclusive, non-blocking lock on ``path`` for the lifetime of one run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise RunLockedError naming the holder's PID and start time."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self._holder()
            raise RunLockedError(
                f"another tokenplan run is using {self.path.parent}: PID {holder.get('pid', '?')}, started "
                f"{holder.get('started', '?')} ({holder.get('command', '?')}); wait for it to finish or stop it, "
                f"then run again") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(),
                                 "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                                 "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])}).encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
