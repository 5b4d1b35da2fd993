"""The forecast layout adapts to the history, and short histories still get a forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.synthetic import NO_EVENTS
from tests.training_run import FE, TRAINING, run_training
from tokenplan.forecasting.layout import HistoryTooShortError, plan_layout, resolve_horizon
from tokenplan.pipelines.feature_engineering.nodes import build_model_input_table, plan_forecast_layout
from tokenplan.pipelines.training import nodes as training
from tokenplan.reporting.forecast_method_section import render_method_section



def _series(freq: str, periods: int, seed: int = 0, noise: float = 0.15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2026-01-05", periods=periods, freq=freq)
    cycle = (1 + 0.5 * np.sin(2 * np.pi * ds.hour / 24)) if freq == "h" else np.array(
        [1.0, 1.1, 1.1, 1.0, 0.9, 0.5, 0.4])[ds.dayofweek]
    return pd.DataFrame({"series": "m", "target": "requests", "ds": ds,
                         "y": 500 * cycle * rng.lognormal(0, noise, periods)})


@pytest.mark.parametrize(("last", "steps", "end"), [
    ("2026-09-30", 92, "2026-12-31"),   # Oct 1 - Dec 31 is 92 days, not 91
    ("2026-12-31", 90, "2027-03-31"),
    ("2026-11-15", 136, "2027-03-31"),  # mid-quarter: the rest of it, then the next whole quarter
])
def test_a_quarter_horizon_ends_on_the_quarters_last_day(last, steps, end):
    assert resolve_horizon("quarter", pd.Timestamp(last), "D") == steps
    assert pd.Timestamp(last) + pd.Timedelta(days=steps) == pd.Timestamp(end)


def test_hourly_quarter_ends_at_the_last_hour_of_the_quarter():
    steps = resolve_horizon("quarter", pd.Timestamp("2026-09-30 23:00"), "h")
    assert pd.Timestamp("2026-09-30 23:00") + pd.Timedelta(hours=steps) == pd.Timestamp("2026-12-31 23:00")


def test_seasons_are_only_those_the_history_supports():
    five_days = plan_layout(_series("h", 120), "h", 24)
    assert five_days.seasons == [24] and five_days.season == 24
    assert not five_days.model  # too short to train: the simple methods stand in
    six_weeks = plan_layout(_series("h", 6 * 168), "h", 168)
    assert six_weeks.seasons == [24, 168] and six_weeks.model


def test_five_weeks_of_hours_keep_the_weekly_season_for_mstl():
    # Weekly warm-up and week-long folds do not fit, so the features fall back to the
    # daily cycle; MSTL, which needs no warm-up, still gets the weekly season.
    layout = plan_layout(_series("h", 5 * 168), "h", 168)
    assert layout.season == 24 and layout.seasons == [24, 168]
    assert any("MSTL keeps the weekly season" in note for note in layout.notes)
    metrics = pd.DataFrame({"series": ["all"], "target": ["requests"], "method": ["chosen"], "mase": [1.0],
                            "wape": [0.5], "coverage": [0.8], "n": [168]})
    section = render_method_section(layout.to_dict(), {}, metrics, ["p10", "p50", "p90"])
    assert "Seasons the history supports: 24, 168 hours; MSTL uses them all" in section
    assert "seasonal baselines use 24 (a longer season's warm-up and folds do not fit" in section
    assert "series' own noise (day-over-day log changes)" in section  # the features' season sets the noise scale
    six_weeks = render_method_section(plan_layout(_series("h", 6 * 168), "h", 168).to_dict(), {}, metrics,
                                      ["p10", "p50", "p90"])
    assert "seasonal baselines use 168;" in six_weeks and "(week-over-week log changes)" in six_weeks
    # Days keep the week on 27 of them, a quarter ahead, with folds shorter than a week.
    days = plan_layout(_series("D", 27), "D", "quarter")
    assert days.season == 7 and days.seasons == [7] and days.window == 3
    assert not any("too few" in note for note in days.notes)
    day_section = render_method_section(days.to_dict(), {}, metrics, ["p10", "p50", "p90"])
    assert "(week-over-week log changes)" in day_section


def test_days_keep_the_weekly_season_before_the_model():
    # From four weeks of days on, the features and baselines keep the week, whatever the
    # length: 32-55 days used to trade it for the tuned model (with one-day folds), while
    # 28-31 and 56 kept it, so 54 days of weekday/weekend traffic got a seasonal naive
    # that repeated the last day for a quarter.
    for days in (28, 40, 54, 56, 90):
        layout = plan_layout(_series("D", days), "D", "quarter")
        assert layout.season == 7 and layout.window >= 7, days
    # Two to four weeks of days keep it too, with folds of two or three days: week-long folds
    # do not fit, and without the week the seasonal naive repeated the last day (M4's series
    # summed to 15 days, a week ahead: MASE 1.16 against the weekly naive's 1.03).
    for days, window in ((14, 2), (15, 2), (16, 3), (21, 3), (27, 3)):
        layout = plan_layout(_series("D", days), "D", 7)
        assert (layout.season, layout.seasons, layout.window) == (7, [7], window), days
        assert len(layout.backtest_origins) >= 2, days
        first = pd.Timestamp(layout.tuning_origins[0]) - pd.Timestamp(layout.history_start)
        assert first >= pd.Timedelta(days=6), days  # a week of history before the first fold's origin
    assert not plan_layout(_series("D", 54), "D", "quarter").model       # the simple methods, MSTL, the lag model
    assert plan_layout(_series("D", 56), "D", "quarter").model
    # Hours keep the daily cycle and the model first (the daily cycle is a season too).
    hours = plan_layout(_series("h", 5 * 168), "h", 168)
    assert hours.season == 24 and hours.model


def test_a_yearly_season_goes_to_mstl_only_with_three_years_of_days():
    assert plan_layout(_series("D", 2 * 365), "D", "quarter").seasons == [7]
    long = plan_layout(_series("D", 3 * 365 + 10), "D", "quarter")
    assert long.seasons == [7, 365] and long.season == 7  # features keep the weekly season


def test_windows_shrink_before_the_history_is_refused():
    layout = plan_layout(_series("D", 56), "D", "quarter")
    assert layout.window < layout.horizon
    assert len(layout.backtest_origins) >= 2
    origins = [pd.Timestamp(o) for o in layout.tuning_origins + layout.backtest_origins]
    assert origins == sorted(origins)
    assert pd.Timestamp(layout.backtest_origins[-1]) + pd.Timedelta(days=layout.window) == pd.Timestamp(
        layout.history_end)
    # Tuning windows end before the first backtest origin.
    first_backtest = pd.Timestamp(layout.backtest_origins[0])
    assert all(t + pd.Timedelta(days=layout.window) <= first_backtest
               for t in map(pd.Timestamp, layout.tuning_origins))


def test_an_impossible_history_says_what_it_has_and_needs():
    with pytest.raises(HistoryTooShortError, match=r"has 30 h steps.*needs at least"):
        plan_layout(_series("h", 30), "h", 24)


def _forecast(series: pd.DataFrame, fe: dict, tmp_path) -> tuple[pd.DataFrame, dict]:
    run = run_training(series, tmp_path, fe=fe)
    return run.forecast, run.layout


@pytest.mark.parametrize(("freq", "periods", "horizon"), [("h", 120, 24), ("D", 56, "quarter")])
def test_short_histories_get_a_forecast(freq, periods, horizon, tmp_path):
    series = _series(freq, periods)
    forecast, layout = _forecast(series, {**FE, "freq": freq, "horizon": horizon}, tmp_path)
    assert len(forecast) == layout["horizon"]
    assert set(forecast["step"]) == set(range(1, layout["horizon"] + 1))
    values = forecast[["p10", "p50", "p90"]].to_numpy()
    assert np.isfinite(values).all() and (np.diff(values, axis=1) >= 0).all()
    # Within a factor of two of the series' level: a sane forecast, not a refusal or a blow-up.
    assert 0.5 < forecast["p50"].mean() / series["y"].mean() < 2


def test_interval_width_never_shrinks_with_the_horizon_on_constant_noise(tmp_path):
    series = _series("D", 56, noise=0.2)
    forecast, layout = _forecast(series, {**FE, "horizon": "quarter"}, tmp_path)
    # Width in the log1p space the offsets live in (log of the ratio, for counts well above one).
    relative = (np.log1p(forecast["p90"]) - np.log1p(forecast["p10"])).to_numpy()
    assert (np.diff(relative) >= -1e-9).all()
    assert relative[-1] > relative[0]  # widens past the backtested window


def test_fold_rows_stay_in_their_window_so_tuning_never_reads_a_backtest_day(tmp_path):
    # 120 days a quarter ahead: the windows are shorter than the horizon, and an origin has
    # labels far past its own window. Those must not be scored (nor choose a method).
    series = _series("D", 120)
    training_params = {**TRAINING, "tuning": {**TRAINING["tuning"], "storage_url": f"sqlite:///{tmp_path}/o.db"}}
    fe = {**FE, "horizon": "quarter"}
    layout = plan_forecast_layout(series, fe, training_params)
    assert layout["window"] < layout["horizon"]
    examples = build_model_input_table(series, NO_EVENTS, fe, layout)
    best = training.tune_hyperparameters(examples, fe, training_params, layout)
    table, _, _, _ = training.backtest_forecaster(examples, series, fe, training_params, best, layout)
    assert table["step"].max() <= layout["window"]
    first_backtest = pd.Timestamp(layout["backtest_origins"][0])
    assert (table.loc[table["role"] == "tuning", "ds"] <= first_backtest).all()
    for origin, fold in table[table["role"] == "backtest"].groupby("origin"):
        assert fold["ds"].max() <= origin + pd.Timedelta(days=layout["window"])


def test_many_series_space_training_origins_but_always_keep_some():
    # 1,000 series x 5 targets a quarter ahead on 548 days: the example budget alone spaced
    # origins 637 days apart (none inside the history); the floor keeps at least 8.
    from tokenplan.forecasting.layout import _MIN_TRAINING_ORIGINS, _origin_every

    every = _origin_every(548, 92, 7, "D", keys=5_000)
    assert every % 7 == 0 and 548 // every >= _MIN_TRAINING_ORIGINS
    assert _origin_every(548, 92, 7, "D", keys=15) == 7           # the demo: weekly origins, as before
    assert _origin_every(548, 92, 7, "D", keys=500) == 63         # 100 series: sparser (70 by the budget alone)


def test_a_history_without_one_complete_bucket_ends_the_run_in_one_line():
    from tokenplan.user_errors import message_for

    partial = _series("D", 1).assign(y=float("nan"))
    with pytest.raises(HistoryTooShortError) as error:
        plan_layout(partial, "D", "quarter")

    # One day of data (an hour of a request log): hourly buckets would not do either, and the message says so.
    assert "no complete day (UTC)" in str(error.value) and "feature_engineering.freq=h" not in str(error.value)
    assert "at least 48 hours, even hourly" in str(error.value)
    assert message_for(error.value) == str(error.value)  # printed alone, no traceback
    # Three days none of which is complete: hourly buckets would do.
    with pytest.raises(HistoryTooShortError, match=r"or feature_engineering\.freq=h\."):
        plan_layout(_series("D", 3).assign(y=float("nan")), "D", "quarter")


def test_too_few_days_suggests_forecasting_the_hours_instead():
    with pytest.raises(HistoryTooShortError, match=r"has 13 D steps.*feature_engineering\.freq=h,"
                                                  r"feature_engineering\.horizon=168"):
        plan_layout(_series("D", 13), "D", "quarter")


def test_the_forecast_origin_is_the_last_recorded_bucket_when_the_outage_check_masks_the_days_before_it():
    # The outage check leaves a fall of the last days missing for the forecast: the forecast must still start
    # after the history, not on days the history holds (it had started two days early, inside the history).
    from tokenplan.pipelines.feature_engineering.nodes import mask_suspected_outages

    series = _series("D", 120, noise=0.05)
    fallen = series["ds"] > series["ds"].max() - pd.Timedelta(days=2)
    series.loc[fallen, "y"] *= 0.1
    layout = plan_forecast_layout(series, FE, TRAINING)
    masked, outages = mask_suspected_outages(series, NO_EVENTS, {**FE, "outages": {"max_ratio": 0.5, "sigmas": 4.0,
                                                                                  "neighbours": 3}}, layout)
    assert set(outages["ds"]) == set(series.loc[fallen, "ds"])
    examples = build_model_input_table(masked, NO_EVENTS, FE, layout)
    assert examples["origin"].max() == series["ds"].max() == pd.Timestamp(layout["history_end"])
