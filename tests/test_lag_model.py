"""The lag model: a global XGBoost on each series' own lags, differenced at the shortest cycle."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.lag_model import LagModelSettings, lag_model_points, lags_for

SMALL = LagModelSettings(n_estimators=100)


def _hourly(level_by_day: list[float], name: str, seed: int) -> pd.DataFrame:
    """Hourly series with a daily cycle around ``level_by_day`` (one level per day), 5% noise."""
    rng = np.random.default_rng(seed)
    hours = 24 * len(level_by_day)
    cycle = 1 + 0.6 * np.sin(2 * np.pi * (np.arange(hours) % 24 - 6) / 24)
    level = np.repeat(level_by_day, 24)
    return pd.DataFrame({"series": name, "target": "requests",
                         "ds": pd.date_range("2026-03-02", periods=hours, freq="h"),
                         "y": np.round(level * cycle * rng.lognormal(0, 0.05, hours))})


def test_lags_follow_the_layouts_seasons():
    assert lags_for([24, 168]) == (24, [1, 2, 3, 23, 24, 25, 48, 72, 168])
    assert lags_for([7]) == (7, [1, 2, 3, 6, 7, 8, 14, 21])
    assert lags_for([]) == (1, [1, 2, 3])


def test_a_few_days_of_hours_keep_the_recent_lags():
    """Four days of hours cannot train on a lag of three days: the model keeps the last buckets
    and yesterday's, and forecasts, where the full lag set would leave it out."""
    assert lags_for([24], 96) == (24, [1, 2, 3, 23, 24, 25])
    assert lags_for([24], 96 + 24) == (24, [1, 2, 3, 23, 24, 25, 48])
    assert lags_for([24, 168], 10_000) == lags_for([24, 168])
    history = pd.concat([_hourly([100.0 + 20 * i] * 4, f"s{i}", seed=i) for i in range(3)], ignore_index=True)
    points = lag_model_points(history, history["ds"].max(), 24, "h", [24], SMALL)
    assert len(points) == 3 * 24 and np.isfinite(points["point"]).all()
    assert points.groupby("series")["point"].mean().is_monotonic_increasing  # each at its own level


def test_a_level_that_moved_is_followed():
    """Series whose level doubled three days before the origin: the forecast is at the new
    level, in the daily cycle's shape (a model on the last weeks' profile would sit between)."""
    days = 35
    moved = [_hourly([100.0] * (days - 3) + [200.0] * 3, f"moved{i}", seed=i) for i in range(4)]
    steady = [_hourly([150.0 + 10 * i] * days, f"steady{i}", seed=10 + i) for i in range(4)]
    history = pd.concat(moved + steady, ignore_index=True)
    origin = history["ds"].max()
    points = lag_model_points(history, origin, 48, "h", [24, 168], SMALL)
    assert len(points) == 8 * 48 and points["ds"].min() == origin + pd.Timedelta(hours=1)
    for name, forecast in points.groupby("series"):
        level = 200.0 if name.startswith("moved") else 150.0 + 10 * int(name[-1])
        truth = _hourly([level] * 2, name, seed=0)["y"].to_numpy()
        ratio = forecast["point"].mean() / truth.mean()
        assert 0.85 < ratio < 1.15, (name, ratio)
        # The daily cycle's shape: the peak hour stays the peak hour.
        assert abs(int(forecast.set_index("ds")["point"].idxmax().hour) - 12) <= 2, name


def test_a_series_too_short_for_the_cycle_gets_no_forecast():
    history = pd.concat([_hourly([100.0] * 30, "long", 1), _hourly([100.0] * 30, "new", 2).tail(40)],
                        ignore_index=True)
    points = lag_model_points(history, history["ds"].max(), 24, "h", [24, 168], SMALL)
    assert set(points["series"]) == {"long"}


