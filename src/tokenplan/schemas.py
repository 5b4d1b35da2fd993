"""Data contracts at the ingestion boundary, and the one error every bad input raises.

Inputs are checked once, here; code downstream trusts them. A failure names the
source (file), the column, the first offending rows and their values, e.g.::

    raw_usage (data/01_raw/usage.csv): column 'input_tokens' has invalid values at
    lines [19, 20]: [-5, -2] (check: greater_than_or_equal_to(0))

Rows are shown as an editor counts lines when the source is a text file with a header
(``df.attrs["first_line"] = 2``: the first data row is line 2), else as rows counted
from 1; a folder source shows the file and its line (``2026-07.csv line 7``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pandera.pandas as pa

from tokenplan.ingestion.number_format import convention, read_numbers

TOKEN_COLUMNS = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")
COUNT_COLUMNS = ("requests", *TOKEN_COLUMNS)
# Optional counts that are a part of another count (part -> whole): summed like counts, never forecast.
# Cache writes kept for 1 hour are billed at a higher rate than those kept for 5 minutes.
CACHE_WRITE_1H_TOKENS = "cache_write_1h_tokens"
# Tokens of requests above the base context window (Anthropic: 200K input), billed at a long-context tier.
LONG_CONTEXT_TOKENS = {f"long_context_{t}": t for t in TOKEN_COLUMNS}
PART_COLUMNS = {CACHE_WRITE_1H_TOKENS: "cache_write_tokens", **LONG_CONTEXT_TOKENS}
SUMMED_COLUMNS = (*COUNT_COLUMNS, *PART_COLUMNS)  # added up when rows are merged into a bucket
PEAK_COLUMNS = ("peak_rpm", "peak_itpm", "peak_otpm")
EVENT_KINDS = ("campaign", "launch", "holiday", "outage")
SIZED_EVENT_KINDS = ("campaign", "launch")
MAX_ROWS_SHOWN = 5

__all__ = [
    "COUNT_COLUMNS",
    "EVENT_KINDS",
    "PEAK_COLUMNS",
    "TOKEN_COLUMNS",
    "CACHE_WRITE_1H_TOKENS",
    "LONG_CONTEXT_TOKENS",
    "PART_COLUMNS",
    "SUMMED_COLUMNS",
    "InvalidInputError",
    "first_line_of",
    "source_columns",
    "naive_utc",
    "refuse_totals_rows",
    "parse_timestamps",
    "validate_events",
    "validate_usage",
    "where",
]


class InvalidInputError(ValueError):
    """Bad input data; the message names source, column, rows and values."""


def _source(df: pd.DataFrame, default: str) -> str:
    return df.attrs.get("source", default)


def _fail(source: str, column: str, rows: list, values: list, reason: str,
          first_line: int | None = None) -> InvalidInputError:
    rows, values = rows[:MAX_ROWS_SHOWN], [_shown_value(v) for v in values[:MAX_ROWS_SHOWN]]
    return InvalidInputError(
        f"{source}: column '{column}' has invalid values at {where(rows, first_line)}: {values} ({reason})"
    )


class _Blank:
    """A blank cell in an error's list of values: ``[blank]``, not ``[nan]``."""

    def __repr__(self) -> str:
        return "blank"


def _shown_value(value):
    """A value as an error lists it: a missing one (NaN, None, NaT) as ``blank``."""
    try:
        return _Blank() if pd.isna(value) else value
    except (TypeError, ValueError):  # a list or array: not a cell
        return value


def where(rows: list, first_line: int | None = None) -> str:
    """``lines [19, 20]`` (a text file: data row 0 is line ``first_line``), ``rows [1, 2]``
    (counted from 1), or ``[2026-07.csv line 7]`` for (file, row) labels of a folder source."""
    def position(row) -> str | int:
        if isinstance(row, tuple) and len(row) == 2:
            file, inner = row
            return f"{file} line {int(inner) + first_line}" if first_line else f"{file} row {int(inner) + 1}"
        return int(row) + (first_line or 1)

    shown = [position(r) for r in rows]
    if any(isinstance(p, str) for p in shown):
        return "[" + ", ".join(map(str, shown)) + "]"
    return f"{'lines' if first_line else 'rows'} {shown}"


