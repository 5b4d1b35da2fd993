"""The model prices the run uses cover every model of the history, not only the forecast's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from tests.planning.totals_fixture import forecast_totals
from tokenplan.pipelines.planning.nodes import price_models
from tokenplan.planning.prices import PRICE_TABLE_COLUMNS

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def test_a_model_retired_before_the_forecast_is_priced_for_the_history():
    # claude-3-5-sonnet was replaced in the last quarter: it is not forecast, but the summary
    # prices that quarter's actual with these rates (it had been priced at $0).
    totals = forecast_totals(("claude-sonnet-4-5",))
    usage = pd.DataFrame({"series": ["claude-3-5-sonnet-20241022", "claude-sonnet-4-5"],
                          "model": ["claude-3-5-sonnet-20241022", "claude-sonnet-4-5"],
                          "timestamp": pd.to_datetime(["2026-08-01", "2026-09-01"], utc=True),
                          "requests": [1.0, 1.0], "cache_write_tokens": [0.0, 0.0]})
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_planning.yml").read_text())["planning"]
    prices = price_models(totals, usage, pd.DataFrame(columns=list(PRICE_TABLE_COLUMNS)), params)
    assert set(prices) == {"claude-3-5-sonnet-20241022", "claude-sonnet-4-5"}
    assert prices["claude-3-5-sonnet-20241022"].usd_per_mtok["input_tokens"] == 3.0
