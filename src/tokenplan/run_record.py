"""How a run was made: the command that repeats it and the versions of what computed it.

A quarterly plan is repeated a quarter later, and reviewed by someone who did not run
it. The report therefore says which command made it (``kedro run`` with its
environment, pipelines and ``--params``, as Kedro received them) and which versions of
the packages that compute its numbers were installed; ``data_source.json`` keeps the
same record. Kedro passes the run's parameters to ``before_pipeline_run``
(``RunRecordHooks`` puts :func:`run_record` in the catalog as ``run_record``).
"""

from __future__ import annotations

import json
import platform
import shlex
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from tokenplan.parameter_sources import dotted_leaves

__all__ = ["PACKAGES", "command_line", "run_record"]

# The packages whose versions change the plan's numbers (prices come with genai-prices).
# XGBoost installs as ``xgboost-cpu`` (the CPU-only wheel) or ``xgboost``; the first found is named "xgboost".
PACKAGES = ("tokenplan", "kedro", ("xgboost", "xgboost-cpu"), "statsforecast", "optuna", "genai-prices", "pandas",
            "numpy")


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))  # null, true, 3, 0.5, ["workspace"]: YAML reads them back


def command_line(env: str | None, runtime_params: dict[str, Any] | None, pipelines: list[str] | None,
                 tags: list[str] | None = None) -> str:
    """The ``kedro run`` command with the same environment, pipelines (one ``--pipelines`` list), tags and ``--params`` (nested keys
    dotted, as ``--params`` takes them), quoted for a POSIX shell."""
    parts = ["kedro", "run"]
    if env and env != "local":
        parts += ["--env", env]
    named = [name for name in pipelines or [] if name != "__default__"]
    if named:  # Kedro 1.x: ``--pipeline`` is deprecated and takes one name; ``--pipelines`` takes them all
        parts += ["--pipelines", ",".join(named)]
    if tags:
        parts += ["--tags", ",".join(tags)]
    params = list(dotted_leaves(runtime_params or {}).items()) if runtime_params else []
    if params:
        parts += ["--params", ",".join(f"{k}={_value(v)}" for k, v in params)]
    return " ".join(shlex.quote(p) for p in parts)


def _installed(package: str | tuple[str, ...]) -> str | None:
    for name in (package,) if isinstance(package, str) else package:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def run_record(run_params: dict[str, Any]) -> dict[str, Any]:
    """``{"command", "env", "runtime_params", "pipelines", "run_id", "python", "versions"}`` from Kedro's
    ``run_params`` (``before_pipeline_run``)."""
    pipelines = list(run_params.get("pipeline_names") or [])
    params = dict(run_params.get("runtime_params") or {})
    return {"command": command_line(run_params.get("env"), params, pipelines, list(run_params.get("tags") or [])),
            "env": run_params.get("env"), "runtime_params": params, "pipelines": pipelines or ["__default__"],
            "run_id": run_params.get("run_id"), "python": platform.python_version(),
            "versions": {p if isinstance(p, str) else p[0]: v for p in PACKAGES if (v := _installed(p))}}
