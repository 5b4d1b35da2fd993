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


def test_only_the_backtest_folds_are_counted_as_backtest_folds():
    """A review's hourly run: the notebook printed "4 backtest folds (origins 2015-03-24, ...)" where the report's
    layout said 1 tuning fold (03-24) then 3 backtest; the tuning fold is not graded."""
    from tokenplan.forecasting.diagnostics import backtest_folds

    origins = {"2015-03-24 23:00": "tuning", "2015-03-31 23:00": "backtest", "2015-04-07 23:00": "backtest",
               "2015-04-14 23:00": "backtest"}
    predictions = pd.DataFrame([{"origin": pd.Timestamp(o), "role": role, "method": m}
                                for o, role in origins.items() for m in ("chosen", "mstl")])
    folds = backtest_folds(predictions)
    assert [f"{o:%m-%d}" for o in folds["backtest"]] == ["03-31", "04-07", "04-14"]
    assert [f"{o:%m-%d}" for o in folds["tuning"]] == ["03-24"]
    assert len(backtest_folds(predictions.drop(columns="role"))["backtest"]) == 4  # no roles: every fold graded


def _metrics(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"series": "claude-sonnet-4-5", "target": t, "method": m, "mase": v, "wape": 0.1,
                          "coverage": 0.8, "n": 182} for t, m, v in rows])


def test_where_the_model_loses_is_counted_as_the_report_counts_it():
    """A review's daily run: the notebook said "a baseline wins on 2 of 3" where the report said none: input tokens
    already use MSTL (the forecast acts on the win) and requests are a tie under the selection rule's 5%."""
    from tokenplan.forecasting.diagnostics import losses_text, where_model_loses
    from tokenplan.reporting.forecast_method_section import _verdict

    metrics = _metrics([("input_tokens", "chosen", 0.680), ("input_tokens", "mstl", 0.519),
                        ("requests", "chosen", 0.661), ("requests", "mstl", 0.642),
                        ("output_tokens", "chosen", 0.630), ("output_tokens", "mstl", 0.637),
                        ("output_tokens", "seasonal_naive", 0.9)])
    methods = {"claude-sonnet-4-5|input_tokens": "mstl", "claude-sonnet-4-5|requests": "ensemble",
               "claude-sonnet-4-5|output_tokens": "xgboost"}
    losses = where_model_loses(metrics, margin=0.05, methods=methods, planned={"claude-sonnet-4-5"})
    outcome = dict(zip(losses["target"], losses["outcome"], strict=True))
    assert outcome == {"input_tokens": "forecast uses the baseline", "requests": "tie",
                       "output_tokens": "plan as good"}
    line = losses_text(losses, 0.05)
    assert line.startswith("A baseline beats the plan by more than the selection rule's margin (5% of the plan's "
                           "MASE) on 0 of 3 planned series/targets;"), line
    assert "1 more where the forecast already uses the baseline that won; 1 is a tie" in line
    verdict = _verdict(metrics, methods, {"claude-sonnet-4-5"}, None, 0.05)
    assert verdict.startswith("On the backtest folds the chosen method is at least as good"), verdict  # the report
    # Without the margin, the requests' 3% is a win, as the report counts it too.
    assert (where_model_loses(metrics, methods=methods)["outcome"] == "baseline wins").sum() == 1
    # A series that ended before the forecast is not planned: not counted.
    assert where_model_loses(metrics, margin=0.05, methods=methods, planned=set()).empty
