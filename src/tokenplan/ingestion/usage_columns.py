"""The columns of a bucketed usage file, read by name: certain aliases renamed, doubtful ones refused.

A count the reader does not know is not silently left out: a file whose input is in
``prompt_tokens`` would otherwise be planned without its input tokens, and its cost
would drop without a word. So, before validation:

- a header that is a canonical name once trimmed, split at its camelCase words and
  lower-cased (``Input Tokens``, ``outputTokens``), or another tool's name for the very
  same count (Anthropic's ``cache_read_input_tokens``, OpenAI's ``completion_tokens`` and
  ``num_model_requests``), is renamed, and the log says so;
- a count-like column whose meaning differs from every canonical column
  (``prompt_tokens`` and ``input_tokens`` in OpenAI's exports include cached tokens;
  ``total_tokens`` mixes input and output) stops the run with the fix;
- any other count-like column stops the run with a "did you mean" and the closest
  count (``GeneratedTokens``: output_tokens), unless ``ingestion.unused_columns`` lists
  it. Count-like: it holds numbers, and a word of its name says tokens, requests, calls,
  a count, a prompt, an input, an output, a completion, generated tokens or the cache,
  whole or in part (``output``, ``output_tok``, ``reqs``), or the name is a typo of a
  count's (``output_tokns``); a word that says it is something else (an id, a time, a
  cost, a rate) makes it not count-like, and so does a ``peak_`` or ``long_context_``
  name;
- a missing ``timestamp`` or ``model`` names the column that probably holds it, or,
  for a file that is another source's layout, the environment that reads it.
"""

from __future__ import annotations

import difflib
import logging
import re

import pandas as pd

from tokenplan.ingestion.number_format import read_numbers
from tokenplan.schemas import COUNT_COLUMNS, PART_COLUMNS, PEAK_COLUMNS, InvalidInputError
from tokenplan.sources.anthropic_console import canonical_header

logger = logging.getLogger(__name__)

__all__ = ["CERTAIN_ALIASES", "likely_count", "read_file_headers", "read_usage_columns"]

REQUIRED = ("timestamp", "model")
CANONICAL = (*REQUIRED, *COUNT_COLUMNS, *PART_COLUMNS, *PEAK_COLUMNS)

# Other tools' names for exactly the canonical count (compared after canonical_header).
CERTAIN_ALIASES = {
    "cache_creation_input_tokens": "cache_write_tokens",  # Anthropic Messages API usage
    "cache_write_input_tokens": "cache_write_tokens",
    "cache_read_input_tokens": "cache_read_tokens",       # Anthropic Messages API usage
    "completion_tokens": "output_tokens",                 # OpenAI, LiteLLM (reasoning included, as billed)
    "num_model_requests": "requests",                     # OpenAI organization usage API
    "n_requests": "requests",
    "num_requests": "requests",
    "number_of_requests": "requests",
    "request_count": "requests",
    "requests_count": "requests",
}

_CACHED = ("holds cache reads: rename it to cache_read_tokens, and make input_tokens exclude them (OpenAI's "
           "prompt_tokens and input_tokens include cached tokens)")
# Names that look canonical but mean something else: what to do instead.
DOUBTFUL = {
    "prompt_tokens": ("did you mean input_tokens? input_tokens is the uncached input, while OpenAI's and "
                      "LiteLLM's prompt_tokens include cache reads (and writes): rename it to input_tokens if "
                      "it holds no cached tokens, else give prompt_tokens minus the cached tokens as "
                      "input_tokens and the cached tokens as cache_read_tokens"),
    "input_cached_tokens": f"did you mean cache_read_tokens? OpenAI's input_cached_tokens {_CACHED}",
    "cached_tokens": f"did you mean cache_read_tokens? If it {_CACHED}",
    "cached_input_tokens": f"did you mean cache_read_tokens? If it {_CACHED}",
    "total_tokens": ("input and output together cannot be priced or rate-limited (they are apart): give "
                     "input_tokens and output_tokens instead and drop total_tokens"),
    "reasoning_tokens": ("OpenAI counts reasoning inside completion_tokens (output_tokens here): drop it if "
                         "output_tokens already includes it"),
}

