"""How the forecast notebook pools the steps ahead of its horizon chart and tables its calibration
(``tokenplan.forecasting.diagnostics``)."""

from __future__ import annotations

import pandas as pd
import pytest

from tokenplan.forecasting.diagnostics import horizon_blocks, quantile_calibration


@pytest.mark.parametrize(("freq", "window", "unit", "buckets", "last_tick"), [
    ("h", 168, "day", 24, "7"),           # one-week hourly folds: 7 days, not 24 "weeks" of 7 hours
    ("D", 8, "day", 1, "8"),              # 8-day daily folds: 8 days, not a "week 2" of one day
    ("D", 28, "week", 7, "4"),
    ("D", 90, "week", 7, "13\n(6 of 7)"),  # a short last block says so
    ("h", 24, "hour", 1, "24"),
    ("h", 3, "hour", 1, "3"),
])
def test_horizon_blocks_follow_the_runs_bucket_width_and_window(freq, window, unit, buckets, last_tick):
    blocks = horizon_blocks(freq, window)
    assert (blocks.unit, blocks.buckets) == (unit, buckets)
    count = -(-window // buckets)
    assert blocks.tick_labels(range(1, count + 1))[-1] == last_tick
    assert blocks.axis_label.startswith(f"{unit}s ahead of the forecast origin")
    assert f"the backtest folds forecast {window}" in blocks.axis_label


def test_calibration_leaves_out_buckets_forecast_empty_that_came_in_empty():
    """A model that never writes to the cache (0 forecast, 0 recorded, four days) beside one that does: its
    zeros counted as "at or below P10" and halved the share inside, where the report's coverage leaves them out."""
    days = pd.date_range("2026-09-01", periods=4, freq="D")
    rows = [{"series": "never-caches", "ds": d, "y": 0.0, "p10": 0.0, "p50": 0.0, "p90": 0.0} for d in days]
    rows += [{"series": "caches", "ds": d, "y": y, "p10": 15.0, "p50": 25.0, "p90": 35.0}
             for d, y in zip(days, (10.0, 20.0, 30.0, 40.0), strict=True)]
    predictions = pd.DataFrame(rows).assign(target="cache_write_tokens", origin=pd.Timestamp("2026-08-31"),
                                            method="chosen", role="backtest")

    (row,) = quantile_calibration(predictions, {"p10": 0.1, "p50": 0.5, "p90": 0.9}).to_dict("records")

    # By hand, the four recorded days of "caches": 10 at or below P10, 10 and 20 below P50, all but 40 below P90.
    assert (row["p10"], row["p50"], row["p90"], row["inside"]) == pytest.approx((0.25, 0.5, 0.75, 0.5))