def source_columns(df: pd.DataFrame) -> dict[str, str]:
    """Canonical column -> the source's own header it was read from (``df.attrs["source_columns"]``), so an
    error names the column the user's file has (``usage_output_tokens``, not ``output_tokens``)."""
    return dict(df.attrs.get("source_columns", {}))


def first_line_of(df: pd.DataFrame) -> int | None:
    """The line of a text file holding data row 0 (2 below a header), or None: rows count from 1."""
    return df.attrs.get("first_line")


def require_columns(df: pd.DataFrame, required: tuple[str, ...], source: str) -> None:
    """Raise naming the first required column ``df`` lacks."""
    for column in required:
        if column not in df.columns:
            raise InvalidInputError(
                f"{source}: required column '{column}' is missing (columns found: {list(df.columns)})"
            )


# A numeric UTC offset: +02:00, -0500, +02.
_NUMERIC_ZONE = r"[+-]\d{2}(?::?\d{2})?"
# A zone at the end of a time: Z, UTC or a numeric offset. A numeric offset counts only after a clock time
# (10:00, or ISO's compact T10, T1000, T100000): the end of a date alone (2026-09-27, 27-09-2026) is not one,
# and such dates are read in the configured zone.
_OFFSET = re.compile(rf"(?:[zZ]|UTC|(?:\d:\d{{2}}(?::\d{{2}})?|T\d{{2,6}})(?:[.,]\d+)?\s*{_NUMERIC_ZONE})$")
# A date whose first two fields may be day and month either way round: 05/01/2026, 5.1.26.
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")
_DAY_MONTH_FORM = re.compile(r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b")
# A midnight as written: a date alone, or 00:00[:00[.000]] before any zone.
_MIDNIGHT = re.compile(rf"^[^:]*$|[T ]00:00(?::00(?:\.0+)?)?\s*(?:[zZ]|UTC|{_NUMERIC_ZONE})?$")


def naive_utc(times: pd.Series) -> pd.Series:
    """The timestamps in naive UTC (tz-aware ones converted, naive ones kept): histories, forecasts and the
    report's CSVs spell them differently, and comparing them needs one spelling."""
    times = pd.to_datetime(times)
    return times.dt.tz_convert(None) if times.dt.tz is not None else times


def parse_timestamps(
    values: pd.Series, source: str, column: str, timezone: str, groups: pd.Series | None = None,
    timestamp_format: str | None = None, first_line: int | None = None, days: bool = False,
) -> pd.Series:
    """Parse to tz-aware UTC; naive values are read in ``timezone``.

    ISO 8601 with any offsets, changing (DST) or mixed (``Z`` and ``+02:00``) in one
    column, is read exactly, value by value. Dates written ``05/01/2026`` are read
    day-first or month-first only when the column itself decides it (a first field above
    12: day-first; a second field above 12: month-first); otherwise, or with both, the
    run stops unless ``timestamp_format`` (strftime codes) says which.

    At a DST fall-back the local hour 01:00 occurs twice: within each group (series),
    its first occurrence is read as daylight time and the second as standard time, so
    both buckets survive as distinct UTC hours. A non-existent spring-forward time
    shifts to the next valid instant. No bucket is duplicated or dropped.

    With ``days`` (usage rows, each a bucket) and every value a midnight as written (a daily
    file), each is its written date,
    at midnight UTC: ``2026-03-01T00:00+01:00`` (or ``2026-03-01 00:00`` read in
    ``Europe/Berlin``) is the day March 1, as ``2026-03-01`` is, not 23:00 UTC on February
    28, which put every day of such a file a day early (weekdays, holidays and events a day
    off) and, at +12, two days of New Zealand's winter on one UTC day when rounded.
    """
    def fail(mask: pd.Series, reason: str) -> InvalidInputError:
        return _fail(source, column, list(values.index[mask]), list(values[mask]), reason, first_line)

    if pd.api.types.is_datetime64_any_dtype(values):
        if values.isna().any():
            raise fail(values.isna(), "not a parseable timestamp")
        if getattr(values.dt, "tz", None) is not None:
            return values.dt.tz_convert("UTC")
        return _localise(values, timezone, groups)
    if values.empty:  # no rows (an empty events calendar): nothing to parse, whatever the dtype
        return pd.to_datetime(values, utc=True)
    if pd.api.types.is_numeric_dtype(values):
        raise fail(values.notna() | values.isna(), "a number, not a date and time (e.g. 2026-01-05T10:00:00Z)")
    text = values.astype("string").str.strip()
    blank = text.isna() | (text == "")
    if blank.any():
        raise fail(blank, "not a parseable timestamp")
    dayfirst = None if timestamp_format else _day_first(text, fail)
    aware = text.str.contains(_OFFSET).astype(bool)
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if aware.any():
        parsed[aware] = _to_datetime(text[aware], timestamp_format, dayfirst, utc=True)
    if (~aware).any():
        naive = _to_datetime(text[~aware], timestamp_format, dayfirst, utc=False)
        if naive.notna().any():
            good = naive.notna()
            parsed[naive.index[good]] = _localise(naive[good], timezone,
                                                  None if groups is None else groups[naive.index[good]])
    bad = parsed.isna()
    if bad.any():
        hint = f"format {timestamp_format!r}" if timestamp_format else "e.g. 2026-01-05T10:00:00Z"
        raise fail(bad, f"not a parseable timestamp ({hint})")
    if days and text.str.contains(_MIDNIGHT).all():
        return _written_dates(text, aware, parsed, naive if (~aware).any() else None)
    return parsed


def _written_dates(text: pd.Series, aware: pd.Series, parsed: pd.Series, naive: pd.Series | None) -> pd.Series:
    """Midnights as written, each as its written date at midnight UTC (``parsed`` where a zone's is not read)."""
    walls = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if naive is not None:
        walls[naive.index] = naive.dt.tz_localize(None) if naive.dt.tz is not None else naive
    if aware.any():
        written = {t: _wall_time(t) for t in text[aware].unique()}
        walls[aware] = text[aware].map(written).astype("datetime64[ns]")
    if walls.isna().any():
        return parsed
    return walls.dt.normalize().dt.tz_localize("UTC")


def _wall_time(value: str) -> pd.Timestamp:
    """The clock time a value with a zone was written at (NaT if pandas cannot read it alone)."""
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        return pd.NaT
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def _to_datetime(text: pd.Series, timestamp_format: str | None, dayfirst: bool | None, utc: bool) -> pd.Series:
    """Parse ``text`` (NaT where unparseable): the given format, else ISO 8601 then any other form."""
    if timestamp_format:
        return pd.to_datetime(text, format=timestamp_format, errors="coerce", utc=utc)
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=utc)
    rest = parsed.isna()
    if rest.any():
        # Value by value: ISO rows above are not re-read, and a day-first reading is
        # applied only to the rows written day/month/year.
        day_month = text[rest].str.contains(_DAY_MONTH_FORM)
        for subset, first in ((text[rest][day_month], bool(dayfirst)), (text[rest][~day_month], False)):
            if len(subset):
                parsed[subset.index] = pd.to_datetime(subset, format="mixed", dayfirst=first, errors="coerce",
                                                      utc=utc)
    return parsed


