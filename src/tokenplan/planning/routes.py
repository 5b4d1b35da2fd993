"""Routes to buy the same tokens (official API, batch, caching, a reseller, a relay) and their rates.

A route turns each model's standard rates into effective USD per million tokens per
token type; every route is linear in tokens, so a route's cost is
``sum(tokens of type t x effective rate of t)``. Kinds and their inputs (config,
``planning.routes``). Each day pays the prices in force on it: a month's rate is the mean of
its days' (``price_spans``), so a list price that changes inside the horizon (an introductory
rate ending) moves every route's cost, the baseline's included, from that day:

- ``official``: the API as used today (the baseline). A series whose service tier is
  ``batch`` (where the source has the tier) is priced at batch rates.
- ``batch``: ``eligible_share`` of each model's traffic at genai-prices' Batch API
  rates (``price_context={'processing': 'batch'}``); where genai-prices has no batch
  rate, the standard rate (no saving), and in a month where its batch rate starts after
  the first day, each rate for the days it is in force (``batch_in_month``).
- ``caching``: ``eligible_share`` (s) of today's uncached input is read from the cache, and
  one token in ``reads_per_write`` (r) reads is written to it: the writes are today's uncached
  input too (the first request of a prefix writes it, the next r read it), so
  ``input rate = (1 - s - s/r) x input + s x cache read + s/r x cache write``, every token of
  today's input paid once (s = 0.4, r = 5: 52% uncached, 40% read, 8% written). The write
  is at the 5-minute or 1-hour rate (``cache_write_ttl``), not the blend today's writes pay;
  both cache rates at the moved input's long-context share (``cache_rates_of_input``).
  s x (1 + 1/r) cannot exceed 1.
- ``reseller``: ``eligible_share`` of traffic at a genai-prices provider (``aws``,
  ``google``) under the provider's model ids (``model_ids``); a model without an id
  stays on the official API.
- ``relay``: ``eligible_share`` of traffic at list price x ``credit_rate`` (local
  currency paid per USD of list-price usage) / ``fx_rate`` (local currency per USD) x
  (1 + ``fee_share``).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field, PositiveFloat, model_validator

from tokenplan.planning.prices import (
    PRICED_TARGETS,
    UnitPrices,
    cache_rates_of_input,
    genai_unit_prices,
    price_start_dates,
    unit_prices,
    with_cache_write_share,
    with_long_context_share,
)

__all__ = ["DEMO_SOURCE", "OneTimeCost", "Pricer", "Route", "batch_in_month", "price_spans", "relay_multiplier",
           "route_rates", "routes_that_apply"]


DEMO_SOURCE = "assumed for the demo"  # how the shipped configuration marks an input it made up for the demo


class OneTimeCost(BaseModel):
    """The one-time cost of moving to a route (USD): engineering days x day rate + other."""

    engineering_days: float = Field(0.0, ge=0)
    day_rate_usd: float = Field(0.0, ge=0)
    other_usd: float = Field(0.0, ge=0)
    source: str = ""

    @property
    def usd(self) -> float:
        return self.engineering_days * self.day_rate_usd + self.other_usd


class Route(BaseModel):
    """One route as configured; see the module docstring for each kind's inputs."""

    name: str
    kind: Literal["official", "batch", "caching", "reseller", "relay"]
    eligible_share: float = Field(1.0, ge=0, le=1)
    source: str = ""
    date: str | None = None
    one_time: OneTimeCost = OneTimeCost()
    constraints: list[str] = []
    risks: list[str] = []
    # caching
    reads_per_write: PositiveFloat = 1.0
    cache_write_ttl: Literal["5m", "1h"] = "5m"
    # reseller
    provider: str | None = None
    model_ids: dict[str, str] = {}
    # relay
    currency: str | None = None
    credit_rate: PositiveFloat | None = None
    fx_rate: PositiveFloat | None = None
    fx_date: str | None = None
    fx_source: str | None = None
    fee_share: float = Field(0.0, ge=0)

    # The inputs the user set over the configuration's values and sources, and where: {"fx_rate": "--params"}
    # (``tokenplan.planning.route_config``); dotted for a part of one (``one_time.engineering_days``).
    set_by_user: dict[str, str] = {}

    def assumptions(self) -> list[tuple[str, str, bool]]:
        """``(input, phrase, from the demo)`` for each input a saving on this route rests on: the phrase says the
        value; from the demo: its source begins with ``DEMO_SOURCE`` (the shipped configuration made it up)."""
        demo, fx_demo = self.source.startswith(DEMO_SOURCE), bool(self.fx_source and self.fx_source.startswith(
            DEMO_SOURCE))
        out = []
        if self.kind == "relay":
            out += [("credit_rate", f"{self.currency} {self.credit_rate:g} of credit per USD of list price", demo),
                    ("fx_rate", f"FX {self.fx_rate:g} {self.currency} per USD", fx_demo)]
        elif self.kind == "caching":
            out += [("eligible_share", f"{self.eligible_share:.0%} of today's uncached input read from the cache",
                     demo),
                    ("reads_per_write", f"{self.reads_per_write:g} cache reads per token written", demo)]
        elif self.kind != "official":
            out.append(("eligible_share", f"{self.eligible_share:.0%} of the usage eligible", demo))
        out.append(("one_time.engineering_days", f"a one-time cost of {self.one_time.engineering_days:g} engineer-days",
                    self.one_time.source.startswith(DEMO_SOURCE)))
        return out

    def user_set(self, name: str) -> str | None:
        """Where the user set input ``name`` (``one_time.engineering_days``: also where they set ``one_time``), or
        None: the configuration's value."""
        parts = name.split(".")
        return next((self.set_by_user[k] for k in (".".join(parts[:i]) for i in range(len(parts), 0, -1))
                     if k in self.set_by_user), None)

    def demo_assumptions(self) -> list[str]:
        """The inputs this route still takes from the demo's configuration (their source begins with
        ``DEMO_SOURCE`` and the user did not set them), each as a short phrase: a saving on a user's own usage that
        rests on them is the demo's guess, not the user's quote, and the summary says so beside it."""
        return [phrase for name, phrase, demo in self.assumptions() if demo and self.user_set(name) is None]

    def user_inputs(self) -> list[str]:
        """The inputs the user set over the configuration's (``set_by_user``), each as a phrase with where it was
        set: ``FX 7.3 CNY per USD (--params)``."""
        phrases = {name: phrase for name, phrase, _ in self.assumptions()}
        out = []
        for name, where in self.set_by_user.items():
            value = self
            for part in name.split("."):
                value = getattr(value, part, None) if not isinstance(value, dict) else value.get(part)
            out.append(f"{phrases.get(name) or f'{name} {value}'} ({where})")
        return out

    @model_validator(mode="after")
    def _kind_inputs(self) -> Route:
        needed = {"reseller": ("provider",), "relay": ("currency", "credit_rate", "fx_rate", "fx_date", "fx_source")}
        missing = [f for f in needed.get(self.kind, ()) if getattr(self, f) is None]
        if missing:
            raise ValueError(f"route {self.name!r} ({self.kind}) needs {', '.join(missing)} in planning.routes")
        if self.kind == "caching" and self.eligible_share * (1 + 1 / self.reads_per_write) > 1 + 1e-12:
            raise ValueError(f"route {self.name!r} (caching): eligible_share {self.eligible_share:g} of today's "
                             f"uncached input read from the cache and 1 / reads_per_write ({self.reads_per_write:g}) "
                             f"of that written to it add up to "
                             f"{self.eligible_share * (1 + 1 / self.reads_per_write):.0%} of it: lower eligible_share "
                             "or raise reads_per_write")
        return self