# A word (of a canonical header) that says it counts something; the short stems only as a word's start, so
# that ``frequency`` or ``stock`` is no count.
_COUNT_WORD = re.compile(r"token|request|completion|prompt|generat|output|input|cache|^(?:tok|req|calls?$|count|cnt$)")
# Words that say a column is something else than a count, whatever else its name says.
_NOT_COUNT_WORDS = frozenset((
    "id", "ids", "uuid", "hash", "key", "name", "type", "kind", "status", "tier", "version", "window",
    "time", "at", "date", "ts", "ms", "sec", "secs", "seconds", "latency", "duration", "ttl",
    "cost", "costs", "price", "usd", "eur", "gbp", "spend", "amount", "rate", "ratio", "per", "pct", "percent",
    "share", "limit", "limits", "rpm", "tpm", "itpm", "otpm",
))
# Columns whose names look like counts but are read elsewhere or documented as not counts.
_NOT_COUNT_PREFIXES = ("peak_", "long_context_")
# Names a misspelt count header is compared with (canonical ones and other tools' names for them).
KNOWN_COUNTS = (*COUNT_COLUMNS, *PART_COLUMNS, *CERTAIN_ALIASES)
TYPO_CUTOFF = 0.8  # difflib's similarity ratio: output_tokns, reqests, rquests; not model or timestamp
# The count a count-like header most likely holds, by the words in it; first match wins.
_LIKELY_COUNT = (
    (re.compile(r"cache.*(?:read|hit)|(?:read|hit).*cache"), "cache_read_tokens"),
    (re.compile(r"cache.*(?:write|creat)|(?:write|creat).*cache"), "cache_write_tokens"),
    (re.compile(r"output|completion|generat|response|(?:^|_)(?:out|gen)(?:_|$)"), "output_tokens"),
    (re.compile(r"input|prompt|context|(?:^|_)in(?:_|$)|req\w*_tok"), "input_tokens"),
    (re.compile(r"(?:^|_)(?:req|call)"), "requests"),
)

# Where a missing required column probably is, by header (compared after canonical_header).
LIKELY_NAMES = {
    "timestamp": ("date", "time", "datetime", "ts", "day", "hour", "period", "bucket", "bucket_start",
                  "start_time", "starttime", "start", "created", "created_at", "timestamp_utc", "date_utc",
                  "usage_date", "usage_date_utc", "time_utc", "datetime_utc", "event_time", "window_start"),
    "model": ("model_name", "model_id", "model_version", "engine", "deployment", "model_group", "llm"),
}

# Headers of other sources' layouts, and the environment that reads them.
CONSOLE_MARKERS = {"usage_date_utc", "usage_input_tokens_no_cache", "usage_output_tokens"}
REQUEST_LOG_MARKERS = {"starttime", "endtime", "request_id", "spend"}


def read_usage_columns(usage: pd.DataFrame, source: str, kept: tuple[str, ...] = (),
                       unused: tuple[str, ...] = ()) -> pd.DataFrame:
    """``usage`` with canonical column names, or InvalidInputError naming the file, the column and the fix.

    ``kept`` are columns the run reads as they are (series dimensions); ``unused`` are
    count-like columns the user has chosen to leave out (``ingestion.unused_columns``).
    """
    headers = {column: canonical_header(column) for column in usage.columns}
    renames = _renames(usage.columns, kept)
    _require(usage.rename(columns=renames), source, kept)  # first: another source's layout is named as such
    _refuse_duplicates(usage, renames, source)
    unused_headers = {canonical_header(c) for c in unused}
    reasons = {}
    for column, header in headers.items():
        if (column in renames or column in CANONICAL or column in kept or column in unused
                or header in unused_headers):
            continue
        if header in DOUBTFUL:
            reasons[column] = DOUBTFUL[header]
        elif _count_like(header) and _numeric(usage[column], usage.attrs.get("decimal", ".")):
            likely = likely_count(header)
            reasons[column] = (f"did you mean {likely}? Rename it to {likely} if it holds that count" if likely
                               else f"did you mean one of {list(COUNT_COLUMNS)}? Rename it to the count it holds")
    if reasons:
        column, reason = next(iter(reasons.items()))
        others = f" (also not read: {list(reasons)[1:]})" if len(reasons) > 1 else ""
        raise InvalidInputError(
            f"{source}: column '{column}'{_files_holding(usage, column)} looks like a count but is not read: "
            f"{reason}; or list it in ingestion.unused_columns to leave it out{others}")
    for column, target in renames.items():
        logger.info("%s: column '%s' read as %s", source, column, target)
    out = usage.rename(columns=renames)
    # An error further on names the column as the file does.
    out.attrs["source_columns"] = {**usage.attrs.get("source_columns", {}), **{t: c for c, t in renames.items()}}
    return out


def read_file_headers(usage: pd.DataFrame, source: str) -> pd.DataFrame:
    """One file of a folder with its headers read as canonical names, or InvalidInputError naming the file.

    Done per file before the files are joined: ``Model`` in one file and ``model`` in the
    next would otherwise be two columns of the joined table, each blank in the other's
    rows. A file with no usage column at all (a rate-limits table left in the folder) is
    named as not usage, rather than failing later as rows without a model.
    """
    renames = _renames(usage.columns)
    _refuse_duplicates(usage, renames, source)
    out = usage.rename(columns=renames)
    if not set(out.columns) & set(CANONICAL):
        _require(out, source, (), folder=True)  # another source's layout, or a misnamed column, is named as such
    for column, target in renames.items():
        logger.info("%s: column '%s' read as %s", source, column, target)
    out.attrs["source_columns"] = {**usage.attrs.get("source_columns", {}), **{t: c for c, t in renames.items()}}
    return out


