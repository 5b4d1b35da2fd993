"""The project's ``kedro run``: Kedro's own command, with one short message for input errors.

Kedro loads ``<package>.cli`` and lets its commands override the built-in ones
(https://docs.kedro.org/en/stable/extend/common_use_cases/, "add or modify CLI
commands"); ``python -m tokenplan`` finds the same ``run``. Every option of Kedro's
``run`` is kept: only its callback is wrapped. An input error (see
``tokenplan.user_errors``) ends the run with exit code 1 and its message printed
last, to stderr, without Kedro's repeat of it or its advice to resume ``--from-nodes``;
``TOKENPLAN_VERBOSE=1`` shows the full traceback and Kedro's lines instead.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import sys
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from tokenplan.user_errors import VERBOSE_ENV_VAR, message_for, without_kedro_failure_lines

__all__ = ["cli", "run"]


def _short_input_errors(callback):
    @functools.wraps(callback)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        verbose = os.environ.get(VERBOSE_ENV_VAR, "").strip().lower() in ("1", "true", "yes")
        try:
            with contextlib.nullcontext() if verbose else without_kedro_failure_lines():
                return callback(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - only user errors are shortened, others re-raised
            message = message_for(error, kwargs.get("params"))
            if message is None or verbose:
                raise
            sys.stdout.flush()
            click.echo(f"Error: {message}", err=True)
            sys.exit(1)

    return wrapped


run = copy.copy(kedro_run)
run.callback = _short_input_errors(kedro_run.callback)
run.help = (kedro_run.help or "") + f" An input error prints one message; {VERBOSE_ENV_VAR}=1 shows the traceback."


@click.group(name="tokenplan")
def cli() -> None:
    """Project commands (Kedro's, with short input-error messages)."""


cli.add_command(run, "run")
