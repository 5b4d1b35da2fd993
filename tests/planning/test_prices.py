"""Prices per model from its own provider in genai-prices, or from the user's price table."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tokenplan.planning.prices import unit_prices, validate_price_table
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
