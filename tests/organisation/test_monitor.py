"""The month-to-date monitor: recorded spend and the plan's band over the same days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.organisation.monitor import month_to_date
from tokenplan.planning.prices import UnitPrices

QUANTILES = [0.1, 0.5, 0.9]
NAMES = ["p10", "p50", "p90"]
SERIES = "m/a/k"


def _prices() -> dict[str, UnitPrices]:
    return {"m": UnitPrices("m", "test", pd.Timestamp("2026-10-01").date(), {"input_tokens": 1.0}, "test")}


def _usage(first: str, last: str, tokens: float) -> pd.DataFrame:
    """One series' recorded days, ``tokens`` input tokens a day ($1 per million: ``tokens / 1e6`` USD a day)."""
    stamps = pd.date_range(first, last, freq="D", tz="UTC")
    return pd.DataFrame({"timestamp": stamps, "series": SERIES, "model": "m", "workspace": "a", "api_key": "k",
                         "input_tokens": tokens})


def _plan(first: str, last: str, tokens: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The saved forecast from ``first`` (its P50 ``tokens`` a day) and backtest folds that hit it exactly."""
    stamps = pd.date_range(first, last, freq="D", tz="UTC")
    forecast = pd.DataFrame({"series": SERIES, "target": "input_tokens", "timestamp": stamps,
                             "step": np.arange(1, len(stamps) + 1), "p10": 0.8 * tokens, "p50": tokens,
                             "p90": 1.2 * tokens})
    folds = pd.concat([forecast.assign(origin=pd.Timestamp("2026-09-01") + pd.Timedelta(days=30 * i),
                                       y=tokens * (0.95 + 0.05 * i), method="chosen") for i in range(3)])
    return forecast, folds


def _dims() -> pd.DataFrame:
    return pd.DataFrame({"series": [SERIES], "model": ["m"], "team": ["a"], "api_key": ["k"]})


def test_a_plan_begun_mid_month_is_compared_over_its_own_days_only():
    # The plan starts November 17; usage is recorded November 1-30 at the plan's P50 every day. Set against the
    # whole month's recorded spend, a fortnight's band read every node "above" (twice its P90).
    forecast, folds = _plan("2026-11-17", "2026-12-31", 2e6)
    usage = _usage("2026-10-01", "2026-11-30", 2e6)
    table = month_to_date(usage, forecast, folds, _prices(), _dims(), NAMES, QUANTILES)
    assert table["first_day"].unique().tolist() == ["2026-11-17"]
    assert table["last_day"].unique().tolist() == ["2026-11-30"]
    organisation = table.set_index("level").loc["organisation"]
    assert organisation["actual_usd"] == pytest.approx(14 * 2.0)  # November 17-30, not the month's 30 days
    assert organisation["plan_p10"] <= organisation["actual_usd"] <= organisation["plan_p90"]
    assert (table["status"] == "inside").all()


def test_a_plan_covering_the_whole_month_is_compared_from_the_first():
    forecast, folds = _plan("2026-11-01", "2026-12-31", 2e6)
    usage = _usage("2026-10-01", "2026-11-20", 2e6)
    table = month_to_date(usage, forecast, folds, _prices(), _dims(), NAMES, QUANTILES)
    assert (table["first_day"].iloc[0], table["last_day"].iloc[0]) == ("2026-11-01", "2026-11-20")
    assert table.set_index("level").loc["organisation", "actual_usd"] == pytest.approx(20 * 2.0)
    assert (table["status"] == "inside").all()


def test_a_model_the_plan_does_not_have_is_not_in_the_plan_not_above_a_zero_band():
    # The plan forecast m/a/k only; a new model n (key k2) spent $1 a day since. It read "above its plan $0-$0",
    # and its spend, added to the organisation's against a band without it, pushed the organisation "above" too.
    forecast, folds = _plan("2026-11-01", "2026-12-31", 2e6)
    usage = pd.concat([_usage("2026-10-01", "2026-11-20", 2e6),
                       _usage("2026-11-05", "2026-11-20", 1e6).assign(series="n/a/k2", model="n", api_key="k2")])
    prices = {**_prices(), "n": _prices()["m"]}
    dims = pd.concat([_dims(), pd.DataFrame({"series": ["n/a/k2"], "model": ["n"], "team": ["a"],
                                             "api_key": ["k2"]})], ignore_index=True)
    table = month_to_date(usage, forecast, folds, prices, dims, NAMES, QUANTILES).set_index(["level", "node"])
    new = table.loc[("model", "n")]
    assert new["status"] == "not in the plan"
    assert new["actual_usd"] == pytest.approx(16 * 1.0) and new["not_in_plan_usd"] == pytest.approx(16 * 1.0)
    assert np.isnan(new["plan_p10"]) and np.isnan(new["plan_p90"])
    assert table.loc[("key", "a/k2"), "status"] == "not in the plan"
    # The organisation records both models' spend, compares the planned one's with its band, and says the rest.
    organisation = table.loc[("organisation", "organisation")]
    assert organisation["actual_usd"] == pytest.approx(20 * 2.0 + 16 * 1.0)
    assert organisation["not_in_plan_usd"] == pytest.approx(16 * 1.0)
    assert organisation["status"] == "inside" and table.loc[("model", "m"), "not_in_plan_usd"] == 0.0