def _day_first(text: pd.Series, fail) -> bool | None:
    """True/False when the column's ``dd/mm`` or ``mm/dd`` dates decide the order; None if it has none."""
    fields = text.str.extract(_DAY_MONTH).dropna()
    if fields.empty:
        return None
    first, second = fields[0].astype(int), fields[1].astype(int)
    if (first > 12).any() and (second > 12).any():
        rows = text.index.isin(fields.index[(first > 12) | (second > 12)])
        raise fail(pd.Series(rows, index=text.index),
                   "dates are written both day-first and month-first: set ingestion.timestamp_format")
    if (first > 12).any():
        return True
    if (second > 12).any():
        return False
    day_first, month_first = _format_examples(str(text[fields.index[0]]))
    # Quoted: Kedro reads a --params value as YAML, where a leading % is a directive.
    raise fail(pd.Series(text.index.isin(fields.index[:1]), index=text.index),
               f"ambiguous date: day-first or month-first? Set ingestion.timestamp_format, e.g. "
               f"--params \"ingestion.timestamp_format='{day_first}'\" (or '{month_first}')")


def _format_examples(value: str) -> tuple[str, str]:
    """The day-first and month-first strftime formats a value such as ``01.08.2026 10:00`` is written in."""
    match = re.match(r"^\s*\d{1,2}([/.-])\d{1,2}[/.-](\d{2,4})(?:[ T](\d{1,2}:\d{2})(:\d{2})?)?", value)
    if match is None:
        return "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M"
    separator, year, minutes, seconds = match.groups()
    rest = f"{separator}{'%Y' if len(year) == 4 else '%y'}"
    if minutes:
        rest += f"{value[match.end(2)]}%H:%M" + (":%S" if seconds else "")
    return f"%d{separator}%m{rest}", f"%m{separator}%d{rest}"