def relay_multiplier(route: Route) -> float:
    """USD paid per USD of list-price usage on a relay: credit rate / FX rate x (1 + fees)."""
    return route.credit_rate / route.fx_rate * (1 + route.fee_share)


class Pricer:
    """Dated standard and batch rates per model (cached): the price table first, then genai-prices.

    ``cache_write_1h_shares`` (model -> share of its cache writes kept for 1 hour,
    measured over ``share_days`` days of history) blends each rate's cache-write price
    (``with_cache_write_share``); a model not in it pays the 5-minute rate.
    ``long_context_shares`` (model -> token type -> share of its tokens in long-context
    requests, over the same days) blends each rate with its long-context tier
    (``with_long_context_share``); a model not in it pays the base tier.
    """

    def __init__(self, price_table: pd.DataFrame | None = None, providers: dict[str, str] | None = None,
                 cache_write_1h_shares: dict[str, float] | None = None, share_days: int = 0,
                 long_context_shares: dict[str, dict[str, float]] | None = None) -> None:
        self._table = price_table
        self._providers = providers or {}
        self._shares = cache_write_1h_shares or {}
        self._share_days = share_days
        self._long_context = long_context_shares or {}
        self.listed = lru_cache(maxsize=None)(self._listed)
        self.standard = lru_cache(maxsize=None)(self._standard)
        self.batch = lru_cache(maxsize=None)(self._batch)
        self.at_provider = lru_cache(maxsize=None)(self._at_provider)
        self.change_days = lru_cache(maxsize=None)(self._change_days)

    def _blend(self, model: str, prices: UnitPrices | None) -> UnitPrices | None:
        # Long context first: the 5-minute and 1-hour write rates the TTL blend reads are then its blends.
        long_context = with_long_context_share(prices, self._long_context.get(model, {}), self._share_days)
        return with_cache_write_share(long_context, self._shares.get(model, 0.0), self._share_days)

    def _listed(self, model: str, when: dt.date, batch: bool = False) -> UnitPrices | None:
        """``model``'s rates in force on ``when`` as listed, no share blended in (a day of history pays its own
        split); ``batch``: the Batch API's, None where it has none apart from the standard ones."""
        standard = unit_prices(model, when, self._table, self._providers.get(model))
        if not batch:
            return standard
        if standard is None or standard.provider == "price table":
            return None
        rates = genai_unit_prices(model, when, standard.provider, processing="batch")
        return None if rates.usd_per_mtok == standard.usd_per_mtok else rates

    def _standard(self, model: str, when: dt.date) -> UnitPrices | None:
        return self._blend(model, self.listed(model, when))

    def _batch(self, model: str, when: dt.date) -> UnitPrices | None:
        standard, batch = self.standard(model, when), self._blend(model, self.listed(model, when, True))
        return None if batch is None or batch.usd_per_mtok == standard.usd_per_mtok else batch

    def _change_days(self, model: str, first: dt.date, last: dt.date, batch: bool = False) -> tuple[dt.date, ...]:
        """The days after ``first`` up to ``last`` on which ``model``'s listed rates change (``batch``: its Batch
        API rates); none where one price is in force throughout.

        A price of genai-prices changes only on a day one of its prices starts (``price_start_dates``), one of
        the price table on a row's date: the rates between two such days are those of the first.
        """
        table = self._table
        dated = ([] if table is None or table.empty else
                 [d.date() for d in pd.to_datetime(table.loc[table["model"] == model, "date"])])
        candidates = sorted({d for d in (*price_start_dates(), *dated) if first < d <= last})

        def key(when: dt.date):
            prices = self.listed(model, when, batch)
            return None if prices is None else (prices.usd_per_mtok, prices.long_context_usd_per_mtok)

        days, before = [], key(first)
        for day in candidates:
            now = key(day)
            if now != before:
                days.append(day)
            before = now
        return tuple(days)

    def _at_provider(self, model: str, model_id: str, provider: str, when: dt.date) -> UnitPrices | None:
        """``model``'s rates under the provider's ``model_id`` (its cache writes blended as ``model``'s)."""
        try:
            return self._blend(model, genai_unit_prices(model_id, when, provider))
        except LookupError:
            return None


