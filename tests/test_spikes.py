"""Isolated spikes: clipped from what MSTL and the lag model read, and nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.synthetic import NO_EVENTS
from tokenplan.forecasting.candidates import candidate_points
from tokenplan.forecasting.features import FeatureSpec, make_examples
from tokenplan.forecasting.plausibility import GuardSettings
from tokenplan.forecasting.spikes import clip_spikes


def _hourly(days: int = 28, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2025-01-06", periods=days * 24, freq="h")
    hour = ds.hour.to_numpy()
    y = 300 * (1.2 + np.sin(2 * np.pi * (hour - 6) / 24)) * rng.lognormal(0, 0.15, len(ds))
    return pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": np.round(y)})


def _clipped(series: pd.DataFrame, ratio: float | None = 5.0) -> list[pd.Timestamp]:
    out = clip_spikes(series, "h", ratio, series["ds"].max())
    return sorted(series.loc[out["y"].to_numpy() != series["y"].to_numpy(), "ds"])


def test_an_isolated_spike_is_clipped_to_its_usual_value_even_in_the_last_day():
    # Retry storms of two hours at 40x: mid-history, and the evening before the origin
    # (no day after it, but the hours after it are back).
    series = _hourly()
    storms = pd.to_datetime(["2025-01-20 14:00", "2025-01-20 15:00", "2025-02-02 20:00", "2025-02-02 21:00"])
    spiked = series.assign(y=np.where(series["ds"].isin(storms), 40 * series["y"], series["y"]))
    assert _clipped(spiked) == list(storms)
    out = clip_spikes(spiked, "h", 5.0, spiked["ds"].max())
    at = spiked["ds"].isin(storms)
    assert (out.loc[at, "y"] < 3 * series.loc[at, "y"]).all() and (out.loc[at, "y"] > 0.3 * series.loc[at, "y"]).all()
    assert out.loc[~at, "y"].equals(spiked.loc[~at, "y"])     # every other bucket as recorded
    assert _clipped(series) == []                               # the same noise without storms: nothing
    assert _clipped(spiked, ratio=None) == []                   # off
    days = series.assign(ds=pd.date_range("2025-01-06", periods=len(series), freq="D"))
    assert clip_spikes(days, "D", 5.0, days["ds"].max()) is days                  # days are not checked


def test_a_new_level_a_new_daily_pattern_a_nightly_job_a_busy_evening_and_the_last_bucket_stay():
    def changed(scale, where) -> list[pd.Timestamp]:
        series = _hourly()
        return _clipped(series.assign(y=np.where(where(series), scale * series["y"], series["y"])))

    assert changed(20, lambda s: s.index >= len(s) - 10) == []                                # a new customer
    assert changed(8, lambda s: (s["ds"] >= "2025-01-20") & s["ds"].dt.hour.isin([0, 9])) == []  # a new pattern
    assert changed(30, lambda s: s["ds"].dt.hour == 4) == []                                  # a nightly batch job
    assert changed(10, lambda s: (s["ds"].dt.normalize() == "2025-01-22") & s["ds"].dt.hour.between(17, 22)) == []
    assert changed(100, lambda s: s.index == len(s) - 1) == []                                # the last bucket


def test_mstl_and_the_lag_model_do_not_replay_last_evenings_spike_and_the_labels_keep_it():
    clean = _hourly(days=21)
    evening = clean.index[-4:-2]                                       # 21:00 and 22:00 of the last day
    spiked = clean.assign(y=np.where(clean.index.isin(evening), 60 * clean["y"], clean["y"]))
    spec = FeatureSpec(freq="h", horizon=24, trend="level", holiday_country=None)
    origin = clean["ds"].max()
    tomorrow = clean.loc[evening, "ds"] + pd.Timedelta(days=1)

    def points(history: pd.DataFrame, guard: GuardSettings) -> pd.Series:
        examples = make_examples(history, NO_EVENTS, [origin], spec)
        table, _ = candidate_points(examples, history, origin, spec, [24, 168], None, labelled_only=False,
                                    guard=guard)
        return table[table["ds"].isin(tomorrow)].groupby("method")["point"].sum()

    expected, clipped = points(clean, GuardSettings()), points(spiked, GuardSettings())
    read_as_recorded = points(spiked, GuardSettings(spike_ratio=None))
    assert read_as_recorded["mstl"] > 2 * expected["mstl"]            # MSTL's daily season takes a share
    assert "lag_xgboost" not in read_as_recorded                      # the guard had to drop the lag model
    for method in ("mstl", "lag_xgboost", "ensemble"):
        assert clipped[method] == pytest.approx(expected[method], rel=0.1), method
    examples = make_examples(spiked, NO_EVENTS, [origin - pd.Timedelta(days=1)], spec)
    labels = examples.set_index("ds")["y"]
    assert labels.loc[clean.loc[evening, "ds"]].tolist() == spiked.loc[evening, "y"].tolist()  # labels as recorded


def test_the_lag_model_on_levels_stands_in_for_the_direct_model_only_where_it_is_not_trained():
    # Six days of hours: too little to train the direct XGBoost (model None), so the plain
    # autoregressive XGBoost on levels is a candidate beside the differenced lag model.
    history = _hourly(days=6)
    spec = FeatureSpec(freq="h", horizon=24, trend="level", holiday_country=None, season_steps=24)  # as the layout sets it
    origin = history["ds"].max()
    examples = make_examples(history, NO_EVENTS, [origin], spec)
    short, _ = candidate_points(examples, history, origin, spec, [24], None, labelled_only=False)
    assert {"level_xgboost", "lag_xgboost"} <= set(short["method"])
    level = short[short["method"] == "level_xgboost"]["point"].mean() / history["y"].tail(48).mean()
    assert 0.8 < level < 1.25

    class Direct:  # a trained direct model: the levels model is not needed beside it
        def predict_z(self, rows: pd.DataFrame) -> np.ndarray:
            return np.zeros((len(rows), 1))

    trained, _ = candidate_points(examples, history, origin, spec, [24], Direct(), labelled_only=False)
    assert "xgboost" in set(trained["method"]) and "level_xgboost" not in set(trained["method"])
