"""The Spark settings and the statistical engine's local path, without starting Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting import engine
from tokenplan.spark_session import SparkSettings


def test_no_spark_section_means_no_spark():
    assert SparkSettings.from_params(None) is None
    assert SparkSettings.from_params({}) is None


def test_settings_read_from_parameters():
    settings = SparkSettings.from_params({"master": "local[4]", "config": {"spark.driver.memory": "4g"}})
    assert settings.master == "local[4]" and settings.statistical_fits
    assert settings.config == {"spark.driver.memory": "4g"}


def test_a_misspelt_setting_is_named():
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['mater'\]"):
        SparkSettings.from_params({"mater": "local[2]"})


def test_without_spark_the_fits_run_here_and_are_counted():
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    days = pd.date_range("2026-01-01", periods=60, freq="D")
    history = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 60), "ds": np.tile(days, 2),
                            "y": np.r_[np.linspace(1, 2, 60), np.linspace(3, 1, 60)]})
    model = StatsForecast(models=[AutoETS(model="ZZN")], freq="D")
    before = engine.record()

    result = engine.statistical_forecast(model, history, h=7, level=[80])

    pd.testing.assert_frame_equal(result, model.forecast(df=history, h=7, level=[80]))
    after = engine.record()
    assert after["local_calls"] == before["local_calls"] + 1
    assert after["local_series"] == before["local_series"] + 2
    assert after["spark_calls"] == before["spark_calls"]
