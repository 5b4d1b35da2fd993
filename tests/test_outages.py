"""Suspected outages: far below the same phase both before and after, and nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.synthetic import NO_EVENTS
from tokenplan.forecasting.outages import mask_outages, outage_runs, suspected_outages
from tokenplan.pipelines.feature_engineering.nodes import mask_suspected_outages

PARAMS = {"max_ratio": 0.5, "sigmas": 4.0, "neighbours": 3}


def _daily(days: int = 200, noise: float = 0.1, seed: int = 0, start: str = "2025-01-06") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=days, freq="D")
    cycle = np.array([1.0, 1.1, 1.1, 1.0, 0.9, 0.5, 0.4])[ds.dayofweek]
    y = 1000 * cycle * rng.lognormal(0, noise, days)
    return pd.DataFrame({"series": "claude-sonnet-4-5", "target": "requests", "ds": ds, "y": y})


def _flagged(series: pd.DataFrame, season: int = 7, freq: str = "D", events=NO_EVENTS, holidays=frozenset(),
             params=PARAMS) -> list[pd.Timestamp]:
    return sorted(suspected_outages(series, freq, season, events, set(holidays), params)["ds"])


def test_an_unstated_outage_is_flagged_exactly():
    series = _daily()
    outage = series["ds"].between("2025-03-03", "2025-03-07")
    series.loc[outage, "y"] *= 0.2
    assert _flagged(series) == list(series.loc[outage, "ds"])
    assert _flagged(_daily()) == []  # the same noise without the outage: nothing


def test_a_step_change_and_a_drop_in_the_last_season_are_not_outages():
    series = _daily()
    series.loc[series["ds"] >= "2025-04-01", "y"] *= 0.2  # usage moved off the model for good
    assert _flagged(series) == []
    last_week = _daily()
    last_week.loc[last_week.index[-7:], "y"] *= 0.1  # nothing after it to tell a drop from a step
    assert _flagged(last_week) == []


def test_calendar_events_and_public_holidays_are_not_outages():
    series = _daily()
    dips = series["ds"].isin(pd.to_datetime(["2025-03-04", "2025-05-26"]))
    series.loc[dips, "y"] *= 0.2
    assert _flagged(series) == list(series.loc[dips, "ds"])
    holiday = {pd.Timestamp("2025-05-26")}
    event = pd.DataFrame({"start": pd.to_datetime(["2025-03-04"], utc=True), "end": pd.to_datetime(["2025-03-05"], utc=True),
                          "name": ["Migration test"], "kind": ["campaign"], "scope": [""], "effect": [np.nan]})
    assert _flagged(series, holidays=holiday) == [pd.Timestamp("2025-03-04")]
    assert _flagged(series, events=event, holidays=holiday) == []


def test_noisy_series_need_a_drop_beyond_their_noise():
    series = _daily(noise=0.5, seed=3)
    halved = series["ds"] == "2025-03-05"
    series.loc[halved, "y"] *= 0.3  # 0.3x is within 4 sigma of a series this noisy
    assert pd.Timestamp("2025-03-05") not in _flagged(series)


def test_an_hourly_gap_is_flagged_on_the_weekly_phase():
    rng = np.random.default_rng(1)
    ds = pd.date_range("2025-01-06", periods=6 * 168, freq="h")
    y = 100 * (1.2 + np.sin(2 * np.pi * ds.hour / 24)) * rng.lognormal(0, 0.1, len(ds))
    series = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": y})
    gap = series["ds"].between("2025-01-22 07:00", "2025-01-22 09:00")
    series.loc[gap, "y"] = 3.0
    assert _flagged(series, season=168, freq="h") == list(series.loc[gap, "ds"])
    runs = outage_runs(suspected_outages(series, "h", 168, NO_EVENTS, set(), PARAMS), "h")
    assert runs[["first", "last", "buckets"]].values.tolist() == [
        [pd.Timestamp("2025-01-22 07:00"), pd.Timestamp("2025-01-22 09:00"), 3]]
    assert runs.loc[0, "recorded"] == 9.0 and runs.loc[0, "expected"] > 100


def test_the_node_masks_the_forecast_history_only_and_can_be_turned_off():
    series = _daily()
    outage = series["ds"].between("2025-03-03", "2025-03-07")
    series.loc[outage, "y"] *= 0.2
    layout = {"freq": "D", "season": 7, "history_start": "2025-01-06", "history_end": "2025-07-24"}
    params = {"holiday_country": None, "outages": PARAMS}
    history, outages = mask_suspected_outages(series, NO_EVENTS, params, layout)
    assert history.loc[outage, "y"].isna().all() and history.loc[~outage, "y"].notna().all()
    assert series.loc[outage, "y"].notna().all()  # target_series keeps the recorded values
    assert len(outages) == outage.sum()
    off, none = mask_suspected_outages(series, NO_EVENTS, {**params, "outages": None}, layout)
    assert off["y"].notna().all() and none.empty
    assert mask_outages(series, none) is series


def test_a_zero_in_a_sparse_series_is_chance_not_an_outage():
    rng = np.random.default_rng(0)
    ds = pd.date_range("2025-01-06", periods=8 * 168, freq="h")
    rate = 3 * np.clip(np.sin(np.pi * (ds.hour - 6) / 14), 0, None)  # a few requests an hour by day, none at night
    series = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": rng.poisson(rate).astype(float)})
    assert _flagged(series, season=168, freq="h") == []
    busy = series.assign(y=rng.poisson(100 * rate).astype(float))
    gap = busy["ds"].between("2025-01-29 11:00", "2025-01-29 12:00")
    busy.loc[gap, "y"] = 0.0
    assert _flagged(busy, season=168, freq="h") == list(busy.loc[gap, "ds"])


def test_a_month_of_zeros_in_a_busy_series_is_a_gap_but_a_launch_or_a_retirement_is_not():
    """Longer than a season, a run of zeros has zero neighbours inside it: it is compared with the seasons
    either side of the run. Read as demand, such a month made a quarter's P90 cost 46,000 times its P50."""
    series = _daily(days=240)
    month = series["ds"].between("2025-04-01", "2025-04-30")
    series.loc[month, "y"] = 0.0
    assert _flagged(series) == list(series.loc[month, "ds"])
    launched = _daily(days=240)
    launched.loc[launched["ds"] < "2025-04-01", "y"] = 0.0  # no usage before the model was adopted
    assert _flagged(launched) == []
    retired = _daily(days=240)
    retired.loc[retired["ds"] >= "2025-07-01", "y"] = 0.0  # and none after it was switched off
    assert _flagged(retired) == []
    rng = np.random.default_rng(2)
    sparse = _daily(days=240).assign(y=rng.poisson(0.3, 240).astype(float))  # used about one day in four
    sparse.loc[sparse["ds"].between("2025-04-01", "2025-04-30"), "y"] = 0.0
    assert _flagged(sparse) == []


