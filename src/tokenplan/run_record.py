"""How a run was made: the command that repeats it and the versions of what computed it.

A quarterly plan is repeated a quarter later, and reviewed by someone who did not run
it. The report therefore says which command made it (``kedro run`` with its
environment, pipelines and ``--params``, as Kedro received them) and which versions of
the packages that compute its numbers were installed; ``data_source.json`` keeps the
same record. Kedro passes the run's parameters to ``before_pipeline_run``
(``RunRecordHooks`` puts :func:`run_record` in the catalog as ``run_record``).

``--params`` splits its items at every comma, so a list of two or more (``ingestion.series_dimensions``), or
a value holding a comma, cannot go through it: such a run is repeated by a ``kedro run --config`` file
(:func:`run_config`), which the report folder holds as ``run.yml``, and the command names it.
"""

from __future__ import annotations

import json
import platform
import shlex
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml

from tokenplan.parameter_sources import dotted_leaves

__all__ = ["PACKAGES", "RUN_CONFIG_FILE", "command_line", "config_files", "needs_config_file", "run_config",
           "run_record", "written_out"]

RUN_CONFIG_FILE = "run.yml"  # the report folder's ``kedro run --config`` file, where ``--params`` cannot repeat a run

# The packages whose versions change the plan's numbers (prices come with genai-prices).
# XGBoost installs as ``xgboost-cpu`` (the CPU-only wheel) or ``xgboost``; the first found is named "xgboost".
PACKAGES = ("tokenplan", "kedro", ("xgboost", "xgboost-cpu"), "statsforecast", "optuna", "genai-prices", "pandas",
            "numpy")


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))  # null, true, 3, 0.5, ["workspace"]: YAML reads them back


def needs_config_file(runtime_params: dict[str, Any] | None) -> bool:
    """Whether ``--params`` cannot carry these parameters: a list or mapping among them, or a comma in a value
    (Kedro splits ``--params`` at every comma: ``series_dimensions=["workspace","api_key"]`` stops the run)."""
    leaves = dotted_leaves(runtime_params or {}).values() if runtime_params else []
    return any(isinstance(v, (list, tuple, Mapping)) or "," in _value(v) for v in leaves)


def _named(pipelines: list[str] | None) -> list[str]:
    return [name for name in pipelines or [] if name != "__default__"]


def run_config(env: str | None, runtime_params: dict[str, Any] | None, pipelines: list[str] | None,
               tags: list[str] | None = None) -> dict[str, Any]:
    """The ``kedro run --config`` file that repeats the run: ``{"run": {"env", "pipelines", "tags", "params"}}``,
    each only where set (pipelines and tags comma-separated, as the options take them; params nested)."""
    run: dict[str, Any] = {}
    if env and env != "local":
        run["env"] = env
    if _named(pipelines):
        run["pipelines"] = ",".join(_named(pipelines))
    if tags:
        run["tags"] = ",".join(tags)
    if runtime_params:
        run["params"] = runtime_params
    return {"run": run}


def command_line(env: str | None, runtime_params: dict[str, Any] | None, pipelines: list[str] | None,
                 tags: list[str] | None = None, config_file: str = RUN_CONFIG_FILE) -> str:
    """The ``kedro run`` command with the same environment, pipelines (one ``--pipelines`` list), tags and
    ``--params`` (nested keys dotted, as ``--params`` takes them), quoted for a POSIX shell; where ``--params``
    cannot carry the parameters (:func:`needs_config_file`), ``kedro run --config config_file`` (the file holds
    :func:`run_config`)."""
    if needs_config_file(runtime_params):
        return " ".join(shlex.quote(p) for p in ["kedro", "run", "--config", config_file])
    parts = ["kedro", "run"]
    if env and env != "local":
        parts += ["--env", env]
    named = _named(pipelines)
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


def run_record(run_params: dict[str, Any], config_file: str = RUN_CONFIG_FILE) -> dict[str, Any]:
    """``{"command", "env", "runtime_params", "pipelines", "run_id", "python", "versions"}`` from Kedro's
    ``run_params`` (``before_pipeline_run``), and ``run_config`` (the ``--config`` file's contents) where the
    command is ``kedro run --config config_file`` (the report folder's ``run.yml``)."""
    pipelines = list(run_params.get("pipeline_names") or [])
    params = dict(run_params.get("runtime_params") or {})
    tags = list(run_params.get("tags") or [])
    record = {"command": command_line(run_params.get("env"), params, pipelines, tags, config_file),
              "env": run_params.get("env"), "runtime_params": params, "pipelines": pipelines or ["__default__"],
              "run_id": run_params.get("run_id"), "python": platform.python_version(),
              "versions": {p if isinstance(p, str) else p[0]: v for p in PACKAGES if (v := _installed(p))}}
    if needs_config_file(params):
        record["run_config"] = run_config(run_params.get("env"), params, pipelines, tags)
    return record


def config_files(record: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"run.yml": its YAML}`` for the report folder where the record's command is ``kedro run --config``
    (the record has a ``run_config``), else nothing."""
    if not record or not record.get("run_config"):
        return {}
    return {RUN_CONFIG_FILE: yaml.safe_dump(record["run_config"], sort_keys=False, allow_unicode=True)}


def written_out(env: str | None, runtime_params: dict[str, Any] | None) -> str:
    """The command that makes a plan with these settings, for a message with no folder to hold its ``run.yml``:
    ``kedro run --params ...``, or ``kedro run --config run.yml (run.yml: {run: {env: ..., params: ...}})``."""
    command = command_line(env, runtime_params, None)
    if not needs_config_file(runtime_params):
        return command
    contents = yaml.safe_dump(run_config(env, runtime_params, None), default_flow_style=True, width=10**6,
                              sort_keys=False).strip()
    return f"{command} ({RUN_CONFIG_FILE}: {contents})"
