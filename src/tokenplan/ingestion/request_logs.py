"""Request-level logs (one row per API call) -> hourly usage with per-minute peaks.

The log is an Ibis table, so the work runs where the data lives: DuckDB on a local
CSV / Parquet file by default, Spark or a warehouse when the catalog points there.
Everything up to the small bucketed result is an Ibis expression; pandas only sees
one row per (bucket, series).

The plan, one pass over the log (two if it holds duplicates):

1. map the source's columns to the canonical request log (``RequestLogConfig``);
2. aggregate to (minute, raw model, dimensions), counting invalid values and distinct
   request fingerprints on the way; keep that minute table (small) for what follows;
3. check the counts: any invalid value stops the run with the file, column, rows and
   values (the offending rows are fetched only then);
4. recompute the minutes with fewer distinct fingerprints than rows from distinct
   requests (same request id, else identical in every mapped column);
5. read naive local minutes in the configured zone, give one id per model;
6. aggregate minutes to buckets: sums for totals, max over minutes for the peaks;
7. (``with_quiet_buckets``, on the small bucketed result) a bucket inside a series'
   span without requests is zero requests, not a gap.

Failed requests count in ``requests`` and ``peak_rpm`` (they were sent and take rate
limit and gateway capacity), but their tokens do not count by default (an errored
call is not billed); ``failed_tokens: true`` counts them too.
"""

from __future__ import annotations

import difflib
import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd

from tokenplan.ingestion.local_times import (
    LocalSpan,
    changes_of_offset,
    repeated_spans,
    second_pass_start,
    skipped_spans,
)
from tokenplan.ingestion.file_rows import FILE, READ, ROW, in_file_order, named_rows, rows_in_file_order
from tokenplan.schemas import TOKEN_COLUMNS, InvalidInputError, _fail
from tokenplan.ingestion.usage_buckets import MISSING_LABEL, normalise_model_id
from tokenplan.ingestion.usage_columns import CERTAIN_ALIASES, TYPO_CUTOFF, likely_count
from tokenplan.sources.anthropic_console import canonical_header

logger = logging.getLogger(__name__)

__all__ = ["PRESETS", "RequestLogConfig", "bucket_request_log", "is_request_log", "with_quiet_buckets"]

COLUMN_KEYS = ("timestamp", "model", *TOKEN_COLUMNS, "status", "request_id")
# Columns a log may or may not have: default or preset names are used when the column
# exists; a name the user sets explicitly must exist.
OPTIONAL_KEYS = ("cache_write_tokens", "cache_read_tokens", "status", "request_id")
REQUIRED = "<required>"  # a preset key the user must set
TIMESTAMP_UNITS = {"s": 1_000, "ms": 1, "us": 1e-3, "ns": 1e-6}  # -> milliseconds
DEFAULTS: dict[str, Any] = {
    **{key: key for key in COLUMN_KEYS},
    "dimensions": {},
    "input_includes_cache": False,
    "model_name": None,
    "timestamp_unit": "s",
    "start": None,
    "timezone": None,
    "ok_status": ["ok", "success", "succeeded", "200"],
    "zero_output_is_failure": False,
    "failed_tokens": False,
    "deduplicate": True,
    # No model reads or writes more in one call (the largest context windows are 1-2M tokens):
    # a count above it is a typo or a unit error, and one such request took over a quarter's
    # ITPM plan (a 1e9-token request read as 435M tokens a minute). 0: not checked.
    "max_tokens_per_request": 2_000_000,
}

PRESETS: dict[str, dict[str, Any]] = {
    # Azure LLM inference traces (Azure/AzurePublicDataset): no model column, no cache.
    "azure": {
        "timestamp": "TIMESTAMP",
        "model": None,
        "input_tokens": "ContextTokens",
        "output_tokens": "GeneratedTokens",
    },
    # BurstGPT (HPMLL/BurstGPT): seconds since the start of the trace; a failed request
    # is logged with 0 response tokens.
    "burstgpt": {
        "timestamp": "Timestamp",
        "timestamp_unit": "s",
        "start": REQUIRED,
        "model": "Model",
        "input_tokens": "Request tokens",
        "output_tokens": "Response tokens",
        "zero_output_is_failure": True,
        "dimensions": {"log_type": "Log Type"},
    },
    # LiteLLM proxy spend logs (table LiteLLM_SpendLogs): prompt_tokens includes cache
    # reads and writes. The table keeps the cache split in its metadata JSON; an export
    # that flattens it into the two cache columns named here is used as is. startTime is
    # stored in UTC. status is "success" or "failure".
    "litellm": {
        "timestamp": "startTime",
        "model": "model",
        "input_tokens": "prompt_tokens",
        "input_includes_cache": True,
        "cache_write_tokens": "cache_creation_input_tokens",
        "cache_read_tokens": "cache_read_input_tokens",
        "output_tokens": "completion_tokens",
        "status": "status",
        "request_id": "request_id",
        "timezone": "UTC",
        "dimensions": {"api_key": "api_key", "team_id": "team_id"},
    },
}


