"""Prices per model from its own provider in genai-prices, or from the user's price table; cache writes
blended at the history's share of 1-hour writes."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tokenplan.planning.cache_writes import one_hour_shares
from tokenplan.planning.prices import (
    CACHE_WRITE_1H,
    CACHE_WRITE_5M,
    list_cache_write_rate,
    unit_prices,
    validate_price_table,
    with_cache_write_share,
)
from tokenplan.planning.routes import Pricer
from tokenplan.schemas import InvalidInputError

DAY = dt.date(2026, 11, 2)


def _table(**overrides) -> pd.DataFrame:
    row = {"model": "our-finetune", "input_usd_per_mtok": 2.0, "cache_write_usd_per_mtok": 2.5,
           "cache_read_usd_per_mtok": 0.2, "output_usd_per_mtok": 8.0, "source": "contract 2026-07",
           "date": "2026-07-01"} | overrides
    return pd.DataFrame([row])


def test_an_openai_model_is_priced_through_openai_and_a_claude_model_through_anthropic():
    gpt = unit_prices("gpt-4o-2024-08-06", DAY)
    claude = unit_prices("claude-sonnet-4-5", DAY)
    assert gpt.provider == "openai" and claude.provider == "anthropic"
    assert gpt.usd_per_mtok["input_tokens"] == pytest.approx(2.5)
    assert claude.usd_per_mtok["output_tokens"] == pytest.approx(15.0)


def test_a_model_nobody_prices_has_no_price_and_the_price_table_prices_it():
    assert unit_prices("our-finetune", DAY) is None
    table = validate_price_table(_table())
    price = unit_prices("our-finetune", DAY, table)
    assert price.provider == "price table" and price.source == "price table: contract 2026-07"
    assert price.usd_per_mtok == {"input_tokens": 2.0, "cache_write_tokens": 2.5, "cache_read_tokens": 0.2,
                                  "output_tokens": 8.0}
    assert price.date == dt.date(2026, 7, 1)


def test_a_bad_price_table_row_is_named():
    with pytest.raises(InvalidInputError, match=r"price_table: column 'output_usd_per_mtok' .* rows \[1\]: \[-1"):
        validate_price_table(_table(output_usd_per_mtok=-1.0))


# ----------------------------------------------------------------- cache writes: 5-minute and 1-hour


def test_a_one_hour_share_blends_the_cache_write_rate_and_keeps_the_five_minute_rate():
    """Sonnet 4.5 in genai-prices: 5-minute writes $3.75, 1-hour writes $6 per MTok."""
    listed = unit_prices("claude-sonnet-4-5", DAY)
    blended = with_cache_write_share(listed, 0.2, 28)

    assert blended.usd_per_mtok["cache_write_tokens"] == pytest.approx(0.8 * 3.75 + 0.2 * 6.0)  # 4.20
    assert blended.usd_per_mtok[CACHE_WRITE_5M] == pytest.approx(3.75)
    assert list_cache_write_rate(blended, "5m") == pytest.approx(3.75)
    assert list_cache_write_rate(blended, "1h") == pytest.approx(6.0)
    assert (blended.cache_write_1h_share, blended.cache_write_share_days) == (0.2, 28)
    others = ("input_tokens", "cache_read_tokens", "output_tokens", CACHE_WRITE_1H)
    assert {t: blended.usd_per_mtok[t] for t in others} == {t: listed.usd_per_mtok[t] for t in others}


def test_without_a_share_or_a_one_hour_rate_cache_writes_keep_the_five_minute_rate():
    listed = unit_prices("claude-sonnet-4-5", DAY)
    assert with_cache_write_share(listed, 0.0, 28) == listed
    stated = unit_prices("our-finetune", DAY, validate_price_table(_table()))
    assert with_cache_write_share(stated, 0.5, 28) == stated  # the price table has no 1-hour rate


def test_the_pricer_blends_standard_and_batch_rates_of_a_model_with_a_share_only():
    pricer = Pricer(cache_write_1h_shares={"claude-sonnet-4-5": 0.2}, share_days=28)

    assert pricer.standard("claude-sonnet-4-5", DAY).usd_per_mtok["cache_write_tokens"] == pytest.approx(4.2)
    assert pricer.batch("claude-sonnet-4-5", DAY).usd_per_mtok["cache_write_tokens"] == pytest.approx(
        0.8 * 1.875 + 0.2 * 3.0)  # batch halves both rates
    assert pricer.standard("claude-haiku-4-5", DAY).usd_per_mtok["cache_write_tokens"] == pytest.approx(1.25)


def _writes(days: pd.DatetimeIndex, model: str, writes: float, one_hour: float | None) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": days, "series": model, "model": model, "cache_write_tokens": writes,
                         "cache_write_1h_tokens": float("nan") if one_hour is None else one_hour})


def test_the_one_hour_share_is_measured_over_the_last_days_with_cache_writes_per_model():
    early = pd.date_range("2026-08-01", periods=12, freq="D", tz="UTC")
    recent = pd.date_range("2026-08-13", periods=28, freq="D", tz="UTC")
    usage = pd.concat([_writes(early, "claude-sonnet-4-5", 100.0, 100.0),   # all 1-hour, before the window
                       _writes(recent, "claude-sonnet-4-5", 100.0, 25.0),
                       _writes(recent[-3:] + pd.Timedelta(days=3), "claude-sonnet-4-5", 0.0, 0.0),  # no writes
                       _writes(recent, "claude-haiku-4-5", 100.0, None)], ignore_index=True)  # TTL unknown

    assert one_hour_shares(usage, 28) == {"claude-sonnet-4-5": pytest.approx(0.25)}
    # The window ends on the last day with writes, not on the zeros after it: 31 days reach 3 days back.
    assert one_hour_shares(usage, 31) == {"claude-sonnet-4-5": pytest.approx((3 * 100 + 28 * 25) / (31 * 100))}
    assert one_hour_shares(usage.drop(columns="cache_write_1h_tokens"), 28) == {}