def _renames(columns: pd.Index, kept: tuple[str, ...] = ()) -> dict[str, str]:
    """Header -> canonical name, for headers that are one once trimmed and lower-cased, or a certain alias."""
    renames = {}
    for column in columns:
        if column in CANONICAL or column in kept:
            continue
        header = canonical_header(column)
        target = header if header in CANONICAL else CERTAIN_ALIASES.get(header)
        if target is not None:
            renames[column] = target
    return renames


def _refuse_duplicates(usage: pd.DataFrame, renames: dict[str, str], source: str) -> None:
    by_target: dict[str, list[str]] = {}
    for column, target in renames.items():
        by_target.setdefault(target, []).append(column)
    for target, columns in by_target.items():
        both = ([target] if target in usage.columns else []) + columns
        if len(both) > 1:
            raise InvalidInputError(
                f"{source}: columns {both} would all be read as {target}: keep one (drop or rename the others)")


def _count_like(header: str) -> bool:
    """Whether a canonical header names a count: a count word in it, or a typo of a known count's name."""
    words = header.split("_")
    if header.startswith(_NOT_COUNT_PREFIXES) or _NOT_COUNT_WORDS.intersection(words):
        return False
    return (any(_COUNT_WORD.search(word) for word in words) or header.startswith(("n_", "num_"))
            or bool(difflib.get_close_matches(header, KNOWN_COUNTS, n=1, cutoff=TYPO_CUTOFF)))


def likely_count(header: str) -> str | None:
    """The canonical count a count-like header most likely holds, None when its name does not tell."""
    for pattern, count in _LIKELY_COUNT:
        if pattern.search(header):
            return count
    closest = difflib.get_close_matches(header, KNOWN_COUNTS, n=1, cutoff=TYPO_CUTOFF)
    if not closest:
        return None
    return closest[0] if closest[0] in CANONICAL else CERTAIN_ALIASES.get(closest[0])


def _files_holding(usage: pd.DataFrame, column: str) -> str:
    """`` (in 2026-01.csv, 2026-02.csv)``: the files of a folder whose rows fill ``column``; else nothing."""
    if "file" not in (usage.index.names or []):
        return ""
    files = usage.index.get_level_values("file")[usage[column].notna().to_numpy()].unique().tolist()
    if not files:
        return ""
    return f" (in {', '.join(files[:3])}{f', ... ({len(files) - 3} more)' if len(files) > 3 else ''})"


def _numeric(values: pd.Series, decimal: str) -> bool:
    present = values.dropna()
    if present.empty:
        return True  # an empty count column is still a count the file meant to give
    return bool(read_numbers(present, decimal).notna().all())


def _require(usage: pd.DataFrame, source: str, kept: tuple[str, ...], folder: bool | None = None) -> None:
    headers = {canonical_header(c) for c in usage.columns}
    folder = "file" in (usage.index.names or []) if folder is None else folder
    for column in (*REQUIRED, *kept):
        if column in usage.columns:
            continue
        found = f"(columns found: {list(usage.columns)})"
        if headers & CONSOLE_MARKERS:
            how = ("--params usage_format=tokenplan.datasets.AnthropicConsoleCSVDataset" if folder
                   else "--env anthropic_console --params usage_file=PATH")
            raise InvalidInputError(
                f"{source}: this is an Anthropic Console usage export, not a bucketed usage file: read it with "
                f"{how} {found}")
        if len(headers & REQUEST_LOG_MARKERS) >= 2:
            raise InvalidInputError(
                f"{source}: required column '{column}' is missing, and this looks like a request-level log "
                f"(one row per call): read it with --env request_log --params request_log_file=PATH "
                f"(the column map is ingestion.request_log) {found}")
        likely = [c for c in usage.columns if canonical_header(c) in LIKELY_NAMES.get(column, ())]
        if likely:
            raise InvalidInputError(
                f"{source}: required column '{column}' is missing: did you mean '{likely[0]}'? Rename it to "
                f"{column} {found}")
        if not set(usage.columns) & set(CANONICAL):
            raise InvalidInputError(
                f"{source}: not a usage file: none of its columns is {', '.join(REQUIRED)} or a count {found}"
                + ("; move it out of the folder" if folder else ""))
        raise InvalidInputError(f"{source}: required column '{column}' is missing {found}")
