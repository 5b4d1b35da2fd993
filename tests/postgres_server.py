"""A throwaway PostgreSQL server on loopback for tests that need a real one.

Debian's server binaries (package ``postgresql``, installed by ``.ci/run`` when
missing) start a fresh cluster in a temporary folder on a free port. PostgreSQL
refuses to run as root, so as root the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator


def _binary(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    return candidates[-1] or None


def available() -> bool:
    """Whether server binaries are installed."""
    return bool(_binary("initdb") and _binary("pg_ctl"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def running_server() -> Iterator[str]:
    """Start a cluster; yield its SQLAlchemy URL; stop and delete it afterwards."""
    folder = tempfile.mkdtemp(prefix="tokenplan-pg-")
    data = os.path.join(folder, "data")
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
    port = _free_port()
    subprocess.run(_as_server_user([_binary("initdb"), "-D", data, "-U", "postgres", "-A", "trust"]),
                   check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}"
    subprocess.run(_as_server_user([_binary("pg_ctl"), "-D", data, "-o", options, "-l",
                                    os.path.join(folder, "log"), "-w", "start"]), check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.2)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([_binary("pg_ctl"), "-D", data, "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