def test_a_series_too_short_to_train_on_is_forecast_from_its_lags_without_a_warning():
    """Two and a half days of hours beside a month: no training row has every lag, yet the global model
    forecasts it from the lags it has. mlforecast's warning that it dropped the series from training
    reached a user's run, with nothing to act on."""
    history = pd.concat([_hourly([100.0] * 30, "long", 1), _hourly([100.0] * 30, "new", 2).tail(60)],
                        ignore_index=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        points = lag_model_points(history, history["ds"].max(), 24, "h", [24, 168], SMALL)
    assert set(points["series"]) == {"long", "new"}
    assert not [w for w in caught if "dropped completely" in str(w.message)]


def test_disabled_and_unknown_settings():
    history = _hourly([100.0] * 30, "a", 1)
    assert lag_model_points(history, history["ds"].max(), 24, "h", [24], LagModelSettings(enabled=False)).empty
    with pytest.raises(ValueError, match="training.lag_model has no setting 'trees'"):
        LagModelSettings.from_params({"trees": 10})


def test_on_levels_each_series_is_forecast_at_its_own_level():
    """Undifferenced (the plain autoregressive XGBoost on levels), four days of hours are enough:
    every series gets a forecast at its own level, in its daily shape."""
    history = pd.concat([_hourly([100.0 + 50 * i] * 4, f"s{i}", seed=i) for i in range(3)], ignore_index=True)
    points = lag_model_points(history, history["ds"].max(), 24, "h", [24], SMALL, differenced=False)
    assert len(points) == 3 * 24 and np.isfinite(points["point"]).all()
    for i, (name, forecast) in enumerate(points.groupby("series")):
        truth = _hourly([100.0 + 50 * i], name, seed=0)["y"].to_numpy()
        assert 0.85 < forecast["point"].mean() / truth.mean() < 1.15, name
        assert abs(int(forecast.set_index("ds")["point"].idxmax().hour) - 12) <= 2, name


def test_a_rise_at_the_origin_is_followed_not_compounded():
    """Fourteen flat days, then two days up 40% each: undamped, the recursive model carries that
    rise on through a week ahead; damped, each day's change over the day before shrinks, so the
    week ends within a bounded multiple of the first forecast day while the first day is the
    model's own forecast."""
    from tokenplan.forecasting.lag_model import _damped

    rising = [_hourly([100.0] * 14 + [140.0, 196.0], f"r{i}", seed=i) for i in range(4)]
    flat = [_hourly([120.0 + 10 * i] * 16, f"f{i}", seed=20 + i) for i in range(4)]
    history = pd.concat(rising + flat, ignore_index=True)
    origin = history["ds"].max()
    undamped = lag_model_points(history, origin, 168, "h", [24], LagModelSettings(n_estimators=100, damping=1.0))
    damped = lag_model_points(history, origin, 168, "h", [24], LagModelSettings(n_estimators=100, damping=0.5))
    key = ["series", "ds"]
    both = undamped.merge(damped, on=key, suffixes=("_raw", "_damped"))
    first = both["ds"] <= origin + pd.Timedelta(hours=24)
    np.testing.assert_allclose(both.loc[first, "point_damped"], both.loc[first, "point_raw"], rtol=1e-9)
    # Each cycle's change over the one before, in log1p, is the undamped one times 0.5 ** (k - 1).
    logs = both.assign(raw=np.log1p(both["point_raw"]), dmp=np.log1p(both["point_damped"]))
    logs["cycle"] = ((logs["ds"] - origin) / pd.Timedelta(hours=1) - 1).astype(int) // 24 + 1
    daily = logs.groupby(["series", "cycle"])[["raw", "dmp"]].mean().unstack("series")
    np.testing.assert_allclose(daily["dmp"].diff().iloc[1:].to_numpy(),
                               daily["raw"].diff().iloc[1:].to_numpy() * 0.5 ** np.arange(1, 7)[:, None], atol=1e-9)
    # So the last day's level is within exp(2 x the largest daily change) of the first day's.
    assert (np.abs(daily["dmp"].iloc[-1] - daily["dmp"].iloc[0])
            <= 2 * np.abs(daily["raw"].diff()).max() + 1e-9).all()
    # A forecast shorter than a cycle, or damping 1, is left as forecast.
    short = pd.DataFrame({"unique_id": "a", "ds": range(5), "point": np.arange(5.0)})
    pd.testing.assert_frame_equal(_damped(short, 24, 0.5), short)


def test_a_series_whose_last_hours_are_missing_is_forecast_over_the_whole_horizon():
    """The last two hours of one series read as an outage (missing for the forecast): it is
    forecast from its last observed hour far enough ahead to cover every step after the
    origin, as the others are. Forecast only 24 steps from its own last hour, its plan
    lost the last two hours of the day."""
    history = pd.concat([_hourly([100.0 + 20 * i] * 6, f"s{i}", seed=i) for i in range(3)], ignore_index=True)
    origin = history["ds"].max()
    history.loc[(history["series"] == "s1") & (history["ds"] > origin - pd.Timedelta(hours=2)), "y"] = np.nan
    points = lag_model_points(history, origin, 24, "h", [24], SMALL)
    wanted = pd.date_range(origin + pd.Timedelta(hours=1), periods=24, freq="h")
    for name, forecast in points.groupby("series"):
        assert set(wanted) <= set(forecast["ds"]), name
        assert np.isfinite(forecast.set_index("ds").loc[wanted, "point"]).all(), name


def test_a_chosen_method_missing_a_step_gives_way_to_the_ensemble():
    from tokenplan.pipelines.training.nodes import _complete_methods

    steps = np.tile(np.arange(1, 4), 3)
    points = pd.DataFrame({"series": "a", "target": "requests", "step": steps,
                           "method": np.repeat(["ensemble", "lag_xgboost", "mstl"], 3),
                           "point": [1.0, 2.0, 3.0, 1.0, 2.0, np.nan, 1.0, 2.0, 3.0]})
    points = pd.concat([points[~points["point"].isna()], points.iloc[:3].assign(series="b")], ignore_index=True)
    keys = points["series"] + "|" + points["target"]
    assert _complete_methods(points, keys) == {("a|requests", "ensemble"), ("a|requests", "mstl"),
                                               ("b|requests", "ensemble")}


def test_a_long_damped_horizon_forecasts_only_the_cycles_the_damping_leaves_a_trace_of(monkeypatch):
    """A month of hours ahead (30 cycles): the recursion stops where later cycles' damped changes
    weigh under 1e-5 of themselves and the last cycle repeats; the forecast is the one the full
    recursion gives, to that tolerance, over every step and for a series behind the origin too."""
    from tokenplan.forecasting import lag_model

    history = pd.concat([_hourly([100.0 + 20 * i + 5 * d for d in range(8)], f"s{i}", seed=i) for i in range(3)],
                        ignore_index=True)
    history = history[~((history["series"] == "s2") & (history["ds"] > history["ds"].max() - pd.Timedelta(hours=3)))]
    origin, horizon = history["ds"].max(), 24 * 30
    settings = LagModelSettings(n_estimators=30, damping=0.6)
    assert lag_model._damped_cycles(0.6) * 24 < horizon
    fast = lag_model_points(history, origin, horizon, "h", [24], settings)
    monkeypatch.setattr(lag_model, "_damped_cycles", lambda phi: 10**6)
    full = lag_model_points(history, origin, horizon, "h", [24], settings)
    both = fast.merge(full, on=["series", "target", "ds"], how="outer", suffixes=("_fast", "_full"))
    assert len(both) == len(full) == len(fast) and both.notna().all().all()
    assert (both[both["ds"] > origin].groupby("series").size() >= horizon).all()
    np.testing.assert_allclose(np.log1p(both["point_fast"]), np.log1p(both["point_full"]), atol=1e-4)
