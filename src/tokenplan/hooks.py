"""Project hooks: settings the pipeline cannot honour refused before it starts, where the run's parameters were
set, source labels for error messages, a source's dates read as configured, the demo's events kept to the demo,
whether the data is simulated, the command that repeats the run, one run at a time per data folder, a failed run's
outputs rolled back, a finished run's closing lines, the Spark session of a ``--env spark`` run, and freed memory
handed back after each node."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from tokenplan import spark_session
from tokenplan.closing_block import outputs_block, report_block, shown_path
from tokenplan.datasets.demo_traffic import DemoTrafficDataset
from tokenplan.forecasting.forecaster import check_quantiles
from tokenplan.output_journal import OutputJournal, dataset_location
from tokenplan.parameter_sources import environment_parameters, parameter_sources
from tokenplan.planning.route_config import configured_routes
from tokenplan.run_lock import RunLock
from tokenplan.run_record import RUN_CONFIG_FILE, run_record
from tokenplan.ingestion.source_labels import label_source

logger = logging.getLogger(__name__)

EVENT_COLUMNS = ["start", "end", "name", "kind", "scope"]
DEMO_LIMITS_MARKER = "rate_limits_demo"  # conf/base/rate_limits_demo_<date>.csv


class ParameterCheckHooks:
    """Settings no stage can honour, refused in one line when the session's context is made, before any node
    runs (``training.quantiles``: later stages state P10, P50 and P90 by name, and failed after the forecast;
    ``planning.routes``: a route override that names no route or input, or a value a route does not take)."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        training = context.params.get("training") or {}
        if "quantiles" in training:
            check_quantiles(training["quantiles"])
        routes = (context.params.get("planning") or {}).get("routes")
        if routes:
            configured_routes(routes)


class ParameterSourceHooks:
    """Put ``parameter_sources`` in the catalog: each parameter this run set with ``--params`` or changed in its
    environment (``conf/local``, ``--env``), against the shipped ``conf/base`` (``tokenplan.parameter_sources``).
    The report labels an input by where it came from, not by the source string the shipped file put beside it."""

    DATASET = "parameter_sources"

    def __init__(self) -> None:
        self._sources: dict[str, str] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        loader = context.config_loader
        runtime = getattr(loader, "runtime_params", None) or {}
        env = context.env or getattr(loader, "default_run_env", "") or "local"
        try:
            shipped = type(loader)(conf_source=str(loader.conf_source), env=loader.base_env,
                                   base_env=loader.base_env, default_run_env=loader.base_env,
                                   merge_strategy=loader.merge_strategy)["parameters"]
        except Exception:  # noqa: BLE001 - a loader without a base folder (remote conf): --params alone
            logger.debug("parameter sources: conf/base not read; only --params are labelled as set", exc_info=True)
            shipped = context.params
        try:
            own = environment_parameters(str(loader.conf_source), env, loader.config_patterns.get("parameters", []))
        except Exception:  # noqa: BLE001 - an environment file the loader reads and OmegaConf alone does not
            logger.debug("parameter sources: conf/%s not read alone; its values are labelled where they differ "
                         "from conf/base", env, exc_info=True)
            own = {}
        self._sources = parameter_sources(shipped, context.params, runtime, env, own)

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        catalog[self.DATASET] = dict(self._sources)


class SourceLabelHooks:
    """Tag every loaded dataset with where it came from (see ``tokenplan.ingestion.source_labels``).

    Validation at the ingestion boundary then names the file (and, for a CSV, the line)
    in its error message without nodes having to know file paths, which only the
    catalog should know.
    """

    def __init__(self) -> None:
        self._catalog: Any = None

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        label, first_line = self._label(dataset_name)
        label_source(data, label, first_line)

    def _label(self, dataset_name: str) -> tuple[str, int | None]:
        try:
            description = self._catalog.get(dataset_name)._describe()
        except Exception:  # a label is a courtesy: never fail a load over it
            return dataset_name, None
        location = description.get("filepath") or description.get("path") or description.get("table_name")
        # A CSV has a header line: data row 0 is line 2, as an editor counts.
        kind = f"{location}{description.get('filename_suffix') or ''} {description.get('file_format') or ''}"
        first_line = 2 if "csv" in kind.lower().rsplit(".", 1)[-1] else None
        return (f"{dataset_name} ({location})" if location else dataset_name), first_line


