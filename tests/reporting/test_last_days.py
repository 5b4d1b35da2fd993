"""A move of the history's last days that the plan follows: named, unless it is a day, a week or an event's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.reporting.last_days import followed_moves, young_ramps

Q = ["p10", "p50", "p90"]
DAYS = pd.date_range("2026-08-01", "2026-09-30", freq="D")
WEEKLY = np.array([1.0, 1.1, 1.1, 1.05, 1.0, 0.5, 0.4])


def _history(last_days: int, factor: float) -> pd.DataFrame:
    y = 700.0 * WEEKLY[DAYS.dayofweek]
    y[len(y) - last_days:] *= factor
    return pd.DataFrame({"series": "m", "target": "requests", "ds": DAYS, "y": y})


def _forecast(factor: float) -> pd.DataFrame:
    ahead = pd.date_range("2026-10-01", periods=28, freq="D", tz="UTC")
    p50 = 700.0 * WEEKLY[ahead.dayofweek] * factor
    return pd.DataFrame({"series": "m", "target": "requests", "timestamp": ahead, "p10": 0.8 * p50, "p50": p50,
                         "p90": 1.25 * p50})


def test_a_plan_that_carries_a_three_day_collapse_into_its_horizon_is_named():
    [found] = followed_moves(_history(3, 0.15), _forecast(0.15), Q, set())
    assert (found["side"], found["days"], found["first"], found["day"]) == ("below", 3, pd.Timestamp("2026-09-28"),
                                                                             pd.Timestamp("2026-09-30"))
    assert found["value"] == 0.15 * 700.0 * WEEKLY[DAYS[-1].dayofweek]
    assert found["before"] == 700.0 * WEEKLY[DAYS[-1].dayofweek]


def test_a_rise_the_plan_follows_is_named_as_a_rise():
    [found] = followed_moves(_history(2, 4.0), _forecast(4.0), Q, set())
    assert (found["side"], found["days"]) == ("above", 2)


def test_a_plan_at_the_level_before_a_single_day_a_small_move_or_an_events_days_are_not_named():
    assert followed_moves(_history(3, 0.15), _forecast(1.0), Q, set()) == []  # the plan did not follow it
    assert followed_moves(_history(1, 0.15), _forecast(0.15), Q, set()) == []  # one day: a partial export's
    assert followed_moves(_history(3, 0.7), _forecast(0.7), Q, set()) == []  # within a factor of two
    assert followed_moves(_history(3, 0.15), _forecast(0.15), Q, {"m"}) == []  # skipped (idle, or departing)
    outage = pd.DataFrame({"start": pd.to_datetime(["2026-09-28"], utc=True),
                           "end": pd.to_datetime(["2026-09-30 23:59"], utc=True), "name": ["incident"],
                           "kind": ["outage"], "scope": ["m"], "effect": [np.nan]})
    assert followed_moves(_history(3, 0.15), _forecast(0.15), Q, set(), outage) == []


def test_a_move_older_than_a_week_is_the_level_shifts_not_named():
    assert followed_moves(_history(7, 0.15), _forecast(0.15), Q, set()) == []
    assert followed_moves(_history(9, 0.15), _forecast(0.15), Q, set()) == []
    assert followed_moves(_history(6, 0.15), _forecast(0.15), Q, set())[0]["days"] == 6


def test_a_weekday_services_weekend_or_a_trickles_chance_is_not_a_move():
    days = pd.date_range("2026-08-03", "2026-09-27", freq="D")  # ends on a Sunday
    weekday = pd.DataFrame({"series": "m", "target": "requests", "ds": days,
                            "y": np.where(days.dayofweek < 5, 5000.0, 0.0)})
    weekday.loc[weekday.index[-2:], "y"] = [3.0, 2.0]  # a few requests on the last weekend
    ahead = pd.date_range("2026-09-28", periods=14, freq="D", tz="UTC")
    p50 = np.where(ahead.dayofweek < 5, 5000.0, 2.5)
    plan = pd.DataFrame({"series": "m", "target": "requests", "timestamp": ahead, "p10": 0.8 * p50, "p50": p50,
                         "p90": 1.2 * p50})
    assert followed_moves(weekday, plan, Q, set()) == []
    trickle = pd.DataFrame({"series": "m", "target": "requests", "ds": days, "y": 2.0})
    trickle.loc[trickle.index[-2:], "y"] = [7.0, 8.0]  # 2 a day, then 7 and 8: chance at these counts
    assert followed_moves(trickle, plan.assign(p50=7.5), Q, set()) == []


def test_last_days_left_out_as_an_outage_are_named_once():
    from tokenplan.reporting.last_days import masked_tail

    history = _history(2, 0.1)
    outages = pd.DataFrame({"series": "m", "target": "requests", "ds": DAYS[-2:], "y": history["y"].iloc[-2:],
                            "expected": 700.0 * WEEKLY[DAYS[-2:].dayofweek], "kind": "outage"})
    [tail] = masked_tail(outages, history)
    assert (tail["series"], tail["first"], tail["last"], tail["buckets"], tail["unit"]) == (
        "m", "2026-09-29", "2026-09-30", 2, "days")
    earlier = outages.assign(ds=DAYS[-12:-10])  # an outage inside the history is the assumptions' to list
    assert masked_tail(earlier, history) == []
    assert masked_tail(None, history) == []
    assert len(masked_tail(outages.drop(columns="kind"), history)) == 1  # a table without kind holds outages


def _launch(ramp_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A model first used 10 days before the history ends, rising to 1,000 a day over ``ramp_days`` and flat
    after; the plan holds the last week, as every method does with so little history."""
    days = pd.date_range("2026-09-21", "2026-09-30", freq="D")
    y = 1_000.0 * np.minimum(1.0, (np.arange(len(days)) + 1) / ramp_days)
    history = pd.DataFrame({"series": "new", "target": "requests", "ds": days, "y": y})
    ahead = pd.date_range("2026-10-01", periods=28, freq="D", tz="UTC")
    p50 = np.resize(y[-7:], len(ahead))
    return history, pd.DataFrame({"series": "new", "target": "requests", "timestamp": ahead, "p10": 0.8 * p50,
                                  "p50": p50, "p90": 1.25 * p50})


