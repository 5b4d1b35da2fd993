"""The Spark session of a ``kedro run --env spark``: one per run, quiet, offline, stopped at the end.

The ``spark`` parameters (``conf/spark/parameters_spark.yml``) say where it runs
(``master``: ``local[N]`` on this machine, or a cluster's URL) and any Spark settings to
add. Ibis's PySpark backend (``raw_usage`` with ``connection: {backend: pyspark}``) and
statsforecast (``tokenplan.forecasting.engine``) both use this session: Ibis asks
``SparkSession.builder.getOrCreate()``, which returns it.

Nothing is downloaded: no ``spark.jars.packages``, only what the pyspark wheel carries.
Spark's own log lines are kept to errors (``spark_log4j2.properties`` beside this module).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SparkSettings", "current", "start", "stop"]

_LOG_CONFIG = Path(__file__).with_name("spark_log4j2.properties")

# Settings every tokenplan session gets (a user's ``spark.config`` overrides them).
_DEFAULTS = {
    "spark.app.name": "tokenplan",
    "spark.ui.enabled": "false",                 # no web server
    "spark.ui.showConsoleProgress": "false",     # no progress bars over Kedro's log
    "spark.sql.session.timeZone": "UTC",         # Ibis reads and buckets times in UTC
    # Adaptive execution merges statsforecast's per-series groups into one task, which
    # leaves every core but one idle (100 series: 13.3 s with it, 7.3 s without).
    "spark.sql.adaptive.coalescePartitions.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{_LOG_CONFIG}",
}

_session: Any = None


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs and what runs on it (the ``spark`` parameters)."""

    master: str = "local[2]"
    # statsforecast's per-series fits on Spark (through Fugue); false keeps them local.
    statistical_fits: bool = True
    # Shuffle partitions: a few per core (Spark's default of 200 is for clusters).
    shuffle_partitions: int = 4
    config: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> SparkSettings | None:
        """The settings, or None when the parameters have no ``spark`` section (no Spark)."""
        if not params:
            return None
        unknown = set(params) - {"master", "statistical_fits", "shuffle_partitions", "config"}
        if unknown:
            raise ValueError(f"spark: unknown setting(s) {sorted(unknown)}; known: master, statistical_fits, "
                             "shuffle_partitions, config")
        return cls(**{**params, "config": {str(k): str(v) for k, v in (params.get("config") or {}).items()}})


def start(settings: SparkSettings) -> Any:
    """The run's ``SparkSession``, created on first call (later calls return the same one)."""
    global _session
    if _session is not None:
        return _session
    # Python workers must run this interpreter (pandas, statsforecast), not the system one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise RuntimeError("the Spark environment needs pyspark: pip install -c constraints.txt -e '.[spark]' "
                           "(make install-dev installs it)") from error
    if settings.master.startswith("local") and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise RuntimeError(f"spark.master is {settings.master}, which runs Spark on this machine, but Java is "
                           "not on PATH and JAVA_HOME is not set: install Java 17")

    builder = SparkSession.builder.master(settings.master)
    conf = {**_DEFAULTS, "spark.sql.shuffle.partitions": str(settings.shuffle_partitions), **settings.config}
    for key, value in conf.items():
        builder = builder.config(key, value)
    _session = builder.getOrCreate()
    _session.sparkContext.setLogLevel("ERROR")
    return _session


def current() -> Any:
    """The session ``start`` created, or None."""
    return _session


def stop() -> None:
    """Stop the session (if any); the next ``start`` creates a new one."""
    global _session
    if _session is not None:
        _session.stop()
        _session = None
