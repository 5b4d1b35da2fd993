"""Long-context rates from genai-prices' tiers, blended at the history's share of long-context tokens."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tokenplan.planning.long_context import long_context_shares
from tokenplan.planning.prices import (
    CACHE_WRITE_1H,
    cache_rates_of_input,
    genai_unit_prices,
    unit_prices,
    with_long_context_share,
)
from tokenplan.planning.routes import Pricer, Route, route_rates

DAY = dt.date(2026, 11, 2)  # Sonnet 4.5's tiers and its batch rates (from 2026-10-14) are in genai-prices
QUARTER = {"input_tokens": 0.25}


def test_sonnet_45_long_context_rates_are_read_from_genai_prices_tiers():
    sonnet = genai_unit_prices("claude-sonnet-4-5", DAY)
    assert sonnet.long_context_above_tokens == 200_000
    assert sonnet.long_context_usd_per_mtok == pytest.approx(
        {"input_tokens": 6.0, "cache_write_tokens": 7.5, "cache_read_tokens": 0.6, "output_tokens": 22.5,
         CACHE_WRITE_1H: 12.0})
    assert sonnet.usd_per_mtok["input_tokens"] == pytest.approx(3.0)  # the base tier is unchanged


def test_a_quarter_of_input_in_long_context_prices_sonnet_45_input_at_3_75():
    blended = with_long_context_share(genai_unit_prices("claude-sonnet-4-5", DAY), QUARTER, 28)
    assert blended.usd_per_mtok["input_tokens"] == pytest.approx(0.75 * 3 + 0.25 * 6)  # $3.75 per MTok
    assert blended.usd_per_mtok["output_tokens"] == pytest.approx(15.0)  # no long-context output: base
    assert blended.long_context_shares == QUARTER and blended.long_context_share_days == 28


def test_the_batch_rates_blend_their_own_halved_tiers():
    batch = genai_unit_prices("claude-sonnet-4-5", DAY, "anthropic", processing="batch")
    blended = with_long_context_share(batch, QUARTER, 28)
    assert blended.usd_per_mtok["input_tokens"] == pytest.approx((0.75 * 3 + 0.25 * 6) / 2)


def test_a_model_without_a_tier_and_a_price_table_model_keep_their_base_rates():
    haiku = genai_unit_prices("claude-haiku-4-5", DAY)
    assert haiku.long_context_usd_per_mtok == {}
    assert with_long_context_share(haiku, QUARTER, 28).usd_per_mtok == haiku.usd_per_mtok
    table = pd.DataFrame([{"model": "our-finetune", "input_usd_per_mtok": 2.0, "cache_write_usd_per_mtok": 2.5,
                           "cache_read_usd_per_mtok": 0.2, "output_usd_per_mtok": 8.0, "source": "contract",
                           "date": pd.Timestamp("2026-07-01")}])
    stated = unit_prices("our-finetune", DAY, table)
    assert with_long_context_share(stated, QUARTER, 28).usd_per_mtok == stated.usd_per_mtok


def test_the_pricer_blends_long_context_before_the_cache_write_ttl():
    shares = {"claude-sonnet-4-5": {"input_tokens": 0.25, "cache_write_tokens": 0.5}}
    pricer = Pricer(cache_write_1h_shares={"claude-sonnet-4-5": 0.2}, share_days=28, long_context_shares=shares)
    rates = pricer.standard("claude-sonnet-4-5", DAY).usd_per_mtok
    five_minutes, one_hour = 0.5 * 3.75 + 0.5 * 7.5, 0.5 * 6 + 0.5 * 12
    assert rates["cache_write_tokens"] == pytest.approx(0.8 * five_minutes + 0.2 * one_hour)
    assert rates["input_tokens"] == pytest.approx(3.75)
    assert Pricer().standard("claude-sonnet-4-5", DAY).usd_per_mtok["input_tokens"] == pytest.approx(3.0)


def test_input_moved_to_the_cache_keeps_the_inputs_long_context_share():
    prices = Pricer(long_context_shares={"claude-sonnet-4-5": QUARTER}).standard("claude-sonnet-4-5", DAY)
    read, write = cache_rates_of_input(prices, "5m")
    assert read == pytest.approx(0.75 * 0.3 + 0.25 * 0.6)
    assert write == pytest.approx(0.75 * 3.75 + 0.25 * 7.5)
    assert prices.usd_per_mtok["cache_read_tokens"] == pytest.approx(0.3)  # today's reads: no long context


def test_every_route_prices_the_same_model_and_month_at_the_blend():
    routes = [Route(name="official", kind="official"), Route(name="batch", kind="batch"),
              Route(name="relay", kind="relay", currency="CNY", credit_rate=1.0, fx_rate=2.0, fx_date="2026-11-01",
                    fx_source="test")]
    rates = route_rates(routes, {"claude-sonnet-4-5": "claude-sonnet-4-5"}, {}, ["2026-11"],
                        Pricer(long_context_shares={"claude-sonnet-4-5": QUARTER}))
    inputs = rates[rates["token_type"] == "input_tokens"].set_index("route")["usd_per_mtok"]
    assert inputs.to_dict() == pytest.approx({"official": 3.75, "batch": 3.75 / 2, "relay": 3.75 / 2})


def test_the_share_is_measured_per_model_and_token_type_over_the_last_days():
    days = pd.date_range("2026-09-01", periods=60, freq="D")
    usage = pd.DataFrame({"timestamp": days, "model": "claude-sonnet-4-5", "input_tokens": 100.0,
                          "cache_write_tokens": 0.0, "cache_read_tokens": 10.0, "output_tokens": 20.0,
                          "long_context_input_tokens": [0.0] * 32 + [25.0] * 28,  # only in the last 28 days
                          "long_context_cache_write_tokens": 0.0, "long_context_cache_read_tokens": 0.0,
                          "long_context_output_tokens": 5.0})
    assert long_context_shares(usage, 28) == {"claude-sonnet-4-5": pytest.approx(
        {"input_tokens": 0.25, "cache_write_tokens": 0.0, "cache_read_tokens": 0.0, "output_tokens": 0.25})}
    assert long_context_shares(usage, 56)["claude-sonnet-4-5"]["input_tokens"] == pytest.approx(0.125)
    assert long_context_shares(usage.drop(columns=[c for c in usage if c.startswith("long_")]), 28) == {}
