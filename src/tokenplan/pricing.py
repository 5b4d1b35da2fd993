"""Token prices from the maintained ``genai-prices`` database (offline, dated).

Rates are derived per token type by pricing one small request of that type with
``genai_prices.calc_price`` at the requested date, so they follow the package's data
(including price changes over time) with no price typed into this code. A small
request stays below long-context tiers (e.g. Sonnet's >200K-token pricing); a
workload of such requests needs request-level pricing, which this first form does not
do and the report says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib.metadata import version

from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import StartDateConstraint

__all__ = ["PRICED_TARGETS", "UnitPrices", "price_data_date", "unit_prices"]

# Probe size: small enough to stay in the base tier of every model.
_PROBE_TOKENS = 1_000

PRICED_TARGETS = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")


@dataclass(frozen=True)
class UnitPrices:
    """USD per million tokens of each type for one model at one date."""

    model: str
    provider: str
    date: dt.date
    usd_per_mtok: dict[str, float]
    source: str


def _probe(token_type: str) -> Usage:
    n = _PROBE_TOKENS
    # genai-prices counts cache reads and writes inside input_tokens (total input).
    return {
        "input_tokens": Usage(input_tokens=n),
        "cache_write_tokens": Usage(input_tokens=n, cache_write_tokens=n),
        "cache_read_tokens": Usage(input_tokens=n, cache_read_tokens=n),
        "output_tokens": Usage(output_tokens=n),
    }[token_type]


def unit_prices(model: str, provider: str, when: dt.date) -> UnitPrices:
    """Standard (non-batch) rates for ``model`` in force on ``when``."""
    timestamp = dt.datetime.combine(when, dt.time(12), tzinfo=dt.timezone.utc)
    rates = {}
    for token_type in PRICED_TARGETS:
        try:
            price = calc_price(_probe(token_type), model, provider_id=provider,
                               genai_request_timestamp=timestamp)
        except LookupError as error:
            raise LookupError(f"genai-prices has no price for model {model!r} at provider {provider!r}: "
                              f"add a model alias in parameters_ingestion.yml") from error
        rates[token_type] = float(price.total_price) * 1_000_000 / _PROBE_TOKENS
    return UnitPrices(model, provider, when, rates, f"genai-prices {version('genai-prices')}")


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


def price_data_date() -> dt.date | None:
    """The date of genai-prices' bundled price data: its newest recorded price change.

    The package states no snapshot date, so the newest start date of any price it holds
    is the best date it gives of how current its data is (prices it has not heard of
    are not in it). None if it records no dated change.
    """
    dates = list(_start_dates(get_snapshot().providers, set()))
    return max(dates) if dates else None
