"""The MSTL candidate: its seasons follow the history at the origin, and a gap counts at its phase."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.baselines import mstl, seasonal_fill


def test_a_gap_is_filled_at_its_phase_of_the_season():
    cycle = np.log1p(1000 * np.array([1.0, 1.1, 1.1, 1.0, 0.9, 0.5, 0.4]))
    values = pd.Series(np.tile(cycle, 8))
    gappy = values.copy()
    gappy.iloc[[-1, 20, 30]] = np.nan  # the last Sunday, a Sunday and a Wednesday inside
    filled = seasonal_fill(gappy, 7)
    np.testing.assert_allclose(filled, values, atol=1e-9)
    plain = gappy.interpolate(limit_direction="both")
    assert abs(plain.iloc[-1] - values.iloc[-1]) > 0.2  # plain interpolation carries Saturday's level
    short = gappy.iloc[:10]
    np.testing.assert_allclose(seasonal_fill(short, 7), short.interpolate(limit_direction="both"))


def _weekly_hours(weeks: int) -> pd.DataFrame:
    ds = pd.date_range("2026-01-05", periods=weeks * 168, freq="h")  # a Monday
    weekend = np.where(ds.dayofweek >= 5, 0.4, 1.0)
    daily = 1 + 0.5 * np.sin(2 * np.pi * ds.hour / 24)
    return pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": 1000 * weekend * daily})


def test_mstl_uses_the_seasons_the_history_up_to_the_origin_supports():
    five_weeks = _weekly_hours(5)
    origin = five_weeks["ds"].max()
    forecast = mstl(five_weeks, origin, 168, "h", [0.5], seasons=[24, 168])
    weekend = forecast["ds"].dt.dayofweek >= 5
    ratio = forecast.loc[weekend, "p50"].mean() / forecast.loc[~weekend, "p50"].mean()
    assert ratio == pytest.approx(0.4, rel=0.1)  # the weekly season is forecast
    # Ten days cannot support a weekly season: the same call fits the daily cycle only.
    ten_days = five_weeks[five_weeks["ds"] < five_weeks["ds"].min() + pd.Timedelta(days=10)]
    short = mstl(ten_days, ten_days["ds"].max(), 24, "h", [0.5], seasons=[24, 168])
    daily_only = mstl(ten_days, ten_days["ds"].max(), 24, "h", [0.5], seasons=[24])
    np.testing.assert_allclose(short["p50"], daily_only["p50"])


def test_mstl_skips_a_series_not_yet_observed_instead_of_stopping_the_run():
    # Model b is first used on day 55 (and has a gap on day 57); statsforecast would stop
    # the whole run on its missing values. Before 8 observations it gets no MSTL forecast;
    # after, one from its own first day on, not from a history filled in before it existed.
    ds = pd.date_range("2026-05-01", periods=70, freq="D")
    a = pd.DataFrame({"series": "a", "target": "requests", "ds": ds, "y": 100.0 * (1 + 0.3 * (ds.dayofweek < 5))})
    b = pd.DataFrame({"series": "b", "target": "requests", "ds": ds, "y": np.nan})
    b.loc[55:, "y"] = 5.0
    b.loc[57, "y"] = np.nan
    both = pd.concat([a, b], ignore_index=True)
    early = mstl(both, ds[58], 7, "D", [0.5], seasons=[7])
    assert set(early["series"]) == {"a"} and len(early) == 7
    later = mstl(both, ds[64], 7, "D", [0.5], seasons=[7])
    assert later.loc[later["series"] == "b", "p50"].to_numpy() == pytest.approx(np.full(7, 5.0), rel=1e-6)
    assert mstl(b, ds[50], 7, "D", [0.1, 0.5, 0.9]).empty


def test_mstl_skips_a_series_too_short_for_a_damped_trend_instead_of_stopping_the_run():
    # A team created seven days before a backtest origin: AutoETS with a damped trend
    # refuses seven points ("tiny datasets"), which stopped the whole backtest.
    ds = pd.date_range("2026-05-01", periods=70, freq="D")
    a = pd.DataFrame({"series": "a", "target": "requests", "ds": ds, "y": 100.0 * (1 + 0.3 * (ds.dayofweek < 5))})
    b = pd.DataFrame({"series": "b", "target": "requests", "ds": ds, "y": np.nan})
    b.loc[63:, "y"] = 5.0 + np.arange(7)
    forecast = mstl(pd.concat([a, b], ignore_index=True), ds[69], 7, "D", [0.1, 0.5, 0.9], undamped_steps=28)
    assert set(forecast["series"]) == {"a"}


def test_gaps_are_filled_series_by_series_and_other_series_are_their_log():
    from tokenplan.forecasting.baselines import log_filled

    rng = np.random.default_rng(3)
    y = rng.gamma(2.0, 10.0, 3 * 56)
    y[[5, 6, 60, 61, 62]] = np.nan  # gaps in the first two series, none in the third
    history = pd.DataFrame({"unique_id": np.repeat(["a|requests", "b|requests", "c|requests"], 56), "y": y},
                           index=np.arange(len(y)) * 2)

    filled = log_filled(history, 7)

    for _, rows in history.groupby("unique_id"):
        pd.testing.assert_series_equal(filled[rows.index], seasonal_fill(np.log1p(rows["y"]), 7), check_names=False)
    assert filled.notna().all() and filled.index.equals(history.index)


def _days(values) -> pd.DataFrame:
    ds = pd.date_range("2026-10-05", periods=len(values), freq="D")
    return pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": np.asarray(values, dtype=float)})


def test_a_short_history_without_a_trend_is_not_given_one():
    # Two weeks of days: the first week held two dips the second did not repeat, so the
    # second week's mean is higher. statsforecast's AutoETS(damped=True) skips every
    # model without a trend; forcing a damped trend on this carried the rise into the next
    # week at 1.25 times the last week's mean. No trend, chosen by AICc, stays level.
    history = _days([2200, 700, 2050, 1950, 900, 2000, 2150, 1970, 2080, 2210, 2230, 2150, 2230, 2190])
    forecast = mstl(history, history["ds"].max(), 7, "D", [0.5], seasons=[7], undamped_steps=84)
    last_week = history["y"].iloc[-7:].mean()
    assert forecast["p50"].mean() / last_week == pytest.approx(1.0, abs=0.1)


def test_a_short_ramp_keeps_a_damped_trend_and_never_an_undamped_one():
    # Thirty days growing 10% a day: the restricted choice still finds a trend, damped, so a
    # week ahead lies above the last day but below compounding 10% a day for seven days.
    rng = np.random.default_rng(0)
    history = _days(100 * 1.1 ** np.arange(30) * np.exp(rng.normal(0, 0.02, 30)))
    forecast = mstl(history, history["ds"].max(), 7, "D", [0.5], seasons=[7], undamped_steps=84)
    last = history["y"].iloc[-1]
    assert forecast["p50"].iloc[-1] > 1.2 * last
    assert forecast["p50"].iloc[-1] < 1.1 ** 7 * last


def test_the_restricted_trend_is_autoets_own_choice_without_the_undamped_trend():
    from statsforecast.ets import ets_f

    from tokenplan.forecasting.ets_trend import NoOrDampedTrendETS

    rng = np.random.default_rng(1)
    for y in (np.log1p(1000 + rng.normal(0, 30, 20)), np.log1p(100 * 1.05 ** np.arange(20)), np.log1p(np.full(9, 5.0))):
        chosen = NoOrDampedTrendETS(model="ZZN").fit(y).model_["components"]
        assert chosen[1] == "N" or chosen[3] == "D"
        allowed = [ets_f(y, m=1, model=m, damped=d) for m, d in (("ZNN", None), ("ZZN", True))
                   if len(y) > 9 or m == "ZNN"]
        assert chosen == min(allowed, key=lambda fit: fit["aicc"])["components"]
        np.testing.assert_allclose(NoOrDampedTrendETS(model="ZZN").forecast(y, 5)["mean"],
                                   NoOrDampedTrendETS(model="ZZN").fit(y).predict(5)["mean"])