class TimestampFormatHooks:
    """``ingestion.timestamp_format`` passed on to a usage source that reads its own dates.

    A Console export is mapped to canonical columns inside its dataset, dates included;
    only the parameters know how a user writes dates, and only the catalog knows the
    source. Without this, an export dated ``01.08.2026`` throughout could not follow the
    message that asks for ``ingestion.timestamp_format``.
    """

    @hook_impl
    def after_catalog_created(self, catalog: Any, parameters: dict[str, Any]) -> None:
        timestamp_format = (parameters.get("params:ingestion") or {}).get("timestamp_format")
        if not timestamp_format:
            return
        try:
            usage = catalog.get("raw_usage")
        except Exception:  # no raw_usage (a partial catalog): nothing to pass it to
            return
        if hasattr(usage, "read_timestamps_as"):
            usage.read_timestamps_as(timestamp_format)


class DemoEventsHooks:
    """The demo's events calendar and example rate limits go with the demo's usage only.

    ``raw_events`` defaults to the demo calendar in ``conf/base``; a user who points
    ``raw_usage`` at their own data (any environment, or ``conf/local``) and leaves
    ``raw_events`` alone would otherwise forecast their traffic with the demo's
    campaigns. Then the calendar is empty, and the log says how to give one. Likewise
    ``rate_limits_raw`` defaults to the demo's dated example limits: with the user's own
    usage it is replaced by no limits (peaks are planned, no limit is assumed) unless
    ``rate_limits_file`` or the catalog names theirs.
    """

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        try:
            events, usage = catalog.get("raw_events"), catalog.get("raw_usage")
        except Exception:  # a catalog without these (a test catalog): nothing to guard
            return
        if isinstance(events, DemoTrafficDataset) and not (
                isinstance(usage, DemoTrafficDataset) and usage.same_simulation(events)):
            logger.info("raw_usage is not the demo, so the demo's events calendar is not used: no events are "
                        "assumed. Give yours as raw_events (docs/your-data/index.md).")
            _replace(catalog, "raw_events",
                     MemoryDataset(pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})))
        try:
            limits = catalog.get("rate_limits_raw")
            limits_path = str(limits._describe().get("filepath") or "")
        except Exception:  # no limits in this catalog (a test catalog): nothing to guard
            return
        if DEMO_LIMITS_MARKER in Path(limits_path).name and not isinstance(usage, DemoTrafficDataset):
            logger.info("raw_usage is not the demo, so the demo's example rate limits are not used: peaks are "
                        "planned against no limit. Give yours with --params rate_limits_file=PATH "
                        "(docs/capacity/rate-limits.md).")
            _replace(catalog, "rate_limits_raw",
                     MemoryDataset(pd.DataFrame(columns=["model_group", "models", "rpm", "itpm", "otpm"])))


def _replace(catalog: Any, name: str, dataset: Any) -> None:
    """``catalog[name] = dataset`` without Kedro's "Replacing dataset" warning: the replacement is
    ours, and the line above it says why (a user's run printed a warning it could not act on)."""
    kedro_catalog = logging.getLogger("kedro.io.data_catalog")
    level = kedro_catalog.level
    kedro_catalog.setLevel(logging.ERROR)
    try:
        catalog[name] = dataset
    finally:
        kedro_catalog.setLevel(level)


class RunGuardHooks:
    """One run at a time per data folder (``run.lock_file``), and a failed run's outputs
    rolled back from a journal (``run.journal_dir``; see ``tokenplan.output_journal``)."""

    def __init__(self) -> None:
        self._lock: RunLock | None = None
        self._journal: OutputJournal | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        settings = context.params.get("run") or {}
        root = Path(context.project_path)
        self._lock = RunLock(root / settings["lock_file"]) if settings.get("lock_file") else None
        self._journal = OutputJournal(root / settings["journal_dir"]) if settings.get("journal_dir") else None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if self._lock is not None:
            self._lock.acquire()
        if self._journal is None:
            return
        self._journal.recover()
        locations = {}
        for name in pipeline.all_outputs():
            try:
                location = dataset_location(catalog.get(name))
            except Exception:  # not in the catalog: a MemoryDataset made on the fly
                location = None
            if location is not None:
                locations[name] = location
        self._journal.begin(locations)

    @hook_impl
    def after_pipeline_run(self) -> None:
        if self._journal is not None:
            self._journal.commit()
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        try:
            if self._journal is not None:
                self._journal.rollback()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()


class SimulatedDataHooks:
    """Put ``usage_is_simulated`` in the catalog: whether ``raw_usage`` is the built-in demo.

    The report says plainly when its data is simulated. Deciding it from the catalog
    (the dataset's type), not from a parameter, keeps it right whichever way a user
    points ``raw_usage`` at their own data (an environment, ``conf/local``, a notebook).
    """

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        from tokenplan.datasets import DemoTrafficDataset

        try:
            simulated = isinstance(catalog.get("raw_usage"), DemoTrafficDataset)
        except Exception:  # no raw_usage (a partial catalog): nothing says it is simulated
            simulated = False
        catalog["usage_is_simulated"] = simulated


