"""Assumed busiest minutes of usage without per-minute data: the mean minute times a factor, at least the
busiest minute Poisson arrivals of the bucket's requests give."""

from __future__ import annotations

import pandas as pd
import pytest

from tokenplan.planning.peaks import forecast_bucket_peaks, poisson_busiest_minute, usage_peaks

DAYS = pd.date_range("2026-01-01", periods=7, freq="D", tz="UTC")


def _daily(series: str, requests: float, tokens_per_request: float = 1000.0) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": DAYS, "series": series, "requests": requests,
                         "input_tokens": requests * 5 * tokens_per_request, "cache_write_tokens": 0.0,
                         "cache_read_tokens": 0.0, "output_tokens": requests * tokens_per_request})


def _peak(peaks: pd.DataFrame, metric: str) -> float:
    values = peaks.loc[peaks["metric"] == metric, "peak"]
    assert values.nunique() == 1
    return float(values.iloc[0])


def test_a_low_rate_model_has_at_least_one_busy_minute_of_requests():
    """240 requests a day is 1/6 a minute: the busiest of 1440 minutes holds 3 requests at its median (2 or fewer
    with probability CDF(2) ** 1440 = 0.37; a review had read the quantile at 1 - 1/1440, about the 37th percentile
    of the busiest minute, as its typical day), 18 times the mean minute, where the assumed factor gives 6."""
    from scipy import stats

    assert stats.poisson.cdf(2, 1 / 6) ** 1440 == pytest.approx(0.374, abs=0.002)
    assert stats.poisson.cdf(3, 1 / 6) ** 1440 > 0.5
    peaks = usage_peaks(_daily("opus", 240.0), {"opus": "Opus"}, {}, "D", 6.0)
    assert _peak(peaks, "rpm") == pytest.approx(3.0)
    assert _peak(peaks, "otpm") == pytest.approx(3 * 1000.0)
    assert _peak(peaks, "itpm") == pytest.approx(3 * 5000.0)
    assert not peaks["measured"].any()
    ratios = forecast_bucket_peaks(peaks, "D", "D")
    assert ratios["ratio"].to_numpy() == pytest.approx(18.0)


def test_a_high_rate_model_keeps_the_assumed_factor():
    """100 requests a minute: the busiest minute of Poisson arrivals is 1.3 times the mean, below 6."""
    peaks = usage_peaks(_daily("sonnet", 144_000.0), {"sonnet": "Sonnet"}, {}, "D", 6.0)
    assert _peak(peaks, "rpm") == pytest.approx(100.0 * 6)
    assert _peak(peaks, "otpm") == pytest.approx(100.0 * 1000.0 * 6)


def test_a_group_floors_its_own_requests_and_measured_peaks_stay():
    """Two series of 120 requests a day in one group: the floor is that of the group's 240 (3 requests), not the
    sum of each series' own (2 + 2). A measured peak is the measurement."""
    usage = pd.concat([_daily("a", 120.0), _daily("b", 120.0)], ignore_index=True)
    group = usage_peaks(usage, {"a": "g", "b": "g"}, {}, "D", 6.0)
    assert _peak(group, "rpm") == pytest.approx(3.0)
    alone = usage_peaks(usage, {"a": "a"}, {}, "D", 6.0)
    assert _peak(alone, "rpm") == pytest.approx(2.0)
    measured = usage_peaks(_daily("m", 240.0).assign(peak_rpm=1.0, peak_itpm=5000.0, peak_otpm=1000.0),
                           {"m": "m"}, {}, "D", 6.0)
    assert _peak(measured, "rpm") == 1.0 and _peak(measured, "otpm") == 1000.0


def test_the_floor_is_unknown_without_requests():
    total = pd.Series([1000.0, 1000.0, 0.0])
    floor = poisson_busiest_minute(total, pd.Series([float("nan"), 0.0, 0.0]), 1440.0)
    assert floor.isna().all()
    assert poisson_busiest_minute(total, pd.Series([10.0, 10.0, 10.0]), 1.0).isna().all()
