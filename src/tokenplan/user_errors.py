"""One short message for an error the user can fix (bad input, a busy data folder).

Kedro wraps a failed load in ``DatasetError`` and its CLI ends with a rich traceback
box of a few hundred lines, the cause at the very end. ``message_for`` finds the cause
in the exception chain and says it in one line naming the file; the project's CLI
(``tokenplan.cli``) prints it last, without a traceback unless ``TOKENPLAN_VERBOSE=1``.
An error that is not the user's (a bug) returns None and keeps its traceback.

While a user error is on its way out, Kedro also logs the failed node's message and advice
to resume the run ``--from-nodes`` the failed node (which would fail again on the same
input); ``without_kedro_failure_lines`` keeps those two off the console, so the message is said once,
last.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd
from kedro.io import DatasetError
from omegaconf.errors import InterpolationResolutionError

from tokenplan.organisation.monitor_errors import NoPlanError
from tokenplan.parameter_sources import dotted_leaves
from tokenplan.run_lock import RunLockedError
from tokenplan.schemas import InvalidInputError

__all__ = ["message_for", "VERBOSE_ENV_VAR", "without_kedro_failure_lines"]

VERBOSE_ENV_VAR = "TOKENPLAN_VERBOSE"
_FILEPATH = re.compile(r"(?:filepath|path)=(?:\w+Path\()?'?([^,)']+)")
_RUNTIME_PARAM = re.compile(r"Runtime parameter '([^']+)' not found")
# Configuration errors the project raises itself start with the parameter's name.
_CONFIG_PREFIXES = ("ingestion.", "feature_engineering.", "training.", "planning.", "reporting.", "run.")
# OmegaConf's words when --params puts a mapping where the configuration has a list (``definitions.5.fx_rate``).
_INCOMPATIBLE = "Cannot merge incompatible container types"
# Where Kedro logs a node's failure and its advice to resume (or repeat) the run.
_FAILURE_LOGGERS = ("kedro.runner", "kedro.pipeline.node")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _list_item_params(params: Mapping[str, Any] | None) -> str:
    """The ``--params`` keys that address an item of a list by its index (``planning.routes.definitions.5.fx_rate``)."""
    return ", ".join(k for k in dotted_leaves(params or {}) if any(part.isdigit() for part in k.split(".")))


def message_for(error: BaseException, runtime_params: Mapping[str, Any] | None = None) -> str | None:
    """The one-line message for a user-fixable ``error``, or None for anything else (``runtime_params``: the run's
    ``--params``, to name the one OmegaConf could not merge)."""
    chain = list(_chain(error))
    if any(isinstance(e, TypeError) and str(e).startswith(_INCOMPATIBLE) for e in chain):
        named = _list_item_params(runtime_params)
        return ((f"--params {named}: an item of a list cannot be set from the command line" if named else
                 "--params: a key puts a mapping where the configuration has a list (or the reverse)")
                + "; a route's inputs are set by its name: --params planning.routes.overrides.<route>.<input>=<value>, "
                  "e.g. planning.routes.overrides.relay_cny.fx_rate=7.3 (docs/costs/index.md)")
    where = next((m.group(1) for e in chain if (m := _FILEPATH.search(str(e)))), None)
    file = f"{where}: " if where else ""
    for cause in chain:
        if isinstance(cause, (InvalidInputError, RunLockedError, NoPlanError)):
            return str(cause)
        if isinstance(cause, pd.errors.EmptyDataError):
            return f"{file}the file is empty (no header, no rows)"
        if isinstance(cause, UnicodeDecodeError):
            return (f"{file}not UTF-8 text (byte {cause.object[cause.start:cause.start + 1]!r} at offset "
                    f"{cause.start}): save the file as UTF-8, or give the dataset load_args: {{encoding: ...}}")
        if isinstance(cause, pd.errors.ParserError):
            return f"{file}not a readable CSV: {str(cause).strip()}"
        if isinstance(cause, duckdb.Error) and "sniffing file" in str(cause):
            return (f"{file}not a readable CSV: {' '.join(str(cause).splitlines()[1:2])} (usually mixed line "
                    f"endings, a stray quote or a line with more fields than the header)")
        if isinstance(cause, FileNotFoundError):
            return f"{file}no such file: {cause.filename or cause}"
        if isinstance(cause, ValueError) and str(cause).startswith(_CONFIG_PREFIXES):
            return str(cause)
        if isinstance(cause, InterpolationResolutionError):
            first = str(cause).splitlines()[0]
            missing = _RUNTIME_PARAM.search(first)
            return (f"this environment needs --params {missing.group(1)}=... ({first})" if missing
                    else f"configuration: {first}")
    # A dataset's own message (no admin key, a 401, ...); Kedro's wrapper says "Failed while".
    own = [e for e in chain if isinstance(e, DatasetError) and not str(e).startswith("Failed while")]
    return str(own[0]) if own else None


class _KedroFailureLines(logging.Filter):
    """Drops Kedro's failed-node message and its resume advice while a user error is being handled; passes
    every other line (and those lines for a bug, whose traceback follows)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_FAILURE_LOGGERS):
            return True
        handled = sys.exc_info()[1]  # Kedro logs both inside its ``except`` block
        return handled is None or message_for(handled) is None


@contextmanager
def without_kedro_failure_lines() -> Iterator[None]:
    """Inside, the console's log handlers leave out Kedro's lines about a node failed by a user error (a log
    file keeps them)."""
    consoles = [h for h in logging.getLogger().handlers if not isinstance(h, logging.FileHandler)]
    quiet = _KedroFailureLines()
    for handler in consoles:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in consoles:
            handler.removeFilter(quiet)