def test_weekends_of_a_weekday_workload_and_one_target_switched_off_are_not_gaps():
    """With a daily season a weekday-only workload's weekends are runs of zeros longer than a season; and
    without a requests column every target is checked, so caching switched off for two weeks zeroed one
    target alone. Neither is a gap: the rule needs a season of a week and every target at zero."""
    rng = np.random.default_rng(4)
    ds = pd.date_range("2025-01-06", periods=13 * 24, freq="h")
    workday = (ds.dayofweek < 5) & (ds.hour >= 8) & (ds.hour < 18)
    weekdays = pd.DataFrame({"series": "m", "target": "requests", "ds": ds,
                             "y": np.where(workday, rng.poisson(200, len(ds)), 0).astype(float)})
    assert _flagged(weekdays, season=24, freq="h") == []
    days = _daily(days=120)
    tokens = pd.concat([days.assign(target="input_tokens", y=days["y"] * 900),
                        days.assign(target="cache_write_tokens", y=days["y"] * 90)], ignore_index=True)
    off = tokens["ds"].between("2025-03-03", "2025-03-16") & (tokens["target"] == "cache_write_tokens")
    tokens.loc[off, "y"] = 0.0
    assert _flagged(tokens) == []


def test_requests_decide_and_every_target_of_the_series_goes_missing():
    requests = _daily()
    tokens = requests.assign(target="input_tokens", y=requests["y"] * 800)
    swing = tokens["ds"] == "2025-04-09"
    tokens.loc[swing, "y"] *= 0.1  # shorter prompts one day: tokens alone are not an outage
    outage = requests["ds"].between("2025-03-03", "2025-03-05")
    requests.loc[outage, "y"] *= 0.1
    tokens.loc[outage.to_numpy(), "y"] *= 0.1
    series = pd.concat([requests, tokens], ignore_index=True)
    outages = suspected_outages(series, "D", 7, NO_EVENTS, set(), PARAMS)
    assert set(outages["target"]) == {"requests"} and sorted(outages["ds"]) == list(requests.loc[outage, "ds"])
    masked = mask_outages(series, outages)
    assert masked.loc[masked["ds"].between("2025-03-03", "2025-03-05"), "y"].isna().sum() == 6
    assert masked["y"].isna().sum() == 6
    # Without a requests target, each target is checked: then the tokens' swing is flagged,
    # also when another series of the same table has requests.
    assert pd.Timestamp("2025-04-09") in set(suspected_outages(tokens, "D", 7, NO_EVENTS, set(), PARAMS)["ds"])
    mixed = pd.concat([requests, tokens.assign(series="a-console-series")], ignore_index=True)
    found = suspected_outages(mixed, "D", 7, NO_EVENTS, set(), PARAMS)
    assert pd.Timestamp("2025-04-09") in set(found.loc[found["series"] == "a-console-series", "ds"])
    assert set(found.loc[found["series"] == "claude-sonnet-4-5", "target"]) == {"requests"}