@dataclass(frozen=True)
class RequestLogConfig:
    """Which source column is which, and how to read it (``ingestion.request_log``)."""

    columns: dict[str, str | None]
    required: frozenset[str]
    dimensions: dict[str, str] = field(default_factory=dict)
    input_includes_cache: bool = False
    model_name: str | None = None
    timestamp_unit: str = "s"
    start: str | None = None
    timezone: str | None = None
    ok_status: tuple[str, ...] = ()
    zero_output_is_failure: bool = False
    failed_tokens: bool = False
    deduplicate: bool = True
    max_tokens_per_request: float | None = 2_000_000

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> RequestLogConfig:
        """Defaults, then the preset, then every key the user set (null = not set)."""
        user = {k: v for k, v in (params or {}).items() if v is not None}
        unknown = set(user) - set(DEFAULTS) - {"preset"}
        if unknown:
            raise ValueError(f"ingestion.request_log: unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        preset_name = user.pop("preset", None)
        if preset_name is not None and preset_name not in PRESETS:
            raise ValueError(f"ingestion.request_log.preset {preset_name!r} is not one of {sorted(PRESETS)}")
        preset = PRESETS.get(preset_name, {})
        merged = {**DEFAULTS, **preset, **user}
        if "model_name" in user and "model" not in user:  # the user says the log has no model column
            merged["model"] = None
        missing = sorted(k for k, v in merged.items() if v == REQUIRED)
        if missing:
            raise ValueError(f"ingestion.request_log: preset {preset_name!r} needs {missing} to be set "
                             f"(e.g. --params ingestion.request_log.{missing[0]}=...)")
        required = {k for k in COLUMN_KEYS if merged[k] and (k not in OPTIONAL_KEYS or k in user)}
        if merged["timestamp_unit"] not in TIMESTAMP_UNITS:
            raise ValueError(f"ingestion.request_log.timestamp_unit must be one of {list(TIMESTAMP_UNITS)}")
        if not merged["model"] and not merged["model_name"]:
            raise ValueError("ingestion.request_log: the log has no model column; set "
                             "ingestion.request_log.model_name to the model it records")
        return cls(
            columns={k: merged[k] for k in COLUMN_KEYS},
            required=frozenset(required),
            dimensions=dict(merged["dimensions"]),
            input_includes_cache=bool(merged["input_includes_cache"]),
            model_name=merged["model_name"],
            timestamp_unit=merged["timestamp_unit"],
            start=merged["start"],
            timezone=merged["timezone"],
            ok_status=tuple(str(s).strip().lower() for s in merged["ok_status"]),
            zero_output_is_failure=bool(merged["zero_output_is_failure"]),
            failed_tokens=bool(merged["failed_tokens"]),
            deduplicate=bool(merged["deduplicate"]),
            max_tokens_per_request=_token_bound(merged["max_tokens_per_request"]),
        )


def _token_bound(value: Any) -> float | None:
    """``max_tokens_per_request`` as a bound, None for 0 (not checked); a negative value is refused."""
    bound = float(value)
    if bound < 0:
        raise ValueError(f"ingestion.request_log.max_tokens_per_request must be 0 (not checked) or more, got {value!r}")
    return bound or None


def is_request_log(data: Any) -> bool:
    """True for an Ibis table (a request log); a pandas frame is already-bucketed usage."""
    return isinstance(data, ir.Table)


# ----------------------------------------------------------------- column mapping


@dataclass(frozen=True)
class _Mapping:
    """The resolved source columns: canonical name -> source column present in the table."""

    columns: dict[str, str]
    dimensions: dict[str, str]


def _preset_hint(found: list[str]) -> str:
    """``: this looks like ... --params ingestion.request_log.preset=NAME`` when every column a preset maps is
    in ``found``, else nothing."""
    for name, preset in PRESETS.items():
        mapped = [c for k, c in preset.items() if k in COLUMN_KEYS and isinstance(c, str)]
        if mapped and set(mapped) <= set(found):
            extra = ",ingestion.request_log.model_name=NAME" if preset.get("model", "") is None else ""
            return f": these are the columns of the '{name}' preset: add --params ingestion.request_log.preset={name}{extra}"
    return ""


def _did_you_mean(key: str, name: str, found: list[str]) -> str:
    """``: did you mean 'OutputTokens'?`` for a missing column one of ``found`` probably is, else nothing."""
    headers = {canonical_header(column): column for column in found}
    likely = [column for header, column in headers.items() if header in (canonical_header(name), key)]
    if key in TOKEN_COLUMNS:
        likely += [column for header, column in headers.items() if likely_count(header) == key]
    likely += [headers[h] for h in difflib.get_close_matches(canonical_header(name), headers, n=1, cutoff=TYPO_CUTOFF)]
    return f": did you mean '{likely[0]}'? Map it with ingestion.request_log.{key}" if likely else ""


def _same_count(key: str, found: list[str]) -> str | None:
    """The column of ``found`` named as the token count ``key`` once canonical (``cacheReadTokens``,
    ``cache_read_input_tokens``), which the log's default map would leave unread; None if none is."""
    names = {key, *(alias for alias, count in CERTAIN_ALIASES.items() if count == key)}
    return next((column for column in found if canonical_header(column) in names), None)


# DuckDB names the one column of a file with no header line this.
_NO_HEADER = "column0"


def _refuse_unsplit_csv(table: ir.Table, column: str, source: str) -> None:
    """Raise for a CSV DuckDB could not split into columns: an empty file, or a line whose fields are not the
    header's (DuckDB then reads every line whole, as one column named by the whole header)."""
    if column == _NO_HEADER:
        raise InvalidInputError(f"{source}: the file is empty (no header, no rows)")
    delimiter = next((d for d in ",;\t|" if d in column), None)
    if delimiter is None:
        return
    fields = column.count(delimiter) + 1
    line = table[column]
    odd = table.filter(line.notnull() & (line.length() - line.replace(delimiter, "").length() != fields - 1))
    example = odd.limit(1).execute()[column].tolist()
    if example:
        shown = example[0]
        raise InvalidInputError(
            f"{source}: not split into columns: a line has {shown.count(delimiter) + 1} fields where the header's "
            f"{fields} are expected: {shown!r} (a stray delimiter or quote; every line needs the header's fields)")


def _resolve_columns(table: ir.Table, config: RequestLogConfig, series_dimensions: list[str],
                     source: str) -> _Mapping:
    """The columns of ``table`` the config names; raise naming any required one it lacks."""
    found = list(table.columns)
    if len(found) == 1:
        _refuse_unsplit_csv(table, found[0], source)
    columns = {}
    for key, name in config.columns.items():
        if not name:
            continue
        if name in found:
            columns[key] = name
        elif key in config.required:
            raise InvalidInputError(
                f"{source}: required column '{name}' is missing (mapped by ingestion.request_log.{key}; "
                f"columns found: {found}){_preset_hint(found) or _did_you_mean(key, name, found)}"
            )
        elif key in TOKEN_COLUMNS and (same := _same_count(key, found)):
            raise InvalidInputError(
                f"{source}: column '{same}' looks like {key} but is not read (the log has no column '{name}'): "
                f"map it with --params ingestion.request_log.{key}={same}")
    dimensions = {}
    for dimension in series_dimensions:
        name = config.dimensions.get(dimension, dimension)
        if name not in found:
            raise InvalidInputError(
                f"{source}: required column '{name}' is missing (series dimension '{dimension}'; "
                f"columns found: {found})"
            )
        dimensions[dimension] = name
    return _Mapping(columns, dimensions)


# ----------------------------------------------------------------- canonical requests

_OFFSET_SUFFIX = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|UTC|[+-]\d{2}(:?\d{2})?)$"
MINUTE_US = 60_000_000
# Backends whose hash() takes a whole row (a struct); None: unbound, compiled to SQL only.
ROW_HASHING_BACKENDS = ("duckdb", "pyspark", "databricks", "bigquery", "snowflake", None)