def _localise(naive: pd.Series, timezone: str, groups: pd.Series | None) -> pd.Series:
    first_seen = _first_occurrence(naive, groups)
    local = naive.dt.tz_localize(timezone, ambiguous=first_seen, nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def _first_occurrence(naive: pd.Series, groups: pd.Series | None):
    keys = [naive] if groups is None else [groups, naive]
    return (naive.groupby(keys, sort=False).cumcount() == 0).to_numpy()


def _check(schema: pa.DataFrameSchema, df: pd.DataFrame, source: str, first_line: int | None = None,
           names: dict[str, str] | None = None) -> pd.DataFrame:
    # Validated by position: pandera reports a (file, row) label of a folder source as text.
    labels = df.index
    try:
        validated = schema.validate(df.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        first = cases.iloc[0]
        column = first["column"] if pd.notna(first["column"]) else str(first["check"])
        same = cases[(cases["column"] == first["column"]) & (cases["check"] == first["check"])]
        rows = [labels[int(i)] if pd.notna(i) else i for i in same["index"]]
        raise _fail(source, (names or {}).get(str(column), str(column)), rows, same["failure_case"].tolist(),
                    f"check: {first['check']}", first_line) from None
    validated.index = labels
    return validated


def _count_column(nullable: bool = True) -> pa.Column:
    return pa.Column(float, checks=pa.Check.ge(0), nullable=nullable, coerce=False, required=False)


USAGE_SCHEMA = pa.DataFrameSchema(
    {
        "timestamp": pa.Column("datetime64[ns, UTC]"),
        "model": pa.Column(str, checks=pa.Check.str_length(min_value=1)),
        **{c: _count_column() for c in (*SUMMED_COLUMNS, *PEAK_COLUMNS)},
    },
    strict=False,
)

EVENTS_SCHEMA = pa.DataFrameSchema(
    {
        "start": pa.Column("datetime64[ns, UTC]"),
        "end": pa.Column("datetime64[ns, UTC]"),
        "name": pa.Column(str),
        "kind": pa.Column(str, checks=pa.Check.isin(EVENT_KINDS)),
        "scope": pa.Column(str, nullable=True, required=False),
        # Planner-stated multiplier on the scope's traffic while the event is active
        # (1.3 = +30%); NaN = unknown, learned from past events of its kind.
        "effect": pa.Column(float, checks=pa.Check.gt(0), nullable=True, required=False),
    },
    strict=False,
)


def _numeric(df: pd.DataFrame, columns: tuple[str, ...], source: str, first_line: int | None = None,
             names: dict[str, str] | None = None) -> pd.DataFrame:
    """Float ``columns``, read with the file's decimal mark (``df.attrs["decimal"]``, a point unless the
    reader found a comma), or InvalidInputError naming the first cells that are not such numbers."""
    out = df.copy()
    decimal = df.attrs.get("decimal", ".")
    for column in columns:
        if column not in out.columns:
            continue
        values = read_numbers(out[column], decimal)
        blank = out[column].isna()
        if not pd.api.types.is_numeric_dtype(out[column]):  # a text cell of spaces is blank too
            blank |= out[column].astype("string").str.strip().eq("").fillna(False).astype(bool)
        unread = values.isna() & ~blank
        bad = unread | np.isinf(values)
        if bad.any():
            how = f"; this file writes numbers with a {convention(decimal)}" if unread.any() else ""
            raise _fail(source, (names or {}).get(column, column), list(out.index[bad]), list(out.loc[bad, column]),
                        f"not a finite number{how}", first_line)
        out[column] = values
    return out


# A spreadsheet's totals row below the data: "Total", "Grand total", "Sum", "Subtotal".
_TOTALS_LABEL = re.compile(r"^\s*(?:grand\s+|sub-?)?(?:totals?|sum)\s*:?\s*$", re.IGNORECASE)


def refuse_totals_rows(df: pd.DataFrame, columns: list[str], source: str, first_line: int | None = None,
                       names: dict[str, str] | None = None) -> None:
    """Raise naming the first row labelled as a total in one of ``columns`` (read as usage, it would count twice)."""
    for column in (c for c in columns if c in df.columns):
        labelled = df[column].astype("string").str.contains(_TOTALS_LABEL).fillna(False).astype(bool)
        if labelled.any():
            row = df.index[labelled][0]
            raise InvalidInputError(
                f"{source}: a totals row at {where([row], first_line)} (column '{(names or {}).get(column, column)}' "
                f"is {df.loc[row, column]!r}): remove it; the run adds up the rows itself")


def validate_usage(df: pd.DataFrame, timezone: str = "UTC", source: str = "usage",
                   series_columns: tuple[str, ...] = ("model",), timestamp_format: str | None = None,
                   ) -> pd.DataFrame:
    """Return bucketed usage with UTC timestamps and float counts, or raise InvalidInputError.

    ``series_columns`` (the model and any split such as workspace) identify a series:
    the repeated local hour of a DST fall-back is resolved within each series.
    """
    source, first_line, names = _source(df, source), first_line_of(df), source_columns(df)
    series_columns = tuple(dict.fromkeys(("model", *series_columns)))
    require_columns(df, ("timestamp", *series_columns), source)
    if df.empty:
        raise InvalidInputError(f"{source}: no data rows (the file has only a header)")
    present = [c for c in COUNT_COLUMNS if c in df.columns]
    if not present:
        raise InvalidInputError(f"{source}: needs at least one of the columns {list(COUNT_COLUMNS)}")
    _require_wholes(df, source)
    refuse_totals_rows(df, ["timestamp", *series_columns], source, first_line, names)
    out = _numeric(df, (*SUMMED_COLUMNS, *PEAK_COLUMNS), source, first_line, names)
    # Checked before any cast: str(None) would silently become a series named "None", and
    # a blank id a series named "".
    model = out["model"].astype("string").str.strip()
    missing = model.isna() | (model == "")
    if missing.any():
        raise _fail(source, names.get("model", "model"), list(out.index[missing]), list(out.loc[missing, "model"]),
                    "missing model id", first_line)
    out["model"] = model.astype(str)
    series = out.groupby(list(series_columns), sort=False, dropna=False).ngroup()
    out["timestamp"] = parse_timestamps(out["timestamp"], source, names.get("timestamp", "timestamp"), timezone, series,
                                        timestamp_format, first_line, days=True)
    out["timestamp"] = out["timestamp"].astype("datetime64[ns, UTC]")
    out = _check(USAGE_SCHEMA, out, source, first_line, names)
    _check_parts(out, source, first_line)
    _check_peaks(out, source, first_line, names)
    return out


# What each peak column's busiest minute counts, of the row's own totals.
PEAK_TOTALS = {"peak_rpm": ("requests",), "peak_itpm": ("input_tokens", "cache_write_tokens"),
               "peak_otpm": ("output_tokens",)}


def _check_peaks(usage: pd.DataFrame, source: str, first_line: int | None, names: dict[str, str] | None) -> None:
    """Raise naming the rows where a bucket's busiest minute is more than the bucket's own total of what it counts.

    A minute is part of its bucket: 2,790 requests in the busiest minute of an hour of 558 is a slip (a
    peak per second, or a column shifted), and the capacity plan replays the ratio (here 300 times the mean
    minute) as the bucket's burstiness: a user's RPM plan went to ten times its history's.
    """
    for peak, parts in PEAK_TOTALS.items():
        present = [c for c in parts if c in usage.columns]
        if peak not in usage.columns or parts[0] not in present:
            continue
        total = usage[present].sum(axis=1, min_count=len(present))  # a blank part: unknown, not zero
        over = usage[peak].notna() & total.notna() & (usage[peak] > total * (1 + 1e-9) + 1e-9)
        if over.any():
            raise _fail(source, (names or {}).get(peak, peak), list(usage.index[over]), list(usage.loc[over, peak]),
                        f"a busiest minute more than the row's own {' + '.join(repr(c) for c in present)} "
                        f"({', '.join(f'{v:g}' for v in total[over].head(5))}): a minute is part of its bucket",
                        first_line)


def _require_wholes(df: pd.DataFrame, source: str) -> None:
    """A part column needs its whole: 1-hour cache writes alone do not say how many writes there were."""
    for part, whole in PART_COLUMNS.items():
        if part in df.columns and whole not in df.columns:
            raise InvalidInputError(f"{source}: column '{part}' is a part of '{whole}', but '{whole}' is missing: "
                                    f"add it, or drop '{part}'")


def _check_parts(usage: pd.DataFrame, source: str, first_line: int | None) -> None:
    """Raise naming the rows where a part is more than its whole (or its whole is blank)."""
    for part, whole in PART_COLUMNS.items():
        if part not in usage.columns:
            continue
        over = usage[part].notna() & ~(usage[part] <= usage[whole])
        if over.any():
            raise _fail(source, part, list(usage.index[over]), list(usage.loc[over, part]),
                        f"more than '{whole}' on the same row, of which it is a part", first_line)


def validate_events(df: pd.DataFrame, timezone: str = "UTC", source: str = "events",
                    timestamp_format: str | None = None) -> pd.DataFrame:
    """Return the events calendar with UTC start/end, or raise InvalidInputError."""
    source, first_line = _source(df, source), first_line_of(df)
    require_columns(df, ("start", "end", "name", "kind"), source)
    out = df.copy()
    for column in ("start", "end"):
        out[column] = parse_timestamps(out[column], source, column, timezone,
                                       timestamp_format=timestamp_format, first_line=first_line
                                       ).astype("datetime64[ns, UTC]")
    out["scope"] = out["scope"].fillna("").astype(str) if "scope" in out else ""
    if "effect" in out:  # a blank cell is "unknown", like an empty one
        out["effect"] = out["effect"].replace(r"^\s*$", np.nan, regex=True)
    out = _numeric(out, ("effect",), source, first_line) if "effect" in out else out.assign(effect=np.nan)
    out = _check(EVENTS_SCHEMA, out, source, first_line)
    # Holidays come from the `holidays` package as well as the calendar and are learned
    # from past years; an outage is a gap. A stated size is for campaigns and launches.
    misplaced = ~out["kind"].isin(SIZED_EVENT_KINDS) & out["effect"].notna()
    if misplaced.any():
        raise _fail(source, "effect", list(out.index[misplaced]), list(out.loc[misplaced, "effect"]),
                    f"an effect can be stated only for {list(SIZED_EVENT_KINDS)}: leave it empty", first_line)
    backwards = out["end"] <= out["start"]
    if backwards.any():
        raise _fail(source, "end", list(out.index[backwards]), list(df.loc[backwards, "end"]),
                    "end not after start", first_line)
    return out