def test_an_ordinary_hour_among_a_batch_jobs_bursts_is_not_an_outage():
    rng = np.random.default_rng(2)
    ds = pd.date_range("2025-01-06", periods=10 * 168, freq="h")
    base = 250 * rng.lognormal(0, 0.1, len(ds))
    burst = (ds.hour == 4) & (rng.random(len(ds)) < 0.6)  # a batch job on most nights at 04:00
    series = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": np.where(burst, 8 * base, base)})
    assert _flagged(series, season=168, freq="h") == []


def test_a_partial_last_day_and_a_fall_younger_than_a_season_are_flagged_against_the_weeks_before():
    series = _daily()
    assert _flagged(series) == []
    series.loc[series.index[-1], "y"] *= 0.3  # the export was taken mid-morning
    assert _flagged(series) == [series["ds"].iloc[-1]]
    fallen = series.copy()
    fallen.loc[fallen.index[-3:], "y"] *= 0.3  # three low days: an outage in progress, or a move not yet held
    assert _flagged(fallen) == list(fallen["ds"].iloc[-3:])
    held = series.copy()
    held.loc[held.index[-7:], "y"] *= 0.3  # a season of it: a step down, read as the level
    assert _flagged(held) == []


def test_a_young_fall_is_an_outage_where_every_series_shares_it_and_traffic_moved_where_not():
    old, new = _daily(seed=1), _daily(seed=2).assign(series="claude-sonnet-4-6")
    new = new.iloc[-10:].copy()
    share = np.clip((np.arange(10) - 5) / 3, 0, 1)
    old.loc[old.index[-10:], "y"] *= 1 - 0.9 * share  # a successor took the old model's traffic in the last days
    new["y"] *= 0.9 * share
    moved = pd.concat([old, new], ignore_index=True)
    assert len(suspected_outages(old, "D", 7, NO_EVENTS, set(), PARAMS)) == 3  # alone, its fall is young
    assert _flagged(moved) == []  # the total held: a migration, kept
    partial = pd.concat([_daily(seed=1), _daily(seed=2).assign(series="claude-haiku-4-5")], ignore_index=True)
    last = partial["ds"] == partial["ds"].max()
    partial.loc[last, "y"] *= 0.3  # an export taken mid-morning lowers every model's last day
    assert len(suspected_outages(partial, "D", 7, NO_EVENTS, set(), PARAMS)) == 2
    one = partial.copy()
    one.loc[last & (one["series"] == "claude-haiku-4-5"), "y"] /= 0.3  # one model's last day alone
    assert len(suspected_outages(one, "D", 7, NO_EVENTS, set(), PARAMS)) == 0