def batch_in_month(pricer: Pricer, model: str, first: dt.date,
                   last: dt.date | None = None) -> tuple[UnitPrices | None, float, dt.date | None]:
    """The batch rate of the days ``first`` to ``last`` (default: the end of ``first``'s month), the share of
    those days it is in force, and the day it starts when that is after ``first`` (None: from the first day,
    or no batch rate in them). A forecast that starts on October 21 has every October day at the batch
    rate that starts on the 14th.

    genai-prices lists Anthropic's batch rates from 2026-10-14 ("earlier batch history is
    not modelled"): priced on the month's first day alone, October had no batch rate and
    the batch route saved nothing in it, although the rate is in force for 18 of its days.
    """
    batch = pricer.batch(model, first)
    if batch is not None:
        return batch, 1.0, None
    end = last or (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date()
    if pricer.batch(model, end) is None:
        return None, 0.0, None
    days = [first + dt.timedelta(days=d) for d in range((end - first).days + 1)]
    start = next(day for day in days if pricer.batch(model, day) is not None)
    return pricer.batch(model, end), sum(day >= start for day in days) / len(days), start


def _mix(base: dict[str, float], other: dict[str, float], share: float) -> dict[str, float]:
    return {t: (1 - share) * base[t] + share * other[t] for t in PRICED_TARGETS}


def _rates_on_route(route: Route, model: str, tier: str | None, when: dt.date, last: dt.date,
                    pricer: Pricer) -> tuple[dict[str, float], str, bool]:
    """The route's rates for one model over the days ``when`` to ``last`` (one list price in force), their
    note, and whether the route moves the model's traffic at all (false where it stays at today's rates:
    no batch or cache-write rate, not offered at the reseller)."""
    standard = pricer.standard(model, when)
    batch, in_force, start = batch_in_month(pricer, model, when, last)
    batch_rates = _mix(standard.usd_per_mtok, batch.usd_per_mtok, in_force) if batch else None
    base = batch_rates if tier == "batch" and batch_rates else standard.usd_per_mtok
    partial = (f"; batch rate in genai-prices from {start.isoformat()} (earlier batch history is not modelled): "
               f"weighted by its {in_force:.0%} of the month's days") if batch and start and in_force < 1 else ""
    note = f"{standard.source}" + (f", batch tier{partial}" if tier == "batch" and batch else "")
    share = route.eligible_share
    if route.kind == "official":
        return dict(base), note, True
    if route.kind == "batch":
        if batch is None:
            return dict(base), note + "; no batch rate in genai-prices in this month: no saving", False
        return _mix(base, batch_rates, share), note + ("" if tier == "batch" else partial), True
    if route.kind == "caching":
        read, write = cache_rates_of_input(standard, route.cache_write_ttl)
        if write is None:
            return dict(base), note + f"; no {route.cache_write_ttl} cache-write rate: no saving", False
        written = share / route.reads_per_write  # today's uncached input that writes the cache
        return {**base, "input_tokens": (1 - share - written) * base["input_tokens"] + share * read + written * write
                }, note, True
    if route.kind == "reseller":
        model_id = route.model_ids.get(model)
        other = pricer.at_provider(model, model_id, route.provider, when) if model_id else None
        if other is None:  # the route's map names no id for the model, or genai-prices has no price for the id
            why = (f"no {route.provider} price for {model_id} in genai-prices" if model_id else
                   f"no {route.provider} model id for it in the route's model_ids (planning.routes)")
            return dict(base), note + f"; {why}: stays on the official API", False
        return _mix(base, other.usd_per_mtok, share), f"{route.provider} {model_id} ({other.source})", True
    multiplier = relay_multiplier(route)
    return ({t: base[t] * (1 - share + share * multiplier) for t in PRICED_TARGETS},
            note + f"; x{multiplier:.4f} list", True)


def routes_that_apply(rates: pd.DataFrame) -> dict[str, bool]:
    """Per route, whether it moves any series' traffic in any month (``route_rates``' ``moved``).

    One that moves none (a reseller offering none of the models, a batch route where no batch
    rate is in force) is not a candidate: its NPV, minus its one-time cost, says nothing about
    the route. A route that moves traffic at today's price (Bedrock's global ids) does apply:
    paying to move for no saving is an answer.
    """
    if "moved" not in rates:
        return {str(route): True for route in rates["route"].unique()}
    return {str(route): bool(moved.any()) for route, moved in rates.groupby("route", sort=False)["moved"]}


def price_spans(pricer: Pricer, model: str, first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The days ``first`` to ``last`` cut where ``model``'s list price changes (``Pricer.change_days``): one
    (first day, last day) per price in force, in order; one span where a single price holds throughout."""
    changes = list(pricer.change_days(model, first, last))
    return list(zip([first, *changes], [*(d - dt.timedelta(days=1) for d in changes), last], strict=True))


def _rates_over(route: Route, model: str, tier: str | None, spans: list[tuple[dt.date, dt.date]],
                pricer: Pricer) -> tuple[dict[str, float], str, bool]:
    """The route's rates over ``spans`` (``price_spans``): each span's rates weighted by its days, so a day
    pays the price in force on it; the note says on which days the list price changed."""
    parts = [_rates_on_route(route, model, tier, first, last, pricer) for first, last in spans]
    if len(parts) == 1:
        return parts[0]
    days = [(last - first).days + 1 for first, last in spans]
    rates = {t: sum(d * rates[t] for d, (rates, _, _) in zip(days, parts, strict=True)) / sum(days)
             for t in PRICED_TARGETS}
    changed = ", ".join(first.isoformat() for first, _ in spans[1:])
    # The last span's note: a gap (no batch rate, not offered) stated at the month's end, the note's tail.
    return (rates, f"list price changes on {changed}: each rate weighted by the days it is in force; {parts[-1][1]}",
            any(moved for _, _, moved in parts))


def route_rates(routes: list[Route], series_models: dict[str, str], series_tiers: dict[str, str],
                months: list[str], pricer: Pricer, first_days: dict[str, dt.date] | None = None,
                last_days: dict[str, dt.date] | None = None, price_date: dt.date | None = None) -> pd.DataFrame:
    """Effective USD per million tokens per route, series, month (``YYYY-MM``) and token type.

    Each day of a month pays the prices in force on it: from ``first_days[month]`` to ``last_days[month]``
    (the days the forecast covers; default the whole month), a rate is the mean of the rates of those days
    (``price_spans``: one price in force, or each weighted by its days where a list price changes), and a
    batch rate that starts inside them counts for the share of the days it covers. ``price_date``: every
    month at that day's prices instead. A model with no price gets no rows: callers list it as unpriced.
    ``moved``: whether the route takes that series' traffic in that month (``routes_that_apply``);
    ``price_date`` (column): the first day priced.
    """
    rows = []
    for month in months:
        period = pd.Period(month, "M")
        first = (first_days or {}).get(month, period.start_time.date())
        last = (last_days or {}).get(month, period.end_time.date())
        for series, model in series_models.items():
            spans = [(price_date, price_date)] if price_date else price_spans(pricer, model, first, last)
            if any(pricer.standard(model, day) is None for day, _ in spans):
                continue
            for route in routes:
                rates, note, moved = _rates_over(route, model, series_tiers.get(series), spans, pricer)
                rows += [{"route": route.name, "series": series, "model": model, "period": month,
                          "price_date": spans[0][0], "token_type": t, "usd_per_mtok": rates[t], "note": note,
                          "moved": moved} for t in PRICED_TARGETS]
    return pd.DataFrame(rows, columns=["route", "series", "model", "period", "price_date", "token_type",
                                       "usd_per_mtok", "note", "moved"])
