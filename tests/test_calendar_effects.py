"""The year-end holidays: measured from the history, applied like a stated effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.synthetic import NO_EVENTS
from tests.training_run import FE as BASE_FE
from tests.training_run import run_training
from tokenplan.forecasting.calendar_effects import YEAR_END, estimate_year_end, year_end_events
from tokenplan.pipelines.feature_engineering.nodes import add_calendar_effects

YEAR_END_PARAMS = {"first": "12-24", "last": "01-01", "reference_days": 14, "min_z": 2.0}
FE = {**BASE_FE, "year_end": YEAR_END_PARAMS}


def in_year_end(ds: pd.DatetimeIndex) -> np.ndarray:
    return ((ds.month == 12) & (ds.day >= 24)) | ((ds.month == 1) & (ds.day == 1))


def _daily(start: str, end: str, dip: float, noise: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Weekly-cycled daily counts, ``dip`` times lower from 24 Dec to 1 Jan (the known answer)."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, end, freq="D")
    cycle = np.array([1.0, 1.1, 1.1, 1.0, 0.9, 0.5, 0.4])[ds.dayofweek]
    y = 1000 * cycle * rng.lognormal(0, noise, len(ds)) * np.where(in_year_end(ds), dip, 1.0)
    return pd.DataFrame({"series": "claude-sonnet-4-5", "target": "requests", "ds": ds, "y": y})


def test_the_year_end_dip_is_measured_against_the_days_either_side():
    estimate = estimate_year_end(_daily("2023-09-01", "2025-09-30", dip=0.6), "D").iloc[0]
    assert estimate["years"] == 2
    assert abs(estimate["log_effect"] - np.log(0.6)) < 3 * estimate["std_error"]
    assert estimate["z"] > 5


def test_no_dip_is_not_applied():
    series = _daily("2023-09-01", "2025-09-30", dip=1.0)
    estimate = estimate_year_end(series, "D").iloc[0]
    assert abs(estimate["log_effect"]) < 4 * estimate["std_error"]
    events, estimates = year_end_events(series, "D", pd.Timestamp("2025-12-31"), YEAR_END_PARAMS)
    assert not estimates["applied"].any() and events.empty


def test_public_holidays_alone_are_not_a_year_end_dip():
    series = _daily("2023-09-01", "2025-09-30", dip=1.0, noise=0.05)
    christmas = series["ds"].dt.strftime("%m-%d").isin(["12-25", "01-01"])
    series.loc[christmas, "y"] *= 0.3  # the two public holidays only, as the holiday features see them
    assert estimate_year_end(series, "D").iloc[0]["z"] > 2  # read as a week-long dip without exclusion
    layout = {"freq": "D", "history_start": "2023-09-01", "history_end": "2025-09-30", "horizon": 92}
    events = add_calendar_effects(series, NO_EVENTS, {"year_end": YEAR_END_PARAMS, "holiday_country": "US"}, layout)
    assert events.empty


def test_a_history_without_a_whole_year_end_adds_nothing():
    events, estimates = year_end_events(_daily("2025-01-05", "2025-12-28", dip=0.5), "D",
                                        pd.Timestamp("2026-03-31"), YEAR_END_PARAMS)
    assert estimates.empty and events.empty


def test_hourly_history_is_measured_on_whole_days():
    daily = _daily("2024-10-01", "2025-02-28", dip=0.5)
    hours = pd.date_range("2024-10-01", "2025-02-28 23:00", freq="h")
    per_day = daily.set_index("ds")["y"].reindex(hours.floor("D")).to_numpy() / 24
    hourly = pd.DataFrame({"series": "claude-sonnet-4-5", "target": "requests", "ds": hours, "y": per_day})
    assert estimate_year_end(hourly, "h").iloc[0]["log_effect"] == pytest.approx(np.log(0.5), abs=0.06)
    # A day missing one hour is not a day's total: with too few whole days, no estimate.
    gappy = hourly[~((hourly["ds"] >= "2024-12-20") & (hourly["ds"] < "2025-01-03") & (hourly["ds"].dt.hour == 3))]
    assert estimate_year_end(gappy, "h").empty


def test_events_cover_every_year_end_from_the_history_to_the_horizon_and_keep_the_calendar():
    series = _daily("2023-09-01", "2025-12-31", dip=0.6)
    layout = {"freq": "D", "history_start": "2023-09-01", "history_end": "2025-12-31", "horizon": 90}
    events = add_calendar_effects(series, NO_EVENTS.assign(effect=pd.Series(dtype=float)),
                                  {"year_end": YEAR_END_PARAMS}, layout)
    measured = events[events["name"] == YEAR_END]
    assert list(measured["start"].dt.year) == [2023, 2024, 2025]
    assert (measured["end"] - measured["start"]).eq(pd.Timedelta(days=9)).all()
    assert measured["basis"].str.startswith("estimated from 2 past year-end(s)").all()
    assert measured["effect"].iloc[0] == pytest.approx(0.6, abs=0.04)
    assert add_calendar_effects(series, NO_EVENTS, {"year_end": None}, layout).empty


def _forecast(series: pd.DataFrame, fe: dict, tmp_path) -> pd.DataFrame:
    events = lambda layout: add_calendar_effects(series, NO_EVENTS, fe, layout)  # noqa: E731
    return run_training(series, tmp_path, fe=fe, events=events).forecast


def test_a_plan_made_just_after_the_holidays_does_not_start_from_the_trough(tmp_path):
    series = _daily("2023-09-01", "2025-12-31", dip=0.5, noise=0.05)
    normal = series[(series["ds"] >= "2025-11-01") & (series["ds"] < "2025-12-24")]["y"].mean()
    measured = _forecast(series, FE, tmp_path / "a")
    january = measured[measured["timestamp"].dt.month == 1]["p50"].mean()
    assert january / normal == pytest.approx(1.0, abs=0.1)
    ignored = _forecast(series, {**FE, "year_end": None}, tmp_path / "b")
    # Without the measured dip the level is dragged down by the trough (so the test can fail).
    assert ignored[ignored["timestamp"].dt.month == 1]["p50"].mean() / normal < 0.9


def test_a_q4_plan_carries_the_dip(tmp_path):
    series = _daily("2023-09-01", "2025-09-30", dip=0.5, noise=0.05)
    forecast = _forecast(series, FE, tmp_path)
    days = pd.DatetimeIndex(forecast["timestamp"].dt.tz_convert(None))
    holiday = forecast.loc[in_year_end(days), "p50"].mean()
    before = forecast.loc[(days >= "2025-12-03") & (days < "2025-12-24"), "p50"].mean()
    assert holiday / before == pytest.approx(0.5 * 9 / 9, abs=0.1)


def test_days_that_wander_together_do_not_make_a_dip_out_of_noise():
    """AR(1) noise (r = 0.7), no dip: with the persistence factor about 5% of year-ends read
    as a dip at two standard errors; as independent days, several times that."""
    false_alarms = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        ds = pd.date_range("2024-09-01", "2025-02-28", freq="D")
        noise = np.zeros(len(ds))
        for i in range(1, len(ds)):
            noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 0.07)
        series = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": 1000 * np.exp(noise)})
        false_alarms += int(estimate_year_end(series, "D").iloc[0]["z"] >= 2)
    assert false_alarms <= 6


def test_a_year_end_the_planner_states_is_not_measured_again():
    series = _daily("2023-09-01", "2025-12-31", dip=0.6)
    layout = {"freq": "D", "history_start": "2023-09-01", "history_end": "2025-12-31", "horizon": 90}
    stated = pd.DataFrame({"start": pd.to_datetime(["2024-12-23"], utc=True),
                           "end": pd.to_datetime(["2025-01-03"], utc=True), "name": ["shutdown"],
                           "kind": ["campaign"], "scope": ["claude-sonnet-4-5"], "effect": [0.6]})
    events = add_calendar_effects(series, stated, {"year_end": YEAR_END_PARAMS}, layout)
    assert list(events["name"]) == ["shutdown"] and list(events["basis"]) == ["stated"]
    other_model = stated.assign(scope="claude-opus-4-5")
    assert (add_calendar_effects(series, other_model, {"year_end": YEAR_END_PARAMS}, layout)["name"] == YEAR_END).any()
    # A launch whose lasting effect runs through December is not about the year-end.
    launch = stated.assign(start=pd.Timestamp("2024-06-01", tz="UTC"), end=pd.Timestamp("2026-06-01", tz="UTC"),
                           kind="launch", effect=1.5)
    assert (add_calendar_effects(series, launch, {"year_end": YEAR_END_PARAMS}, layout)["name"] == YEAR_END).any()


def test_a_bad_period_date_names_the_parameter():
    with pytest.raises(ValueError, match=r"year_end.first must be a month and day as MM-DD .* got '13-40'"):
        year_end_events(_daily("2024-09-01", "2025-02-28", dip=0.6), "D", pd.Timestamp("2025-03-31"),
                        {**YEAR_END_PARAMS, "first": "13-40"})
