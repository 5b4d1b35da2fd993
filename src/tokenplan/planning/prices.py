"""Token prices per model, dated: genai-prices (offline) or the user's price table.

Rates are derived per token type by pricing one small request of that type with
``genai_prices.calc_price`` at the requested date, so they follow the package's data
(including price changes over time) with no price typed into this code. A small
request stays below long-context tiers (e.g. Sonnet's >200K-token pricing); the same
probes above the first tier's threshold give the long-context rates, where genai-prices
has tiers for the model.

Each model is priced by its own provider: genai-prices finds it from the model id
(``gpt-4o-2024-08-06`` -> ``openai``, ``claude-*`` -> ``anthropic``) unless config
names one. A model genai-prices does not know is priced from the user's price table
(``model, input/cache_write/cache_read/output_usd_per_mtok, source, date``); a model
in neither has no price (``None``), and callers leave it out and say so.

A cache write kept for 1 hour costs more than one kept for 5 minutes (Anthropic: 2x
and 1.25x input). Where the usage says which share of a model's writes was kept for 1
hour, ``with_cache_write_share`` makes ``cache_write_tokens`` the blend of the two rates,
so every table that prices cache writes pays that mix; the 5-minute rate stays readable
for a route that chooses its own TTL (``list_cache_write_rate``).

Likewise, where the usage says which share of a model's tokens of each type was in
long-context requests (``context_window``), ``with_long_context_share`` makes each rate
the blend of the base and long-context rates at that share. A model without a tier in
genai-prices (or in the price table) keeps its base rates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.metadata import version

import numpy as np
import pandas as pd
import pandera.pandas as pa
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import StartDateConstraint, TieredPrices

from tokenplan.schemas import CACHE_WRITE_1H_TOKENS, _check, require_columns

__all__ = [
    "price_data_date",
    "price_start_dates",
    "CACHE_WRITE_1H",
    "CACHE_WRITE_5M",
    "PRICED_TARGETS",
    "PRICE_TABLE_COLUMNS",
    "UnitPrices",
    "cache_rates_of_input",
    "genai_unit_prices",
    "model_provider",
    "list_cache_write_rate",
    "table_unit_prices",
    "unit_prices",
    "usd_per_token",
    "validate_price_table",
    "with_cache_write_share",
    "with_long_context_share",
]

# Probe size: small enough to stay in the base tier of every model.
_PROBE_TOKENS = 1_000

PRICED_TARGETS = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")
# The 1-hour cache write rate (Anthropic), also the usage column of writes kept for 1 hour: it is blended into
# cache_write_tokens at the history's share, and a caching route that chooses 1-hour writes pays it.
CACHE_WRITE_1H = CACHE_WRITE_1H_TOKENS
# The 5-minute rate, kept beside a cache_write_tokens rate that blends in 1-hour writes.
CACHE_WRITE_5M = "cache_write_5m_tokens"
_TABLE_RATES = {f"{t.removesuffix('_tokens')}_usd_per_mtok": t for t in PRICED_TARGETS}
PRICE_TABLE_COLUMNS = ["model", *_TABLE_RATES, "source", "date"]


@dataclass(frozen=True)
class UnitPrices:
    """USD per million tokens of each type for one model at one date, and where they come from.

    ``cache_write_1h_share``: the share of cache writes priced at the 1-hour rate in
    ``usd_per_mtok["cache_write_tokens"]``, measured over ``cache_write_share_days`` days
    of history (0: all at the 5-minute rate).

    ``long_context_usd_per_mtok``: the rates of a request above ``long_context_above_tokens``
    input tokens (genai-prices' first tier; empty without one). ``long_context_shares``: per
    token type, the share priced at them in ``usd_per_mtok``, measured over
    ``long_context_share_days`` days of history (empty: all at the base rates), blended from
    ``base_usd_per_mtok`` (empty when nothing was blended).
    """

    model: str
    provider: str
    date: dt.date
    usd_per_mtok: dict[str, float]
    source: str
    cache_write_1h_share: float = 0.0
    cache_write_share_days: int = 0
    long_context_usd_per_mtok: dict[str, float] = field(default_factory=dict)
    long_context_above_tokens: int | None = None
    long_context_shares: dict[str, float] = field(default_factory=dict)
    long_context_share_days: int = 0
    base_usd_per_mtok: dict[str, float] = field(default_factory=dict)


def usd_per_token(prices: Mapping[str, UnitPrices | None], models: Iterable[str],
                  targets: Iterable[str]) -> np.ndarray:
    """USD per token for each (model, target) pair; NaN where the model has no price or the
    target is not priced (requests): callers decide whether that is 0 or left out."""
    return np.array([prices[m].usd_per_mtok[t] / 1e6 if t in PRICED_TARGETS and prices.get(m) is not None
                     else np.nan for m, t in zip(models, targets, strict=True)], dtype=float)


def _probe(token_type: str, n: int = _PROBE_TOKENS, input_above: int = 0) -> Usage:
    """A request of ``n`` tokens of ``token_type`` whose total input is above ``input_above`` tokens."""
    # genai-prices counts cache reads and writes inside input_tokens (total input).
    return {
        "input_tokens": Usage(input_tokens=n),
        "cache_write_tokens": Usage(input_tokens=n, cache_write_tokens=n),
        CACHE_WRITE_1H: Usage(input_tokens=n, cache_write_tokens=n, cache_write_1h_tokens=n),
        "cache_read_tokens": Usage(input_tokens=n, cache_read_tokens=n),
        "output_tokens": Usage(input_tokens=input_above + 1 if input_above else None, output_tokens=n),
    }[token_type]


def _first_tier_start(model_price) -> int | None:
    """Input tokens above which genai-prices bills a whole request at its first tier; None without tiers."""
    starts = [tier.start for value in vars(model_price).values() if isinstance(value, TieredPrices)
              for tier in value.tiers]
    return min(starts) if starts else None


def _long_context_rates(model: str, provider: str, timestamp: dt.datetime, context: dict | None,
                        above: int, token_types: Iterable[str]) -> dict[str, float]:
    """USD per million tokens of each type in a request of more than ``above`` input tokens."""
    n = above + _PROBE_TOKENS
    rates = {}
    for token_type in token_types:
        price = calc_price(_probe(token_type, n if token_type != "output_tokens" else _PROBE_TOKENS, above),
                           model, provider_id=provider, genai_request_timestamp=timestamp, price_context=context)
        paid, count = ((price.output_price, _PROBE_TOKENS) if token_type == "output_tokens"
                       else (price.input_price, n))
        rates[token_type] = float(paid * 1_000_000 / count)
    return rates


def genai_unit_prices(model: str, when: dt.date, provider: str | None = None,
                      processing: str | None = None) -> UnitPrices:
    """genai-prices rates for ``model`` in force on ``when`` (``provider`` None: found from the model id).

    ``processing='batch'`` gives Batch API rates where genai-prices has them (else the
    standard rates: the caller compares to tell). Raises ``LookupError`` for an unknown model.
    """
    timestamp = dt.datetime.combine(when, dt.time(12), tzinfo=dt.timezone.utc)
    context = {"processing": processing} if processing else None
    rates, found, above = {}, provider, None
    for token_type in (*PRICED_TARGETS, CACHE_WRITE_1H):
        try:
            price = calc_price(_probe(token_type), model, provider_id=provider,
                               genai_request_timestamp=timestamp, price_context=context)
        except ValueError:  # a provider without 1-hour cache writes
            continue
        found, above = price.provider.id, _first_tier_start(price.model_price)
        rates[token_type] = float(price.total_price) * 1_000_000 / _PROBE_TOKENS
    long_context = _long_context_rates(model, found, timestamp, context, above, rates) if above is not None else {}
    return UnitPrices(model, found or "", when, rates, f"genai-prices {version('genai-prices')}",
                      long_context_usd_per_mtok=long_context, long_context_above_tokens=above)


def model_provider(model: str, provider: str | None = None) -> str | None:
    """The genai-prices provider id that prices ``model`` (``openai`` for ``gpt-4o-mini-2024-07-18``,
    ``anthropic`` for ``claude-sonnet-4-5``), as :func:`genai_unit_prices` finds it; ``provider``: the one
    configured for the model. None where genai-prices does not know the model (at that provider)."""
    try:
        return get_snapshot().find_provider_model(model, None, provider, None)[0].id
    except LookupError:
        return None


def with_cache_write_share(prices: UnitPrices | None, share: float, days: int) -> UnitPrices | None:
    """``prices`` whose cache-write rate is ``(1 - share)`` x the 5-minute rate + ``share`` x the 1-hour rate.

    The 5-minute rate is kept as ``CACHE_WRITE_5M``. Unchanged without a share or
    without a 1-hour rate (a price table row, a provider without 1-hour caching): those
    writes stay at the one rate known.
    """
    if prices is None or share <= 0 or CACHE_WRITE_1H not in prices.usd_per_mtok:
        return prices
    rates = prices.usd_per_mtok
    five_minutes, one_hour = rates["cache_write_tokens"], rates[CACHE_WRITE_1H]
    blended = {**rates, "cache_write_tokens": (1 - share) * five_minutes + share * one_hour,
               CACHE_WRITE_5M: five_minutes}
    return replace(prices, usd_per_mtok=blended, cache_write_1h_share=share, cache_write_share_days=days)


def with_long_context_share(prices: UnitPrices | None, shares: Mapping[str, float], days: int) -> UnitPrices | None:
    """``prices`` whose rate of each token type is ``(1 - share)`` x base + ``share`` x long-context rate.

    ``shares``: per token type, the share of its tokens in long-context requests; the
    1-hour cache-write rate takes the cache writes' share. A rate without a long-context
    tier stays the base rate; the shares are kept either way (all 0 too: measured), for the report.
    """
    if prices is None or not shares:
        return prices
    long_context, share_of = prices.long_context_usd_per_mtok, {CACHE_WRITE_1H: shares.get("cache_write_tokens", 0.0),
                                                                **shares}
    blended = {t: (1 - share_of.get(t, 0.0)) * rate + share_of.get(t, 0.0) * long_context[t] if t in long_context
               else rate for t, rate in prices.usd_per_mtok.items()}
    return replace(prices, usd_per_mtok=blended, long_context_shares=dict(shares), long_context_share_days=days,
                   base_usd_per_mtok=dict(prices.usd_per_mtok))


def cache_rates_of_input(prices: UnitPrices, ttl: str) -> tuple[float, float | None]:
    """USD per million tokens to read and to write (kept for ``ttl``) uncached input moved to the cache.

    The moved tokens keep their requests' length, so both rates take the input's long-context
    share, not the share today's cache reads and writes have. The write rate is None if not sold.
    """
    share = prices.long_context_shares.get("input_tokens", 0.0)
    if not prices.base_usd_per_mtok or share <= 0:
        return prices.usd_per_mtok["cache_read_tokens"], list_cache_write_rate(prices, ttl)
    base, long_context = prices.base_usd_per_mtok, prices.long_context_usd_per_mtok
    read, write = "cache_read_tokens", CACHE_WRITE_1H if ttl == "1h" else "cache_write_tokens"
    at_share = {t: (1 - share) * base[t] + share * long_context.get(t, base[t]) for t in (read, write) if t in base}
    return at_share[read], at_share.get(write)


def list_cache_write_rate(prices: UnitPrices, ttl: str) -> float | None:
    """USD per million cache-write tokens kept for ``ttl`` (``5m`` or ``1h``), never a blend; None if not sold."""
    rates = prices.usd_per_mtok
    if ttl == "1h":
        return rates.get(CACHE_WRITE_1H)
    return rates.get(CACHE_WRITE_5M, rates.get("cache_write_tokens"))


_PRICE_TABLE_SCHEMA = pa.DataFrameSchema(
    {
        "model": pa.Column(str, checks=pa.Check.str_length(min_value=1)),
        **{c: pa.Column(float, checks=pa.Check.ge(0), coerce=True) for c in _TABLE_RATES},
        "source": pa.Column(str, checks=pa.Check.str_length(min_value=1)),
        "date": pa.Column("datetime64[ns]", coerce=True),
    },
    strict=False,
)


def validate_price_table(table: pd.DataFrame, source: str = "price_table") -> pd.DataFrame:
    """The user's price table, checked: rates >= 0 USD per million tokens, a source and a date per row."""
    require_columns(table, tuple(PRICE_TABLE_COLUMNS), source)
    if table.empty:
        return table.assign(date=pd.to_datetime(table["date"]))
    return _check(_PRICE_TABLE_SCHEMA, table.reset_index(drop=True), source)


def table_unit_prices(table: pd.DataFrame, model: str, when: dt.date) -> UnitPrices | None:
    """The price table's rates for ``model``: the latest row dated on or before ``when``
    (else its earliest row, whose date the report shows); None when the table lacks the model."""
    rows = table[table["model"] == model].sort_values("date")
    if rows.empty:
        return None
    in_force = rows[rows["date"].dt.date <= when]
    row = (in_force if len(in_force) else rows.head(1)).iloc[-1]
    rates = {target: float(row[column]) for column, target in _TABLE_RATES.items()}
    return UnitPrices(model, "price table", row["date"].date(), rates, f"price table: {row['source']}")


def unit_prices(model: str, when: dt.date, price_table: pd.DataFrame | None = None,
                provider: str | None = None) -> UnitPrices | None:
    """Standard rates for ``model`` on ``when``: the user's price table first, then genai-prices; None if neither has it."""
    if price_table is not None:
        stated = table_unit_prices(price_table, model, when)
        if stated is not None:
            return stated
    try:
        return genai_unit_prices(model, when, provider)
    except LookupError:
        return None


def _start_dates(node, seen: set[int]):
    """Every ``StartDateConstraint.start_date`` reachable from ``node`` (dataclasses and lists)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, StartDateConstraint):
        yield node.start_date
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _start_dates(item, seen)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            yield from _start_dates(getattr(node, name, None), seen)


@cache
def price_start_dates() -> tuple[dt.date, ...]:
    """Every day on which a price genai-prices holds starts (any provider and model), sorted.

    A genai-prices price changes only on such a day (a ``StartDateConstraint`` is in force from
    its UTC date on), so the rates of the days between two of them are those of the first.
    """
    return tuple(sorted(set(_start_dates(get_snapshot().providers, set()))))


def price_data_date() -> dt.date | None:
    """The date of genai-prices' bundled price data: its newest recorded price change.

    The package states no snapshot date, so the newest start date of any price it holds
    is the best date it gives of how current its data is (prices it has not heard of
    are not in it). None if it records no dated change.
    """
    dates = price_start_dates()
    return dates[-1] if dates else None
