"""The Anthropic Console usage CSV export, mapped to canonical usage.

The export is undocumented, so headers are matched after trimming, splitting camelCase
words, lower-casing and turning spaces and hyphens into underscores, and known variants
are accepted:

=================================================  =======================
export column(s)                                   canonical column
=================================================  =======================
``usage_date_utc`` (or ``usage_datetime_utc``,
``usage_date``, ``date``)                          ``timestamp`` (UTC)
``model_version`` (or ``model``)                   ``model``
``usage_input_tokens_no_cache``                    ``input_tokens``
``usage_input_tokens_cache_write_5m`` +
``usage_input_tokens_cache_write_1h``, or the
older single ``usage_input_tokens_cache_write``    ``cache_write_tokens``
``usage_input_tokens_cache_write_1h``              ``cache_write_1h_tokens``
``usage_input_tokens_cache_read``                  ``cache_read_tokens``
``usage_output_tokens``                            ``output_tokens``
=================================================  =======================

``workspace``, ``api_key`` (the key's name, not the secret), ``usage_type`` and
``context_window`` are kept as dimensions; ``web_search_count`` is dropped. The export
has no request count. ``cache_write_1h_tokens`` keeps the part of the writes billed at
the 1-hour rate (2x input, not 1.25x); the older layout does not say, so it is absent.
A date-only ``usage_date_utc`` gives **daily** buckets: run the
ingestion with ``ingestion.bucket: D`` (the ``anthropic_console`` environment does).

Dates are read by the same rules as any usage file (``tokenplan.schemas.parse_timestamps``)
but always as UTC: ISO dates as they are, ``01.08.2026`` day-first only when the column
decides it (a first field above 12 somewhere), else the load stops and asks for
``ingestion.timestamp_format`` (e.g. ``%d.%m.%Y``).
"""

from __future__ import annotations

import re

import pandas as pd

from tokenplan.ingestion.number_format import convention, read_numbers
from tokenplan.schemas import InvalidInputError, _fail, parse_timestamps, refuse_totals_rows

# The export is a CSV with a header: data row 0 is line 2, as an editor counts.
FIRST_LINE = 2

TIMESTAMP_NAMES = ("usage_date_utc", "usage_datetime_utc", "usage_date", "date")
MODEL_NAMES = ("model_version", "model")
TOKEN_NAMES = {
    "input_tokens": ("usage_input_tokens_no_cache",),
    "cache_read_tokens": ("usage_input_tokens_cache_read",),
    "output_tokens": ("usage_output_tokens",),
}
CACHE_WRITE_PARTS = ("usage_input_tokens_cache_write_5m", "usage_input_tokens_cache_write_1h")
CACHE_WRITE_TOTAL = "usage_input_tokens_cache_write"
DIMENSIONS = ("workspace", "api_key", "usage_type", "context_window")

__all__ = ["canonical_header", "usage_frame"]


# Where a camelCase or PascalCase header starts a word: ``outputTokens``, ``APIKey`` (before ``Key``),
# ``cacheWrite1hTokens`` (before ``1h``).
_WORD_START = re.compile(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[A-Z0-9])(?=[A-Z][a-z])")


def canonical_header(name: str) -> str:
    """``' Usage Input Tokens (No Cache)'`` -> ``'usage_input_tokens_no_cache'``; ``'cacheReadInputTokens'`` ->
    ``'cache_read_input_tokens'``."""
    words = _WORD_START.sub("_", str(name).strip())
    return re.sub(r"[^0-9a-z]+", "_", words.lower()).strip("_")


def usage_frame(export: pd.DataFrame, source: str, timestamp_format: str | None = None) -> pd.DataFrame:
    """Canonical usage rows from a Console export, or InvalidInputError naming ``source`` and the column.

    ``timestamp_format`` (strftime codes, ``ingestion.timestamp_format``) says how dates
    are written when the column cannot tell (``01.08.2026``: day-first or month-first?).
    """
    columns = {canonical_header(c): c for c in export.columns}
    decimal = export.attrs.get("decimal", ".")  # the reader's finding (a ';'-separated file writes 1,5)

    def pick(names: tuple[str, ...], meaning: str) -> str:
        for name in names:
            if name in columns:
                return columns[name]
        raise InvalidInputError(
            f"{source}: not a recognised Anthropic Console usage export: missing column "
            f"'{names[0]}' ({meaning}; also accepted: {list(names[1:]) or 'none'}). "
            f"Columns found: {list(export.columns)}")

    out = pd.DataFrame(index=export.index)
    time_column = pick(TIMESTAMP_NAMES, "the bucket date, UTC")
    refuse_totals_rows(export, [time_column, *(columns[n] for n in MODEL_NAMES if n in columns)], source, FIRST_LINE)
    # The column says UTC: zone-less dates are UTC whatever ingestion.timezone is.
    out["timestamp"] = parse_timestamps(export[time_column], source, time_column, "UTC",
                                        timestamp_format=timestamp_format, first_line=FIRST_LINE)
    out["model"] = export[pick(MODEL_NAMES, "the model id")]
    for dimension in DIMENSIONS:
        if dimension in columns:
            out[dimension] = export[columns[dimension]]
    for target, names in TOKEN_NAMES.items():
        out[target] = export[pick(names, target)]
    if any(part in columns for part in CACHE_WRITE_PARTS):
        five_minutes, one_hour = (_numbers(export[pick((p,), "cache writes")], source, decimal)
                                  for p in CACHE_WRITE_PARTS)
        # A blank part next to a filled one is zero; both blank stays unknown.
        out["cache_write_tokens"] = five_minutes.add(one_hour, fill_value=0)
        out["cache_write_1h_tokens"] = one_hour.fillna(0).where(out["cache_write_tokens"].notna())
    else:
        out["cache_write_tokens"] = export[pick((CACHE_WRITE_TOTAL, *CACHE_WRITE_PARTS), "cache writes")]
    out.attrs["source"] = source
    out.attrs["first_line"] = FIRST_LINE
    out.attrs["decimal"] = decimal
    out.attrs["source_columns"] = _export_columns(out, columns)
    return out


def _export_columns(out: pd.DataFrame, columns: dict[str, str]) -> dict[str, str]:
    """Canonical column -> the export's header it came from, so a bad value is named as the file names it."""
    names = {"timestamp": TIMESTAMP_NAMES, "model": MODEL_NAMES, **TOKEN_NAMES,
             "cache_write_1h_tokens": CACHE_WRITE_PARTS[1:]}
    found = {c: next(columns[n] for n in options if n in columns) for c, options in names.items()
             if any(n in columns for n in options) and c in out.columns}
    writes = [columns[p] for p in (*CACHE_WRITE_PARTS, CACHE_WRITE_TOTAL) if p in columns]
    return {**found, "cache_write_tokens": " + ".join(writes[:2])} if writes else found


def _numbers(values: pd.Series, source: str, decimal: str) -> pd.Series:
    parsed = read_numbers(values, decimal)
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise _fail(source, str(values.name), list(values.index[bad]), list(values[bad]),
                    f"not a finite number; this file writes numbers with a {convention(decimal)}", FIRST_LINE)
    return parsed
