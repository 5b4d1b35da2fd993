"""Forecast targets: daily totals of usage_buckets, with incomplete days unknown rather than low."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.target_series import resample_targets, season_length


def _hourly(days: int = 3, series: str = "claude-sonnet-4-5") -> pd.DataFrame:
    timestamps = pd.date_range("2025-01-01", periods=24 * days, freq="h", tz="UTC")
    return pd.DataFrame({"timestamp": timestamps, "series": series, "requests": 1.0,
                         "input_tokens": 100.0, "output_tokens": np.nan})


def test_daily_totals_per_series_and_target():
    usage = pd.concat([_hourly(), _hourly(series="claude-haiku-4-5").assign(requests=2.0)], ignore_index=True)

    targets = resample_targets(usage, "D", ["requests", "input_tokens", "output_tokens"])

    assert list(targets.columns) == ["series", "target", "ds", "y"]
    assert set(targets["target"]) == {"requests", "input_tokens"}  # a never-observed target is left out
    assert targets["ds"].dt.tz is None
    requests = targets[targets["target"] == "requests"].groupby("series")["y"].unique()
    assert requests.to_dict() == {"claude-haiku-4-5": [48.0], "claude-sonnet-4-5": [24.0]}


def test_a_day_with_a_missing_hour_is_unknown_not_low():
    usage = _hourly()
    usage.loc[30, ["requests", "input_tokens"]] = np.nan  # one hour of day 2 lost (an outage)

    targets = resample_targets(usage, "D", ["requests"])

    assert targets["y"].tolist()[0] == 24.0 and targets["y"].tolist()[2] == 24.0
    assert np.isnan(targets["y"].tolist()[1])


def test_min_observed_fraction_tolerates_short_gaps():
    usage = _hourly()
    usage.loc[30, "requests"] = np.nan

    targets = resample_targets(usage, "D", ["requests"], min_observed_fraction=0.9)

    assert targets["y"].tolist() == [24.0, 23.0, 24.0]


def test_unknown_frequency_and_no_targets_are_rejected():
    with pytest.raises(ValueError, match="forecast frequency"):
        season_length("W")
    with pytest.raises(ValueError, match="none of the forecast targets"):
        resample_targets(_hourly(), "D", ["cache_read_tokens"])