# DuckDB functions that the portable Ibis expressions compile around: together they save
# seconds per 10M rows (and Ibis 12 renders list uniqueness with a lambda syntax that
# DuckDB 2 rejects). Other backends get the portable expression.


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(moment: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[valid-type]
    """Microseconds since 1970 of an aware timestamp, without a time zone cast."""


@ibis.udf.scalar.builtin(name="divide")
def _duckdb_integer_divide(dividend: dt.int64, divisor: dt.int64) -> dt.int64:  # type: ignore[valid-type]
    """Integer division (``//``), without Ibis' round trip through floating point."""


@ibis.udf.scalar.builtin(name="list_unique")
def _duckdb_count_distinct_numbers(values: dt.Array(dt.int64)) -> dt.int64:  # type: ignore[valid-type]
    """How many different values a list of numbers holds."""


@ibis.udf.scalar.builtin(name="list_unique")
def _duckdb_count_distinct_texts(values: dt.Array(dt.string)) -> dt.int64:  # type: ignore[valid-type]
    """How many different values a list of texts holds."""


def _backend_name(table: ir.Table) -> str | None:
    """``duckdb``, ``pyspark``, ...; None for a table bound to no backend (SQL only)."""
    try:
        return ibis.get_backend(table).name
    except Exception:  # an unbound table: compiled to SQL, never run here
        return None


def _minutes(column: ir.Value, config: RequestLogConfig, zone: str, backend: str) -> tuple[ir.Value, ir.Value]:
    """(minutes since 1970 as an integer, flag): UTC, or local wall-clock minutes where flagged.

    Integer minutes keep the per-request work to arithmetic; naive values stay local
    here and are converted after the minute aggregation, on a few rows instead of every
    request. The session of the backend runs in UTC (Ibis sets it for DuckDB and Spark).
    """
    kind = column.type()
    local = zone != "UTC"
    aware = kind.is_timestamp() and kind.timezone is not None
    if kind.is_timestamp() and backend == "duckdb":  # a cast to naive time goes through ICU: slow
        return _duckdb_integer_divide(_duckdb_epoch_us(column), MINUTE_US), ibis.literal(local and not aware)
    if aware:
        return column.epoch_seconds() // 60, ibis.literal(False)
    if kind.is_timestamp() or kind.is_date():
        return column.cast(dt.timestamp).epoch_seconds() // 60, ibis.literal(local)
    if kind.is_numeric():
        millis = column.cast(dt.float64) * TIMESTAMP_UNITS[config.timestamp_unit]
        if config.start is not None:
            millis = millis + _epoch_ms(config.start, zone)
        return (millis / 60_000).floor().cast(dt.int64), ibis.literal(False)
    text = column.cast(dt.string).strip()
    has_offset = text.re_search(_OFFSET_SUFFIX)
    aware = text.try_cast(dt.Timestamp(timezone="UTC")).cast(dt.timestamp)
    naive = text.try_cast(dt.timestamp)
    minute = ibis.ifelse(has_offset, aware, naive).epoch_seconds() // 60
    # Epoch numbers read as text (one bad cell makes a CSV column text): each row that
    # is a number is read as one, so only the bad cell fails, on its own row.
    number = text.try_cast(dt.float64)
    millis = number * TIMESTAMP_UNITS[config.timestamp_unit]
    if config.start is not None:
        millis = millis + _epoch_ms(config.start, zone)
    minute = ibis.ifelse(number.notnull(), (millis / 60_000).floor().cast(dt.int64), minute)
    return minute, (number.isnull() & ~has_offset & ibis.literal(local))


def _epoch_ms(start: str, zone: str) -> float:
    moment = pd.Timestamp(start)
    moment = moment.tz_localize(zone) if moment.tzinfo is None else moment
    return moment.tz_convert("UTC").value / 1e6


def _token(table: ir.Table, mapping: _Mapping, key: str) -> tuple[ir.Value, ir.Value | None]:
    """(tokens as float, 0 where empty; flag where the raw value is not a number, or None)."""
    if key not in mapping.columns:
        return ibis.literal(0.0), None
    raw = table[mapping.columns[key]]
    if raw.type().is_numeric():
        return raw.cast(dt.float64).fill_null(0.0), None
    parsed = raw.try_cast(dt.float64)
    return parsed.fill_null(0.0), parsed.isnull() & raw.notnull()


def _canonical(table: ir.Table, config: RequestLogConfig, mapping: _Mapping, zone: str) -> ir.Table:
    """One row per logged request in the canonical vocabulary (input tokens as logged,
    ``status`` raw, ``no_output`` where a request without output counts as failed).

    Also: ``bad_*`` flags where a text column holds something that is not a number and,
    for de-duplication, what identifies a request: its ``request_id`` where the log has
    one, else its content with the raw timestamp ``moment``; and a cheap ``fingerprint``.
    """
    cols = mapping.columns
    backend = _backend_name(table)
    minute, is_local = _minutes(table[cols["timestamp"]], config, zone, backend)
    tokens, not_numeric = {}, {}
    for key in TOKEN_COLUMNS:
        tokens[key], flag = _token(table, mapping, key)
        if flag is not None:
            not_numeric[f"bad_{key}"] = flag
    # The outcome is decided per minute, not per request: a log has a handful of status
    # values, and normalising text on every row costs more than the whole aggregation.
    status = table[cols["status"]].cast(dt.string).fill_null("") if "status" in cols else ibis.literal("")
    no_output = (tokens["output_tokens"] <= 0) if config.zero_output_is_failure else ibis.literal(False)
    model = table[cols["model"]].cast(dt.string) if "model" in cols else ibis.literal(config.model_name)
    identity = {}
    if config.deduplicate:
        identity["moment"] = table[cols["timestamp"]]  # to the full precision of the log
        # The fingerprint only flags minutes that may hold duplicates, so it may collide
        # but must be equal for equal requests: a hash of the time and tokens where the
        # backend hashes rows (model, status and dimensions are equal within a minute's
        # group anyway), else the time alone.
        hashed = [cols[k] for k in ("timestamp", *TOKEN_COLUMNS) if k in cols]
        content = (ibis.struct({c: table[c] for c in hashed}).hash() if backend in ROW_HASHING_BACKENDS
                   else identity["moment"])
        identity["fingerprint"] = content
        if "request_id" in cols:
            identity["request_id"] = table[cols["request_id"]].cast(dt.string)
            identity["fingerprint"] = identity["request_id"].fill_null(content.cast(dt.string))
    return table.select(
        minute=minute,
        is_local=is_local,
        model=model,
        # A null dimension is a real split (a default workspace): label it, so joins keep it.
        **{name: table[column].cast(dt.string).fill_null(MISSING_LABEL) for name, column in mapping.dimensions.items()},
        status=status,
        no_output=no_output,
        **tokens,
        **not_numeric,
        **identity,
    )


def _per_minute(requests: ir.Table, labels: list[str], config: RequestLogConfig) -> ir.Table:
    """Requests, token sums and invalid-value counts per minute and labels (zone flag, raw
    model, dimensions, status), and ``distinct_rows``: how many different fingerprints.

    Counts and minima rather than sums of flags, and no per-row branching: on 10M rows
    that is seconds less.
    """
    uncached = requests.input_tokens
    if config.input_includes_cache:
        uncached = uncached - requests.cache_read_tokens - requests.cache_write_tokens
    # Fewer distinct fingerprints than rows in a minute flags possible duplicates. A list
    # per minute costs half of what a table of every request's identity would; a hash
    # collision can only flag a minute, never hide a duplicate.
    distinct = requests.count()
    if "fingerprint" in requests.columns:
        fingerprints = requests.fingerprint.collect()
        if _backend_name(requests) == "duckdb":
            texts = requests.fingerprint.type().is_string()
            distinct = (_duckdb_count_distinct_texts if texts else _duckdb_count_distinct_numbers)(fingerprints)
        else:
            distinct = fingerprints.unique().length().cast(dt.int64)
    return requests.group_by(labels).aggregate(
        requests=requests.count(),
        distinct_rows=distinct,
        input_tokens=uncached.sum(),
        cache_write_tokens=requests.cache_write_tokens.sum(),
        cache_read_tokens=requests.cache_read_tokens.sum(),
        output_tokens=requests.output_tokens.sum(),
        least_uncached_input=uncached.min(),
        **{f"least_{k}": requests[k].min() for k in TOKEN_COLUMNS},
        **{f"most_{k}": requests[k].max() for k in TOKEN_COLUMNS},
        **{c: requests.count(where=requests[c]) for c in requests.columns if c.startswith("bad_")},
    )


def _counted(minutes: ir.Table, config: RequestLogConfig) -> ir.Table:
    """The minute table with ``failed`` requests and only the tokens that count.

    A request failed if its status is not one of ``ok_status`` (an empty status is ok)
    or, with ``zero_output_is_failure``, it has no output. Failed requests stay in
    ``requests``; their tokens count only with ``failed_tokens``.
    """
    status = minutes.status.strip().lower()
    ok = (status == "") | status.isin(config.ok_status)
    ok = ok & ~minutes.no_output
    counted = ok | ibis.literal(config.failed_tokens)
    return minutes.mutate(
        failed=ibis.ifelse(ok, 0, minutes.requests),
        **{c: ibis.ifelse(counted, minutes[c], 0.0) for c in TOKEN_COLUMNS},
    )


def _check_same_id_same_values(table: ir.Table, requests: ir.Table, minutes: ir.Table, labels: list[str],
                               mapping: _Mapping, source: str, first_line: int | None) -> None:
    """Raise naming both lines if one request id is logged with different token counts.

    A repeated id is the same request logged twice (a retried export, overlapping
    files); with different counts it is not clear which one is right. Only the minutes
    flagged as holding repeats are read again.
    """
    if "request_id" not in requests.columns:
        return
    flagged = minutes.filter(minutes.requests > minutes.distinct_rows).select(*labels)
    candidates = requests.semi_join(flagged, labels)
    with_id = candidates.filter(candidates.request_id.notnull())
    variants = with_id.group_by("request_id").aggregate(
        variants=ibis.greatest(*[with_id[c].nunique() for c in TOKEN_COLUMNS]))
    clash = variants.filter(variants.variants > 1).limit(1).execute()
    if clash.empty:
        return
    request_id = clash["request_id"].iloc[0]
    column = mapping.columns["request_id"]
    raise _offending(table, column, table[column].cast(dt.string) == request_id, source,
                     "the same request id is logged with different token counts: remove one of these rows",
                     first_line)


def _without_duplicates(requests: ir.Table, minutes: ir.Table, labels: list[str],
                        config: RequestLogConfig) -> ir.Table:
    """The minute table with flagged minutes recomputed from distinct requests only.

    Same request id, or else identical time (to the log's precision), model,
    dimensions, tokens and outcome, is one request. Only flagged minutes are read again.
    """
    flagged = minutes.filter(minutes.requests > minutes.distinct_rows).select(*labels)
    candidates = requests.semi_join(flagged, labels).drop("fingerprint")
    by_content = candidates
    if "request_id" in candidates.columns:
        with_id = candidates.filter(candidates.request_id.notnull()).drop("moment")
        values = [c for c in with_id.columns if c not in (*labels, "request_id")]
        by_id = with_id.group_by(*labels, "request_id").aggregate(**{c: with_id[c].arbitrary() for c in values})
        by_content = candidates.filter(candidates.request_id.isnull()).drop("request_id")
    distinct = by_content.distinct().drop("moment")
    if "request_id" in candidates.columns:
        distinct = distinct.union(by_id.drop("request_id").select(*distinct.columns))
    exact = _per_minute(distinct, labels, config)
    return minutes.anti_join(flagged, labels).union(exact.select(*minutes.columns))


# ----------------------------------------------------------------- validation


def _check(table: ir.Table, minutes: ir.Table, config: RequestLogConfig, mapping: _Mapping,
           zone: str, source: str, first_line: int | None = None) -> dict[str, Any]:
    """Summary of the minute table; raise naming column, rows and values on invalid input."""
    flags = [c for c in minutes.columns if c.startswith("bad_")]
    least = [c for c in minutes.columns if c.startswith("least_")]
    most = [c for c in minutes.columns if c.startswith("most_")]
    summary = minutes.aggregate(
        requests=minutes.requests.sum(),
        flagged=(minutes.requests - minutes.distinct_rows).sum(),
        # A sum over no rows is NULL, which Spark hands back as NaN (truthy): count it as 0.
        bad_timestamps=minutes.requests.sum(where=minutes.minute.isnull()).fill_null(0),
        missing_models=minutes.requests.sum(where=minutes.model.isnull() | (minutes.model.strip() == "")).fill_null(0),
        local_min=minutes.minute.min(where=minutes.is_local),
        local_max=minutes.minute.max(where=minutes.is_local),
        **{flag: minutes[flag].sum() for flag in flags},
        **{column: minutes[column].min() for column in least},
        **{column: minutes[column].max() for column in most},
    ).execute().iloc[0].to_dict()
    if pd.isna(summary["requests"]) or not summary["requests"]:
        raise InvalidInputError(f"{source}: the request log has no rows")
    cols = mapping.columns
    if summary["bad_timestamps"]:
        minute, _ = _minutes(table[cols["timestamp"]], config, zone, _backend_name(table))
        raise _offending(table, cols["timestamp"], minute.isnull(), source, "not a parseable timestamp", first_line)
    if summary["missing_models"]:
        model = table[cols["model"]].cast(dt.string)
        raise _offending(table, cols["model"], model.isnull() | (model.strip() == ""), source, "missing model id",
                         first_line)
    for key in TOKEN_COLUMNS:
        if summary.get(f"bad_{key}"):
            _, not_numeric = _token(table, mapping, key)
            raise _offending(table, cols[key], not_numeric, source, "not a finite number", first_line)
        if summary[f"least_{key}"] < 0:
            values, _ = _token(table, mapping, key)
            raise _offending(table, cols[key], values < 0, source, "check: greater_than_or_equal_to(0)", first_line)
        bound = config.max_tokens_per_request
        if bound is not None and key in cols and summary[f"most_{key}"] > bound:
            values, _ = _token(table, mapping, key)
            raise _offending(table, cols[key], values > bound, source,
                             f"more tokens than any model takes in one request (ingestion.request_log."
                             f"max_tokens_per_request: {bound:,.0f}; a typo or a unit error?)", first_line)
    if summary["least_uncached_input"] < 0:
        values = {k: _token(table, mapping, k)[0] for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens")}
        smaller = values["input_tokens"] < values["cache_read_tokens"] + values["cache_write_tokens"]
        raise _offending(table, cols["input_tokens"], smaller, source,
                         "input tokens include cached tokens (input_includes_cache) but are fewer than "
                         "cache reads + cache writes", first_line)
    return summary


def _offending(table: ir.Table, column: str, invalid: ir.Value, source: str, reason: str,
               first_line: int | None = None) -> InvalidInputError:
    """The error for the first offending rows: file lines of a CSV (the file named when the source is a glob or a
    list of files), else rows from 1; in file order on DuckDB."""
    query, files = rows_in_file_order(table, invalid, {"value": table[column]}, limit=5)
    with in_file_order(table):  # worth the slower scan on this failure path alone
        first = query.execute()
    values = [None if pd.isna(v) else v for v in first["value"].tolist()]
    return _fail(source, column, named_rows(first, files), values, reason, first_line)


# ----------------------------------------------------------------- time zones, model ids, buckets


def _utc_minutes(minutes: ir.Table, zone: str, summary: dict[str, Any]) -> ir.Value:
    """UTC minute of each row of the minute table; local minutes shift by the zone's offset.

    A repeated (fall-back) span's local minutes left here are its first pass (the second
    pass was made UTC by ``_placed_in_repeated_spans``); a skipped (spring-forward) time
    is read with the offset before the change (``tokenplan.ingestion.local_times``).
    """
    if pd.isna(summary["local_min"]):
        return minutes.minute
    changes = changes_of_offset(int(summary["local_min"]), int(summary["local_max"]), zone)
    # The offset changes a few times a year: one branch per period of constant offset.
    local = minutes.minute
    branches = [(local < int(end), local - int(offset))
                for end, offset in zip(changes.index[1:], changes.to_numpy()[:-1])]
    shifted = ibis.cases(*branches, else_=local - int(changes.iloc[-1])) if branches else local - int(changes.iloc[-1])
    return ibis.ifelse(minutes.is_local, shifted, minutes.minute)


def _in_spans(minutes: ir.Table, spans: list[LocalSpan]) -> ir.Value:
    """Rows at naive local minutes inside any of ``spans`` (requests or the minute table)."""
    local = minutes.minute
    return minutes.is_local & ibis.or_(*[(local >= s.first) & (local < s.end) for s in spans])


def _requests_in(minutes: ir.Table, spans: list[LocalSpan]) -> list[int]:
    """Requests of the minute table at naive local minutes inside each of ``spans``."""
    if not spans:
        return []
    counts = minutes.aggregate(**{f"span_{i}": minutes.requests.sum(where=_in_spans(minutes, [s])).fill_null(0)
                                  for i, s in enumerate(spans)}).execute().iloc[0]
    return [int(counts[f"span_{i}"]) for i in range(len(spans))]


def _second_pass_reads(rows: pd.DataFrame) -> dict[str | None, int] | None:
    """Where the second pass of one repeated span starts, as the source position (``_read``) from which a file's
    rows (None: every file's) are in it; None when the log's order does not tell.

    The log read as a whole first (files split by hour), else file by file (a file per model or gateway).
    """
    start = second_pass_start(rows["_local"].to_numpy())
    if start is not None:
        return {None: int(rows[READ].iloc[start])}
    if rows[FILE].isna().any() or rows[FILE].nunique() < 2:
        return None
    starts = {}
    for file, in_file in rows.groupby(FILE, sort=False):
        start = second_pass_start(in_file["_local"].to_numpy())
        if start is None:
            return None
        starts[file] = int(in_file[READ].iloc[start])
    return starts


def _placed_in_repeated_spans(table: ir.Table, requests: ir.Table, minutes: ir.Table, labels: list[str],
                              config: RequestLogConfig, mapping: _Mapping, zone: str, spans: list[LocalSpan],
                              source: str) -> tuple[ir.Table, ir.Table, int]:
    """(requests, minute table, requests in a second pass) with each request logged at a naive local time the
    clocks repeat (``spans``, which hold requests) placed in the pass it was made in, from the log's order.

    The second pass's requests become UTC minutes; the first pass's stay local (read as
    the first pass later). Only these requests are read again, in file order. Raise when
    the order does not tell the passes apart, or the backend keeps no file order.
    """
    backend = ibis.get_backend(table)
    minute, is_local = _minutes(table[mapping.columns["timestamp"]], config, zone, backend.name)
    where = is_local & ibis.or_(*[(minute >= s.first) & (minute < s.end) for s in spans])
    if backend.name != "duckdb":
        raise _unplaceable(spans[0], zone, source, "this backend keeps no file order")
    query, _ = rows_in_file_order(table, where, {**{c: table[c] for c in table.columns}, "_local": minute})
    with in_file_order(table):
        held = backend.create_table(ibis.util.gen_name("repeated_hours"), query, temp=True)
    rows = held.select(FILE, READ, "_local").order_by(READ).execute()
    parts, seconds = [], []
    for span in spans:
        in_span = rows[(rows["_local"] >= span.first) & (rows["_local"] < span.end)]
        starts = _second_pass_reads(in_span)
        if starts is None:
            raise _unplaceable(span, zone, source, "the log's order does not show them running forward, going "
                               "back once and running forward again")
        second = ((held._local >= span.first) & (held._local < span.end)
                  & ibis.or_(*[(held[READ] >= read) & (held[FILE] == file if file is not None else True)
                               for file, read in starts.items()]))
        seconds.append(second)
        made = _canonical(held.filter(second).drop(FILE, ROW, READ, "_local"), config, mapping, zone)
        parts.append(made.mutate(minute=made.minute - span.offset, is_local=False))
    first = _canonical(held.filter(~ibis.or_(*seconds)).drop(FILE, ROW, READ, "_local"), config, mapping, zone)
    placed = ibis.union(first, *parts)
    requests = requests.filter(~_in_spans(requests, spans)).union(placed.select(*requests.columns))
    minutes = minutes.filter(~_in_spans(minutes, spans)).union(
        _per_minute(placed, labels, config).select(*minutes.columns))
    return requests, minutes, int(held.filter(ibis.or_(*seconds)).count().execute())


def _unplaceable(span: LocalSpan, zone: str, source: str, why: str) -> InvalidInputError:
    return InvalidInputError(
        f"{source}: requests at naive local times {span.label()} ({zone}), which the clocks repeat when DST ends, "
        f"cannot be placed in the first or the second pass: {why}. Export the timestamps in UTC or with their "
        f"offsets (2026-11-01T01:30:00-05:00), or set ingestion.request_log.timezone to the zone the log is "
        f"written in")


def _model_ids(minutes: ir.Table, aliases: dict[str, str] | None) -> ir.Value:
    """One id per model (see ``normalise_model_id``), mapped in the backend."""
    raw = minutes.select("model").distinct().execute()["model"].tolist()
    changed = {m: normalise_model_id(m, aliases) for m in raw}
    changed = {k: v for k, v in changed.items() if k != v}
    return minutes.model.substitute(changed) if changed else minutes.model


def _bucket_minutes(bucket: str) -> int:
    """Bucket width in minutes (``h`` -> 60); buckets start at multiples of it since 1970."""
    try:
        minutes = pd.Timedelta(pd.tseries.frequencies.to_offset(bucket)) / pd.Timedelta(minutes=1)
    except ValueError:  # calendar widths (W, MS) have no fixed length
        minutes = 0
    if minutes < 1 or minutes != int(minutes) or 1440 % minutes and minutes % 1440:
        raise ValueError(f"ingestion.bucket {bucket!r}: request logs need whole minutes dividing a day, "
                         "or whole days (e.g. 15min, h, D)")
    return int(minutes)


def _per_bucket(minutes: ir.Table, keys: list[str], width: int) -> ir.Table:
    """UTC minute rows -> one row per (bucket ``start`` in minutes since 1970, keys):
    sums for totals, the busiest minute for the peaks."""
    totals = ["requests", *TOKEN_COLUMNS]
    # Local and UTC rows, raw ids of one model and statuses share minutes: add them up first.
    per_minute = minutes.group_by("minute", *keys).aggregate(**{c: minutes[c].sum() for c in totals})
    return per_minute.group_by(start=(per_minute.minute // width) * width, *keys).aggregate(
        **{c: per_minute[c].sum() for c in totals},
        peak_rpm=per_minute.requests.max(),
        # ITPM counts uncached input and cache writes, not cache reads.
        peak_itpm=(per_minute.input_tokens + per_minute.cache_write_tokens).max(),
        peak_otpm=per_minute.output_tokens.max(),
    )


# ----------------------------------------------------------------- the whole plan


def bucket_request_log(
    table: ir.Table,
    config: RequestLogConfig,
    *,
    timezone: str,
    bucket: str,
    series_dimensions: list[str] | None = None,
    model_aliases: dict[str, str] | None = None,
    source: str = "request log",
    first_line: int | None = None,
) -> pd.DataFrame:
    """Request log -> one row per (bucket start UTC, model, dimensions) with totals and peaks.

    Totals: ``requests`` (failed ones included), ``input_tokens`` (uncached),
    ``cache_write_tokens``, ``cache_read_tokens``, ``output_tokens`` (a token column
    the log does not have is left out: unknown, not zero). Peaks per minute inside the
    bucket: ``peak_rpm``, ``peak_itpm`` (uncached input + cache writes), ``peak_otpm``.
    """
    dimensions = list(series_dimensions or [])
    zone = config.timezone or timezone
    width = _bucket_minutes(bucket)
    mapping = _resolve_columns(table, config, dimensions, source)
    if config.input_includes_cache and not {"cache_read_tokens", "cache_write_tokens"} & set(mapping.columns):
        logger.warning("%s: input tokens include cached tokens but the log has no cache columns: "
                       "all input is counted as uncached (peak_itpm is an upper bound)", source)
    requests = _canonical(table, config, mapping, zone)
    labels = ["minute", "is_local", "model", *dimensions, "status", "no_output"]
    keys = ["model", *dimensions]
    with ExitStack() as cached:
        minutes = cached.enter_context(_per_minute(requests, labels, config).cache())
        summary = _check(table, minutes, config, mapping, zone, source, first_line)
        local_times = _local_time_notes(minutes, zone, summary, source)
        if local_times.get("repeated_hour_requests"):
            spans = [LocalSpan(**span) for span in local_times.pop("spans")]
            requests, minutes, second = _placed_in_repeated_spans(table, requests, minutes, labels, config, mapping,
                                                                  zone, spans, source)
            minutes = cached.enter_context(minutes.cache())
            local_times["second_pass_requests"] = second
            logger.info("%s: %d requests at local times the clocks repeat (DST ends) placed by the log's order: "
                        "%d in the second pass", source, local_times["repeated_hour_requests"], second)
        local_times.pop("spans", None)
        if summary["flagged"]:
            _check_same_id_same_values(table, requests, minutes, labels, mapping, source, first_line)
            minutes = cached.enter_context(_without_duplicates(requests, minutes, labels, config).cache())
        minutes = _counted(minutes, config)
        notes = {**_log_summary(minutes, summary, source, config, mapping), **local_times}
        utc = minutes.mutate(minute=_utc_minutes(minutes, zone, summary), model=_model_ids(minutes, model_aliases))
        result = _per_bucket(utc, keys, width).order_by("start", *keys).execute()
    result.insert(0, "timestamp", pd.to_datetime(result.pop("start").astype("int64") * 60, unit="s", utc=True))
    result = result.drop(columns=[c for c in TOKEN_COLUMNS if c not in mapping.columns])
    counts = [c for c in result.columns if c not in ("timestamp", *keys)]
    result[counts] = result[counts].astype(float)
    # What the log held, for the report's "Data read" section (build_usage_buckets keeps it).
    result.attrs["request_log"] = notes
    return result


def with_quiet_buckets(result: pd.DataFrame, keys: list[str], bucket: str) -> pd.DataFrame:
    """The bucketed log plus a zero row for every bucket inside a series' span without requests.

    The log was running then (it logged other requests later), so no request is zero
    requests, not a gap. Time before a series' first request stays out, as for the
    usage APIs (``tokenplan.sources.quiet_buckets``): a model launched mid-log gains no
    history of zeros; after its last request to the log's last bucket it used nothing
    (it stopped). Works on the bucketed result, one row per (bucket, series), never on
    requests.
    """
    if result.empty:
        return result
    width = _bucket_minutes(bucket)
    counts = [c for c in result.columns if c not in ("timestamp", *keys)]
    frames, end = [], result["timestamp"].max()
    for _, rows in result.groupby(keys, sort=False, dropna=False):
        grid = pd.date_range(rows["timestamp"].min(), end, freq=pd.Timedelta(minutes=width),
                             name="timestamp")
        full = rows.set_index("timestamp").reindex(grid)
        full[keys] = rows[keys].iloc[0].to_numpy()
        full[counts] = full[counts].fillna(0.0)
        frames.append(full.reset_index())
    return pd.concat(frames, ignore_index=True).sort_values(["timestamp", *keys]).reset_index(drop=True)


def _log_summary(minutes: ir.Table, summary: dict[str, Any], source: str, config: RequestLogConfig,
                 mapping: _Mapping) -> dict[str, Any]:
    """What the log held, logged and returned: requests read, duplicates removed (and by what), failed requests
    and whether their tokens count (a missing key: the log cannot say, e.g. it has no status)."""
    counts = minutes.aggregate(requests=minutes.requests.sum(), failed=minutes.failed.sum()).execute().iloc[0]
    requests, failed = int(counts["requests"]), int(counts["failed"])
    notes: dict[str, Any] = {"rows": int(summary["requests"]), "requests": requests}
    duplicates = int(summary["requests"]) - requests
    if config.deduplicate:
        notes["duplicates_removed"] = duplicates
        notes["duplicates_by"] = "request id" if "request_id" in mapping.columns else "identical rows"
    if duplicates:
        logger.warning("%s: removed %d duplicate requests (by %s)", source, duplicates, notes["duplicates_by"])
    if "status" in mapping.columns or config.zero_output_is_failure:
        notes["failed_requests"] = failed
        notes["failed_tokens_counted"] = config.failed_tokens
    if failed:
        counted = "counted" if config.failed_tokens else "not counted"
        logger.info("%s: %d of %d requests failed (%.1f%%): counted in requests and peak_rpm, tokens %s",
                    source, failed, requests, 100 * failed / requests, counted)
    logger.info("%s: %d requests aggregated", source, requests)
    return notes


def _local_time_notes(minutes: ir.Table, zone: str, summary: dict[str, Any], source: str) -> dict[str, Any]:
    """Requests at naive local times the clocks repeat (with the ``spans`` holding them) or skip; warns of the
    skipped ones (read with the offset before the change)."""
    if pd.isna(summary["local_min"]):
        return {}
    bounds = int(summary["local_min"]), int(summary["local_max"])
    repeated = repeated_spans(*bounds, zone)
    held = [(s, n) for s, n in zip(repeated, _requests_in(minutes, repeated)) if n]
    skipped = skipped_spans(*bounds, zone)
    in_skipped = sum(_requests_in(minutes, skipped))
    if in_skipped:
        logger.warning("%s: %d requests at local times the clocks skip when DST starts (%s, %s): read with the "
                       "offset before the change, as a clock not yet put forward", source, in_skipped,
                       ", ".join(s.label() for s in skipped), zone)
    return {"repeated_hour_requests": sum(n for _, n in held), "skipped_time_requests": in_skipped,
            "spans": [vars(s) for s, _ in held]}
