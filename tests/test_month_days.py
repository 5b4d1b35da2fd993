"""Recurring days of the month: measured against the days around them, applied only where they recur."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.month_days import estimate_month_days, month_day_events

WEEKLY_CYCLE = np.array([1.0, 1.1, 1.1, 1.05, 1.0, 0.45, 0.35])  # Mon..Sun
PARAMS = {"days": [1, -1], "reference_days": 14, "min_z": 3.0, "min_months": 3}


def _daily(days: int = 240, month_end: float = 1.0, seed: int = 0, end: str = "2026-11-30",
           model: str = "claude-sonnet-4-5") -> pd.DataFrame:
    """Requests a day at about 5,000 with a weekly cycle and 15% noise, each month's last day ``month_end`` times."""
    ds = pd.date_range(end=end, periods=days, freq="D")
    y = 5000 * WEEKLY_CYCLE[ds.dayofweek] * np.random.default_rng(seed).lognormal(0, 0.15, days)
    y = np.where(ds.is_month_end, y * month_end, y)
    return pd.DataFrame({"series": model, "target": "requests", "ds": ds, "y": y})


def test_a_month_end_batch_run_is_measured_and_applied_on_every_month_end_through_the_horizon():
    series = _daily(month_end=8.0)
    until = pd.Timestamp("2027-03-31")

    events, estimates = month_day_events(series, "D", until, PARAMS)

    last = estimates.set_index("day").loc[-1]
    assert np.exp(last["log_effect"]) == pytest.approx(8.0, rel=0.15)
    assert last["applied"] and last["months"] >= 7
    first = estimates.set_index("day").loc[1]
    assert not first["applied"] and first["why"] == "within the noise"  # the first of the month is ordinary
    _, few = month_day_events(series, "D", until, {**PARAMS, "min_months": 99})
    assert (few["why"] == "too few months").all()  # the console names why an effect is left out
    starts = pd.DatetimeIndex(events["start"]).tz_convert(None)
    assert starts.is_month_end.all()
    assert {"2026-12-31", "2027-01-31", "2027-02-28", "2027-03-31", "2026-10-31"} <= set(starts.strftime("%Y-%m-%d"))
    assert (events["effect"] > 6).all() and events["basis"].str.startswith("estimated").all()


@pytest.mark.parametrize("seed", range(5))
def test_ordinary_days_of_the_month_are_not_applied(seed):
    events, estimates = month_day_events(_daily(seed=seed), "D", pd.Timestamp("2027-03-31"), PARAMS)

    assert events.empty
    assert not estimates["applied"].any()


def test_a_single_busy_month_end_is_no_pattern():
    series = _daily()
    one = series["ds"] == pd.Timestamp("2026-08-31")
    series.loc[one, "y"] *= 8

    events, _ = month_day_events(series, "D", pd.Timestamp("2027-03-31"), PARAMS)

    assert events.empty


def test_hourly_usage_is_measured_on_its_day_totals():
    daily = _daily(days=120, month_end=4.0)
    hours = daily.loc[daily.index.repeat(24)].reset_index(drop=True)
    hours["ds"] = hours["ds"] + pd.to_timedelta(np.tile(np.arange(24), len(daily)), unit="h")
    hours["y"] = hours["y"] / 24

    estimates = estimate_month_days(hours, "h", [-1])

    assert np.exp(estimates["log_effect"].iloc[0]) == pytest.approx(4.0, rel=0.15)


def test_off_when_not_configured():
    events, estimates = month_day_events(_daily(month_end=8.0), "D", pd.Timestamp("2027-03-31"), None)

    assert events.empty and estimates.empty


def test_a_measured_month_end_is_no_burst_and_its_size_is_divided_out_of_the_history():
    from tests.synthetic import NO_EVENTS
    from tokenplan.forecasting.features import FeatureSpec, make_examples
    from tokenplan.pipelines.feature_engineering.nodes import add_calendar_effects, mask_suspected_outages

    series = _daily(month_end=8.0)
    layout = {"freq": "D", "history_start": str(series["ds"].min().date()), "history_end": "2026-11-30",
              "horizon": 121, "season": 7}
    outages = {"max_ratio": 0.5, "burst_ratio": 5.0, "sigmas": 4.0, "neighbours": 3}
    unmeasured = add_calendar_effects(series, NO_EVENTS, {"month_days": None, "holiday_country": None}, layout)
    _, flagged = mask_suspected_outages(series, unmeasured, {"outages": outages, "holiday_country": None}, layout)
    assert (flagged["kind"] == "burst").sum() >= 6  # every month-end but the last day read as a one-off

    events = add_calendar_effects(series, NO_EVENTS, {"month_days": PARAMS, "holiday_country": None}, layout)
    history, flagged = mask_suspected_outages(series, events, {"outages": outages, "holiday_country": None}, layout)

    assert flagged.empty
    origin = pd.Timestamp("2026-11-29")  # a month-end in the forecast: 30 November
    examples = make_examples(history, events, [origin], FeatureSpec(horizon=7, trend="level", holiday_country=None))
    month_end = examples[examples["ds"] == pd.Timestamp("2026-11-30")]
    usual = examples[examples["ds"] != pd.Timestamp("2026-11-30")]
    assert np.expm1(month_end["anchor_level"].iloc[0]) > 6 * np.expm1(usual["anchor_level"].iloc[0])