class RunRecordHooks:
    """Put ``run_record`` in the catalog: the command that repeats this run and the versions that
    computed it (``tokenplan.run_record``), for the report and its ``data_source.json``. Where ``--params`` cannot
    carry the run's parameters, the command is ``kedro run --config <report folder>/run.yml``, the file the
    report writes."""

    def __init__(self) -> None:
        self._project_path: Path | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: Any) -> None:
        folder = _saved_path(catalog, ClosingBlockHooks.REPORT_DATASET)
        config_file = (shown_path(folder / RUN_CONFIG_FILE, self._project_path) if folder is not None
                       else RUN_CONFIG_FILE)
        catalog["run_record"] = run_record(run_params, config_file)


class ClosingBlockHooks:
    """After a successful run, print where its report is and the summary's headline (see
    ``tokenplan.closing_block``); a run without a report lists the files it wrote."""

    REPORT_DATASET = "report"

    def __init__(self) -> None:
        self._project_path: Path | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def after_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        outputs = pipeline.all_outputs()
        if self.REPORT_DATASET in outputs:
            folder = _saved_path(catalog, self.REPORT_DATASET)
            lines = report_block(folder, self._project_path) if folder is not None else []
        else:
            paths = [p for name in sorted(outputs) if (p := _saved_path(catalog, name)) is not None]
            lines = outputs_block(paths, self._project_path)
        if lines:
            sys.stdout.flush()
            print("\n".join(lines), flush=True)


class SparkHooks:
    """With a ``spark`` section in the parameters (``--env spark``): one Spark session for
    the run, statsforecast's fits sent to it, what ran on it saved as ``spark_run`` (when
    the catalog has that entry), and the session stopped however the run ends."""

    RECORD_DATASET = "spark_run"

    def __init__(self) -> None:
        self._settings: spark_session.SparkSettings | None = None
        self._usage_backend: str | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._settings = spark_session.SparkSettings.from_params(context.params.get("spark"))

    @hook_impl
    def before_pipeline_run(self) -> None:
        if self._settings is None:
            return
        from tokenplan.forecasting import engine

        session = spark_session.start(self._settings)
        if self._settings.statistical_fits:
            engine.use_spark(session)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if dataset_name == "raw_usage" and self._settings is not None:
            from tokenplan.ingestion.request_logs import is_request_log

            if is_request_log(data):
                import ibis

                self._usage_backend = ibis.get_backend(data).name

    @hook_impl
    def after_pipeline_run(self, catalog: Any) -> None:
        if self._settings is None:
            return
        try:
            if self.RECORD_DATASET in catalog.keys():
                catalog.save(self.RECORD_DATASET, self._record())
        finally:
            self._stop()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._stop()

    def _record(self) -> dict[str, Any]:
        from tokenplan.forecasting import engine

        session = spark_session.current()
        fits = engine.record()
        return {
            "master": self._settings.master if self._settings else None,
            "spark_version": session.version if session is not None else None,
            "spark_jobs": len(session.sparkContext.statusTracker().getJobIdsForGroup()) if session is not None
            else 0,
            "raw_usage_backend": self._usage_backend,
            "statistical_fits_on_spark": {"calls": fits["spark_calls"], "series": fits["spark_series"]},
            "statistical_fits_local": {"calls": fits["local_calls"], "series": fits["local_series"]},
        }

    def _stop(self) -> None:
        from tokenplan.forecasting import engine

        engine.use_local()
        spark_session.stop()


def _saved_path(catalog: Any, name: str) -> Path | None:
    """Where this run saved dataset ``name`` (its version's folder or file), or None (memory, remote)."""
    try:
        dataset = catalog.get(name)
        location = dataset_location(dataset)
        if location is None:
            return None
        path, versioned = location
        if versioned:
            path = Path(dataset._get_versioned_path(dataset.resolve_save_version()))
        return path
    except Exception:  # a courtesy line: never fail a finished run over it
        return None


class MemoryTrimHooks:
    """After each node, hand the memory its data freed back to the system (glibc's ``malloc_trim``).

    Arrays of a few megabytes come from the C heap, and glibc keeps what they freed for
    later use rather than returning it, so a node's freed memory could count into the next
    node's peak (``docs/developer/decisions.md``). A no-op where the C library is not glibc.
    """

    def __init__(self) -> None:
        self._trim = None
        try:
            self._trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            pass

    @hook_impl
    def after_node_run(self) -> None:
        if self._trim is not None:
            self._trim(0)
