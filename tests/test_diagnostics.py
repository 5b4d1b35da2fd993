"""How the forecast notebook pools the steps ahead of its horizon chart (``tokenplan.forecasting.diagnostics``)."""

from __future__ import annotations

import pytest

from tokenplan.forecasting.diagnostics import horizon_blocks


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