def _masked(series: pd.DataFrame, clean: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """``series`` with its suspected outages missing, as the pipeline's node leaves it, and the flagged days."""
    layout = {"freq": "D", "season": 7, "history_start": str(clean["ds"].min()), "history_end": str(clean["ds"].max())}
    masked, outages = mask_suspected_outages(series, NO_EVENTS, {"holiday_country": None, "outages": PARAMS},
                                             layout)
    return masked, list(outages["ds"])


def _candidate_totals(history: pd.DataFrame, origin: pd.Timestamp) -> pd.Series:
    """Each candidate's 28-day total from ``origin``."""
    from tokenplan.forecasting.candidates import candidate_points
    from tokenplan.forecasting.features import FeatureSpec, make_examples

    spec = FeatureSpec(freq="D", horizon=28, trend="level", holiday_country=None)
    examples = make_examples(history, NO_EVENTS, [origin], spec)
    points, _ = candidate_points(examples, history, origin, spec, [7], None, labelled_only=False)
    return points.groupby("method")["point"].sum()


def test_a_masked_partial_last_day_forecasts_as_the_complete_day_would():
    clean = _daily(days=120, noise=0.0)
    partial = clean.copy()
    partial.loc[partial.index[-1], "y"] *= 0.3  # the export was taken mid-morning
    masked, flagged = _masked(partial, clean)
    assert flagged == [clean["ds"].iloc[-1]]
    origin = clean["ds"].max()
    expected, got = _candidate_totals(clean, origin), _candidate_totals(masked, origin)
    for method in ("seasonal_naive", "seasonal_mean", "mstl", "ensemble"):
        assert got[method] == pytest.approx(expected[method], rel=0.02), method
    assert _candidate_totals(partial, origin)["seasonal_naive"] < 0.95 * expected["seasonal_naive"]  # starts low


def test_a_collapse_of_the_last_days_does_not_set_the_horizon():
    """The last three days at 60%, 15% and 10% of their weekdays (an outage in progress): masked, every
    candidate forecasts the level before, as from the complete history."""
    clean = _daily(days=400, noise=0.1, seed=3)
    fallen = clean.copy()
    fallen.loc[fallen.index[-3:], "y"] *= [0.6, 0.15, 0.1]
    masked, flagged = _masked(fallen, clean)
    assert flagged == list(clean["ds"].iloc[-2:])  # the 60% day is within the noise's reach
    origin = clean["ds"].max()
    expected, got = _candidate_totals(clean, origin), _candidate_totals(masked, origin)
    for method in ("seasonal_mean", "mstl", "ensemble"):
        assert got[method] == pytest.approx(expected[method], rel=0.1), method
    assert _candidate_totals(fallen, origin)["mstl"] < 0.6 * expected["mstl"]  # unmasked, MSTL carries the collapse


def test_bad_settings_name_the_parameter():
    for bad in ({**PARAMS, "max_ratio": 2}, {**PARAMS, "neighbours": 0}, {**PARAMS, "sigmas": -1}):
        with pytest.raises(ValueError, match="feature_engineering.outages"):
            suspected_outages(_daily(), "D", 7, NO_EVENTS, set(), bad)


BURSTS = {**PARAMS, "burst_ratio": 5.0}


def _bursts(series: pd.DataFrame) -> list[pd.Timestamp]:
    found = suspected_outages(series, "D", 7, NO_EVENTS, set(), BURSTS)
    return sorted(found.loc[found["kind"] == "burst", "ds"])


def test_a_one_off_burst_is_flagged_mid_history_and_three_days_before_the_end():
    # A runaway script: one day at 100x, mid-history and three days before the origin
    # (the last season: no seasons after it, but the days after it are back to normal).
    series = _daily()
    days = series["ds"].isin(pd.to_datetime(["2025-03-05", series["ds"].iloc[-3]]))
    series.loc[days, "y"] *= 100
    assert _bursts(series) == list(series.loc[days, "ds"])
    found = suspected_outages(series, "D", 7, NO_EVENTS, set(), BURSTS)
    assert set(found["kind"]) == {"burst"} and (found["expected"] < 2_000).all()
    assert _bursts(_daily()) == []  # the same noise without them: nothing
    assert _flagged(series) == []   # without burst_ratio, bursts are not checked


def test_a_step_up_a_recurring_burst_and_a_last_day_are_not_bursts():
    stepped = _daily()
    stepped.loc[stepped["ds"] >= "2025-04-01", "y"] *= 10       # a new customer, for good
    assert _bursts(stepped) == []
    late_step = _daily()
    late_step.loc[late_step.index[-3:], "y"] *= 10              # a new level three days ago
    assert _bursts(late_step) == []
    weekly = _daily()
    weekly.loc[weekly["ds"].dt.dayofweek == 2, "y"] *= 20       # a batch job every Wednesday
    assert _bursts(weekly) == []
    last = _daily()
    last.loc[last.index[-1], "y"] *= 100                        # the last day: a burst or a new level
    assert _bursts(last) == []


def test_a_burst_is_masked_for_the_forecast_and_listed_as_one():
    series = _daily()
    day = series["ds"] == "2025-03-05"
    series.loc[day, "y"] *= 100
    layout = {"freq": "D", "season": 7, "history_start": series["ds"].min(), "history_end": series["ds"].max()}
    masked, flagged = mask_suspected_outages(series, NO_EVENTS, {"holiday_country": None, "outages": BURSTS}, layout)
    assert masked.loc[day, "y"].isna().all() and masked.loc[~day, "y"].notna().all()
    runs = outage_runs(flagged, "D")
    assert runs[["kind", "buckets"]].to_dict("records") == [{"kind": "burst", "buckets": 1}]
    with pytest.raises(ValueError, match="burst_ratio"):
        suspected_outages(series, "D", 7, NO_EVENTS, set(), {**PARAMS, "burst_ratio": 0.5})


def test_a_sparse_models_busy_days_are_not_bursts():
    # A model used on one day in ten: its same-weekday neighbours are mostly zero, and a
    # day of use is how it is used, not a burst.
    rng = np.random.default_rng(5)
    series = _daily()
    series["y"] = np.where(rng.random(len(series)) < 0.1, rng.integers(5, 200, len(series)), 0).astype(float)
    assert _bursts(series) == []


def test_hourly_bursts_are_whole_days():
    # Hours of a daily cycle for ten weeks. A runaway day (every hour x20) is flagged, all
    # of its hours; a busy afternoon that runs late (four evening hours x8 over the same
    # hour of other weeks, the day's total x1.3) is a busy day, not a burst.
    rng = np.random.default_rng(6)
    ds = pd.date_range("2025-01-06", periods=70 * 24, freq="h")
    hour = ds.hour.to_numpy()
    y = 200 * (1.2 + np.sin(2 * np.pi * (hour - 6) / 24)) * rng.lognormal(0, 0.1, len(ds))
    series = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": y})
    runaway = series["ds"].dt.normalize() == "2025-02-12"
    late = (series["ds"].dt.normalize() == "2025-02-20") & series["ds"].dt.hour.between(19, 22)
    series.loc[runaway, "y"] *= 20
    series.loc[late, "y"] *= 8
    found = suspected_outages(series, "h", 168, NO_EVENTS, set(), BURSTS)
    bursts = found[found["kind"] == "burst"]
    assert list(bursts["ds"]) == list(series.loc[runaway, "ds"])
    assert bursts["expected"].sum() == pytest.approx(series.loc[runaway, "y"].sum() / 20, rel=0.5)
