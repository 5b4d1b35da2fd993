"""Resolvers the catalog's config may call (registered in ``settings.CONFIG_LOADER_ARGS``).

Kept free of heavy imports: the config loader is built at every ``kedro`` command.
"""

from __future__ import annotations

import re

__all__ = ["RESOLVERS", "log_format"]


def log_format(path: str) -> str:
    """``csv`` for a request log whose name (or glob) ends in ``.csv`` (optionally compressed), else ``parquet``.

    ``${log_format:PATH}`` is the default of ``request_log_format`` in the request-log and
    Spark catalogs, so a CSV log is read as CSV without the user naming the format (read
    as Parquet it failed in DuckDB with "No magic bytes found"). A folder of files stays
    Parquet unless ``request_log_format=csv`` says otherwise.
    """
    name = str(path).lower().rstrip("/")
    return "csv" if re.search(r"\.csv(\.(gz|zst|bz2))?$", name) else "parquet"


RESOLVERS = {"log_format": log_format}