def test_a_launch_still_ramping_up_past_the_week_the_plan_holds_is_named():
    [found] = young_ramps(*_launch(10), Q, set())
    assert (found["series"], found["first"], found["age"]) == ("new", pd.Timestamp("2026-09-21"), 10)
    assert found["last_days"] == 900.0 and found["plan"] == pytest.approx(np.mean(1_000.0 * np.arange(4, 11) / 10))
    assert found["gap"] == 900.0 / found["plan"] - 1


def test_a_launch_that_levelled_off_an_old_series_or_a_skipped_one_is_not_named():
    assert young_ramps(*_launch(2), Q, set()) == []  # flat for the last week: the plan holds its level
    history, forecast = _launch(10)
    older = history.assign(ds=history["ds"] - pd.Timedelta(days=20))
    assert young_ramps(pd.concat([older, history]), forecast, Q, set()) == []  # used a month: the level shifts' to read
    assert young_ramps(history, forecast, Q, {"new"}) == []


@pytest.mark.parametrize("weekend", [0.0, 0.4])
def test_a_flat_launch_with_a_weekly_shape_ending_midweek_is_not_a_ramp(weekend):
    """A service launched on a Thursday, flat from its first day (weekends empty, or at 40%), the history ending on
    the next week's Friday: the same days a week before it began say nothing, and its weekend is no level."""
    days = pd.date_range("2026-11-26", "2026-12-04", freq="D")
    y = 3_000.0 * np.where(days.dayofweek < 5, 1.0, weekend)
    history = pd.DataFrame({"series": "new", "target": "requests", "ds": days, "y": y})
    ahead = pd.date_range("2026-12-05", periods=28, freq="D", tz="UTC")
    p50 = 3_000.0 * np.where(ahead.dayofweek < 5, 1.0, weekend)
    forecast = pd.DataFrame({"series": "new", "target": "requests", "timestamp": ahead, "p10": 0.8 * p50,
                             "p50": p50, "p90": 1.25 * p50})
    assert young_ramps(history, forecast, Q, set()) == []


def test_a_plan_carrying_weeks_of_steady_growth_on_is_no_departure_from_the_history():
    """Every day of weeks of growth 8% a week lies below a plan that carries it on: that plan continues the
    history, it does not depart from a level held for weeks. A plan at the history's level of weeks ago does."""
    from tokenplan.reporting.last_days import recent_departures

    growth = 1.08 ** (np.arange(len(DAYS)) / 7)
    history = _history(0, 1.0).assign(y=lambda f: f["y"] * growth)
    ahead = pd.date_range("2026-10-01", periods=28, freq="D", tz="UTC")
    onward = 700.0 * WEEKLY[ahead.dayofweek] * 1.08 ** ((len(DAYS) + np.arange(28)) / 7)
    carried = pd.DataFrame({"series": "m", "target": "requests", "timestamp": ahead, "p10": 0.97 * onward,
                            "p50": onward, "p90": 1.03 * onward})
    assert recent_departures(history, carried, Q, set()) == []
    # The same history under a plan twice as high: it departs from it, and for weeks.
    doubled = carried.assign(**{q: 2 * carried[q] for q in Q})
    [found] = recent_departures(history, doubled, Q, set())
    assert found["side"] == "below" and found["long"]
