"""Data contracts at the ingestion boundary, and the one error every bad input raises.

Inputs are checked once, here; code downstream trusts them. A failure names the
source (file), the column, the first offending rows and their values, e.g.::

    raw_usage (data/01_raw/usage.csv): column 'input_tokens' has invalid values at
    rows [17, 18]: [-5, -2] (check: greater_than_or_equal_to(0))
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

TOKEN_COLUMNS = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")
COUNT_COLUMNS = ("requests", *TOKEN_COLUMNS)
PEAK_COLUMNS = ("peak_rpm", "peak_itpm", "peak_otpm")
EVENT_KINDS = ("campaign", "launch", "holiday", "outage")
SIZED_EVENT_KINDS = ("campaign", "launch")
MAX_ROWS_SHOWN = 5

__all__ = [
    "COUNT_COLUMNS",
    "EVENT_KINDS",
    "PEAK_COLUMNS",
    "TOKEN_COLUMNS",
    "InvalidInputError",
    "parse_timestamps",
    "validate_events",
    "validate_usage",
]


class InvalidInputError(ValueError):
    """Bad input data; the message names source, column, rows and values."""


def _source(df: pd.DataFrame, default: str) -> str:
    return df.attrs.get("source", default)


def _fail(source: str, column: str, rows: list, values: list, reason: str) -> InvalidInputError:
    rows, values = rows[:MAX_ROWS_SHOWN], values[:MAX_ROWS_SHOWN]
    return InvalidInputError(
        f"{source}: column '{column}' has invalid values at rows {rows}: {values} ({reason})"
    )


def require_columns(df: pd.DataFrame, required: tuple[str, ...], source: str) -> None:
    """Raise naming the first required column ``df`` lacks."""
    for column in required:
        if column not in df.columns:
            raise InvalidInputError(
                f"{source}: required column '{column}' is missing (columns found: {list(df.columns)})"
            )


def parse_timestamps(
    values: pd.Series, source: str, column: str, timezone: str, groups: pd.Series | None = None
) -> pd.Series:
    """Parse to tz-aware UTC; naive values are read in ``timezone``.

    At a DST fall-back the local hour 01:00 occurs twice: within each group (series),
    its first occurrence is read as daylight time and the second as standard time, so
    both buckets survive as distinct UTC hours. A non-existent spring-forward time
    shifts to the next valid instant. No bucket is duplicated or dropped.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=False, format="mixed")
        bad = parsed.isna() & values.notna()
        if bad.any() or values.isna().any():
            mask = bad | values.isna()
            raise _fail(source, column, list(values.index[mask]), list(values[mask]),
                        "not a parseable timestamp")
    if getattr(parsed.dt, "tz", None) is None:
        first_seen = _first_occurrence(parsed, groups)
        local = parsed.dt.tz_localize(timezone, ambiguous=first_seen, nonexistent="shift_forward")
        return local.dt.tz_convert("UTC")
    return parsed.dt.tz_convert("UTC")


def _first_occurrence(naive: pd.Series, groups: pd.Series | None):
    keys = [naive] if groups is None else [groups, naive]
    return (naive.groupby(keys, sort=False).cumcount() == 0).to_numpy()


def _check(schema: pa.DataFrameSchema, df: pd.DataFrame, source: str) -> pd.DataFrame:
    try:
        return schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        first = cases.iloc[0]
        column = first["column"] if pd.notna(first["column"]) else str(first["check"])
        same = cases[(cases["column"] == first["column"]) & (cases["check"] == first["check"])]
        raise _fail(source, str(column), same["index"].tolist(), same["failure_case"].tolist(),
                    f"check: {first['check']}") from None


def _count_column(nullable: bool = True) -> pa.Column:
    return pa.Column(float, checks=pa.Check.ge(0), nullable=nullable, coerce=False, required=False)


USAGE_SCHEMA = pa.DataFrameSchema(
    {
        "timestamp": pa.Column("datetime64[ns, UTC]"),
        "model": pa.Column(str, checks=pa.Check.str_length(min_value=1)),
        **{c: _count_column() for c in (*COUNT_COLUMNS, *PEAK_COLUMNS)},
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


def _numeric(df: pd.DataFrame, columns: tuple[str, ...], source: str) -> pd.DataFrame:
    out = df.copy()
    for column in columns:
        if column not in out.columns:
            continue
        values = pd.to_numeric(out[column], errors="coerce")
        bad = (values.isna() & out[column].notna()) | np.isinf(values)
        if bad.any():
            raise _fail(source, column, list(out.index[bad]), list(out.loc[bad, column]), "not a finite number")
        out[column] = values.astype(float)
    return out


def validate_usage(df: pd.DataFrame, timezone: str = "UTC", source: str = "usage",
                   series_columns: tuple[str, ...] = ("model",)) -> pd.DataFrame:
    """Return bucketed usage with UTC timestamps and float counts, or raise InvalidInputError.

    ``series_columns`` (the model and any split such as workspace) identify a series:
    the repeated local hour of a DST fall-back is resolved within each series.
    """
    source = _source(df, source)
    series_columns = tuple(dict.fromkeys(("model", *series_columns)))
    require_columns(df, ("timestamp", *series_columns), source)
    present = [c for c in COUNT_COLUMNS if c in df.columns]
    if not present:
        raise InvalidInputError(f"{source}: needs at least one of the columns {list(COUNT_COLUMNS)}")
    out = _numeric(df, (*COUNT_COLUMNS, *PEAK_COLUMNS), source)
    series = out.groupby(list(series_columns), sort=False, dropna=False).ngroup()
    out["timestamp"] = parse_timestamps(out["timestamp"], source, "timestamp", timezone, series)
    out["timestamp"] = out["timestamp"].astype("datetime64[ns, UTC]")
    missing = out["model"].isna()
    if missing.any():
        # Checked before the cast: str(None) would silently become a series named "None".
        raise _fail(source, "model", list(out.index[missing]), list(out.loc[missing, "model"]), "missing model id")
    out["model"] = out["model"].astype(str)
    return _check(USAGE_SCHEMA, out, source)


def validate_events(df: pd.DataFrame, timezone: str = "UTC", source: str = "events") -> pd.DataFrame:
    """Return the events calendar with UTC start/end, or raise InvalidInputError."""
    source = _source(df, source)
    require_columns(df, ("start", "end", "name", "kind"), source)
    out = df.copy()
    for column in ("start", "end"):
        out[column] = parse_timestamps(out[column], source, column, timezone).astype("datetime64[ns, UTC]")
    out["scope"] = out["scope"].fillna("").astype(str) if "scope" in out else ""
    if "effect" in out:  # a blank cell is "unknown", like an empty one
        out["effect"] = out["effect"].replace(r"^\s*$", np.nan, regex=True)
    out = _numeric(out, ("effect",), source) if "effect" in out else out.assign(effect=np.nan)
    out = _check(EVENTS_SCHEMA, out, source)
    # Holidays come from the `holidays` package as well as the calendar and are learned
    # from past years; an outage is a gap. A stated size is for campaigns and launches.
    misplaced = ~out["kind"].isin(SIZED_EVENT_KINDS) & out["effect"].notna()
    if misplaced.any():
        raise _fail(source, "effect", list(out.index[misplaced]), list(out.loc[misplaced, "effect"]),
                    f"an effect can be stated only for {list(SIZED_EVENT_KINDS)}: leave it empty")
    backwards = out["end"] <= out["start"]
    if backwards.any():
        raise _fail(source, "end", list(out.index[backwards]), list(out.loc[backwards, "end"]),
                    "end not after start")
    return out
