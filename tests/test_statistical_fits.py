"""Many series fitted in the run's own worker processes give one statsforecast call's forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS

from tokenplan.forecasting import statistical_fits
from tokenplan.forecasting.statistical_fits import POOL_FROM_SERIES, forecast_many


def _daily(n_series: int, days: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    ds = pd.date_range("2026-01-01", periods=days, freq="D")
    weekly = 1 + 0.3 * (ds.dayofweek < 5)
    frames = [pd.DataFrame({"unique_id": f"s{i:03d}", "ds": ds,
                            "y": 100 * (i + 1) * weekly * rng.lognormal(0, 0.1, days)}) for i in range(n_series)]
    return pd.concat(frames, ignore_index=True).sample(frac=1, random_state=0)  # unsorted, as callers pass it


def test_the_workers_forecast_what_one_call_forecasts(monkeypatch):
    df = _daily(POOL_FROM_SERIES + 5)
    models = [AutoETS(season_length=7, model="AAA", damped=True)]
    monkeypatch.setattr(statistical_fits, "_workers", lambda: 2)  # the pool even on a one-core runner
    hat, fitted = forecast_many(models, "D", df, 14, level=[80], fitted=True)
    assert statistical_fits._pool is not None  # it did go to the workers

    one = StatsForecast(models=models, freq="D", n_jobs=1)
    expected = one.forecast(df=df, h=14, level=[80], fitted=True)
    pd.testing.assert_frame_equal(hat, expected.reset_index(drop=True))
    pd.testing.assert_frame_equal(fitted, one.forecast_fitted_values().reset_index(drop=True))


def test_few_series_stay_in_the_calling_process(monkeypatch):
    monkeypatch.setattr(statistical_fits, "_executor", lambda: (_ for _ in ()).throw(AssertionError("pooled")))
    hat, fitted = forecast_many([AutoETS(season_length=7, model="AAN")], "D", _daily(3), 7)
    assert fitted is None and hat["unique_id"].nunique() == 3 and len(hat) == 21


def test_fits_started_together_each_give_their_own_forecast(monkeypatch):
    """The backtest starts every fold's fits at once and collects them fold by fold: each
    collected result is that call's own, whatever order they are collected in."""
    from tokenplan.forecasting.statistical_fits import forecast_many_later

    monkeypatch.setattr(statistical_fits, "_workers", lambda: 2)
    df = _daily(POOL_FROM_SERIES + 5)
    models = [AutoETS(season_length=7, model="AAN")]
    cut = df[df["ds"] <= "2026-02-15"]
    first, second = forecast_many_later(models, "D", df, 7), forecast_many_later(models, "D", cut, 7)
    later_cut, later_all = second()[0], first()[0]
    pd.testing.assert_frame_equal(later_all, forecast_many(models, "D", df, 7)[0])
    pd.testing.assert_frame_equal(later_cut, forecast_many(models, "D", cut, 7)[0])
    assert later_cut["ds"].min() == pd.Timestamp("2026-02-16") and later_all["ds"].min() == pd.Timestamp("2026-03-02")
