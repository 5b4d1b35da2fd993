"""Origin-anchored features: no look-ahead, a trend anchor that follows growth, the origin grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.features import FeatureSpec, feature_columns, make_examples, origin_grid

START = pd.Timestamp("2025-01-01")
MONTHLY_GROWTH = 0.08
WEEKLY_CYCLE = np.array([1.0, 1.15, 1.2, 1.1, 1.0, 0.45, 0.35])  # Mon..Sun


def _long(values: dict[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    frames = [pd.DataFrame({"series": s, "target": t, "ds": pd.date_range(START, periods=len(y), freq="D"), "y": y})
              for (s, t), y in values.items()]
    return pd.concat(frames, ignore_index=True)


def _growing(days: int, base: float = 1e6) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Noiseless daily series growing MONTHLY_GROWTH a month with a weekly cycle, and its trend."""
    ds = pd.date_range(START, periods=days, freq="D")
    growth = (1 + MONTHLY_GROWTH) ** (np.arange(days) / (365.25 / 12))
    trend = base * growth * WEEKLY_CYCLE.mean()
    return ds, base * growth * WEEKLY_CYCLE[ds.dayofweek], trend


def _events() -> pd.DataFrame:
    return pd.DataFrame({
        "start": pd.to_datetime(["2025-05-05", "2025-05-20", "2025-07-04"], utc=True),
        "end": pd.to_datetime(["2025-05-12", "2025-05-21", "2025-07-05"], utc=True),
        "name": ["campaign", "launch", "holiday"],
        "kind": ["campaign", "launch", "holiday"],
        "scope": ["", "model-a", ""],
    })


def _stated_events() -> pd.DataFrame:
    """The same events with stated effects, plus a stated campaign spanning 2025-05-01."""
    spanning = pd.DataFrame({"start": pd.to_datetime(["2025-04-25"], utc=True),
                             "end": pd.to_datetime(["2025-05-04"], utc=True),
                             "name": ["spring sale"], "kind": ["campaign"], "scope": ["model-a"]})
    return pd.concat([_events(), spanning], ignore_index=True).assign(effect=[1.5, 1.3, np.nan, 1.4])


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = 260
    values = {}
    for k, key in enumerate([("model-a", "requests"), ("model-a", "output_tokens"), ("model-b", "requests")]):
        _, y, _ = _growing(days, base=1e3 * (k + 1))
        y = y * rng.lognormal(0, 0.1, days)
        y[100:103] = np.nan  # an outage gap in the history
        values[key] = y
    return _long(values)


@pytest.mark.parametrize("events", [_events(), _stated_events()], ids=["unsized", "stated"])
def test_features_at_an_origin_ignore_every_value_after_it(history, events):
    spec = FeatureSpec(horizon=56)
    origin = pd.Timestamp("2025-05-01")
    later_origin = origin + pd.Timedelta(days=28)
    future = history["ds"] > origin
    garbage = history.copy()
    rng = np.random.default_rng(1)
    garbage.loc[future, "y"] = rng.choice([0.0, np.nan, 1e12], size=int(future.sum()))

    clean = make_examples(history, events, [origin, later_origin], spec)
    dirty = make_examples(garbage, events, [origin, later_origin], spec)

    clean_at, dirty_at = clean[clean["origin"] == origin], dirty[dirty["origin"] == origin]
    assert len(clean_at) == 3 * spec.horizon
    inputs = ["series", "target", "origin", "ds", *feature_columns(spec), "anchor_local_linear", "anchor_level",
              "stated_effect", "seasonal_naive"]
    pd.testing.assert_frame_equal(clean_at[inputs].reset_index(drop=True), dirty_at[inputs].reset_index(drop=True))
    # Only the labels changed, so the comparison above was not vacuous.
    assert not np.allclose(clean_at["y"].to_numpy(), dirty_at["y"].to_numpy(), equal_nan=True)
    assert not np.allclose(clean_at["z"].to_numpy(), dirty_at["z"].to_numpy(), equal_nan=True)
    # The later origin sees the changed history, so its features do change.
    clean_later, dirty_later = clean[clean["origin"] == later_origin], dirty[dirty["origin"] == later_origin]
    assert not np.allclose(clean_later["log_level"].to_numpy(), dirty_later["log_level"].to_numpy(), equal_nan=True)


def test_labels_are_the_values_at_the_target_time(history):
    spec = FeatureSpec(horizon=14)
    origin = pd.Timestamp("2025-06-01")

    examples = make_examples(history, _events(), [origin], spec)

    merged = examples.merge(history, on=["series", "target", "ds"], suffixes=("", "_truth"))
    assert len(merged) == len(examples)
    np.testing.assert_array_equal(merged["y"].to_numpy(), merged["y_truth"].to_numpy())
    assert (examples["ds"] - examples["origin"] == pd.to_timedelta(examples["step"], unit="D")).all()
    np.testing.assert_allclose(examples["z"], np.log1p(examples["y"]) - examples["anchor"])


def test_anchor_follows_growth_over_a_quarter_horizon():
    horizon = 91
    ds, y, trend = _growing(300)
    series = _long({("model-a", "requests"): y})
    origin = ds[300 - horizon - 1]
    no_events = _events().iloc[0:0]

    examples = make_examples(series, no_events, [origin], FeatureSpec(horizon=horizon, holiday_country=None))
    flat = make_examples(series, no_events, [origin], FeatureSpec(horizon=horizon, trend="level",
                                                                   holiday_country=None))

    assert len(examples) == horizon
    truth = pd.Series(trend, index=ds).loc[examples["ds"]].to_numpy()
    ratio = np.expm1(examples["anchor"].to_numpy()) / truth
    assert np.abs(ratio - 1).max() < 0.03, ratio
    # The last step is ~3 months ahead: a flat anchor misses the ~26% growth, so the test
    # above really measures the trend, not just the level.
    flat_ratio = np.expm1(flat["anchor"].to_numpy()[-1]) / truth[-1]
    assert flat_ratio < 0.85
    # Every weekday's seasonal multiplier is left to the model, in z, with the right sign.
    weekday = examples["ds"].dt.dayofweek.to_numpy()
    assert (examples["z"].to_numpy()[weekday == 2] > 0.1).all()
    assert (examples["z"].to_numpy()[weekday == 6] < -0.5).all()


def test_origin_grid_ends_on_the_last_day_and_starts_after_warm_up():
    spec = FeatureSpec(horizon=28)
    series = _long({("model-a", "requests"): np.ones(203)})
    last_day = series["ds"].max()

    origins = origin_grid(series, spec, every=7)

    assert origins[-1] == last_day
    assert origins[0] >= series["ds"].min() + pd.Timedelta(spec.warmup, unit="D")
    assert origins[0] - pd.Timedelta(7, unit="D") < series["ds"].min() + pd.Timedelta(spec.warmup, unit="D")
    assert set(np.diff(origins)) == {pd.Timedelta(7, unit="D")}


def test_origin_grid_is_empty_when_history_is_shorter_than_warm_up():
    spec = FeatureSpec(horizon=28)
    series = _long({("model-a", "requests"): np.ones(spec.warmup - 1)})

    assert origin_grid(series, spec, every=7) == []


def test_future_rows_after_the_last_origin_are_kept_unlabelled(history):
    spec = FeatureSpec(horizon=28)
    last = history["ds"].max()

    examples = make_examples(history, _events(), [last], spec)

    assert len(examples) == 3 * spec.horizon
    assert examples["ds"].min() == last + pd.Timedelta(1, unit="D")
    assert examples["y"].isna().all() and examples["z"].isna().all()
    assert np.isfinite(examples["anchor"]).all()
    # Known-in-advance calendar features are filled for the future.
    assert examples.loc[examples["ds"] == pd.Timestamp("2025-10-06"), "day_of_week"].eq(0).all()


def test_a_gap_in_the_history_stays_unknown_not_zero():
    ds = pd.date_range(START, periods=130, freq="D")
    y = np.full(len(ds), 100.0)
    y[110] = np.nan  # an outage day: resample_targets marks incomplete days NaN
    series = pd.DataFrame({"series": "model-a", "target": "requests", "ds": ds, "y": y})
    spec = FeatureSpec(horizon=14, holiday_country=None)

    labelled = make_examples(series, _events().iloc[0:0], [ds[100]], spec)
    later = make_examples(series, _events().iloc[0:0], [ds[113]], spec)

    gap = labelled[labelled["ds"] == ds[110]]
    assert gap["y"].isna().all() and gap["z"].isna().all()  # not a label of 0 (z = -4.6)
    # A week after the gap, its same-phase value is unknown, not a 100% drop.
    assert not (later["last_same_phase"] < -1).any()


def test_a_series_whose_rows_stop_days_before_the_end_is_anchored_at_its_level_before():
    """Two models in one file; one's rows stop ten days before the other's (idle, not yet ended). With a
    one-week level window the idle model had no level at the last origin and no row: no candidate forecast
    it, and 80% of a user's usage fell out of the plan. It is anchored at its level before the stop; a
    series idle longer than the stale seasons allowed is still left without a level."""
    ds = pd.date_range(START, periods=70, freq="D")
    busy = 1e3 * WEEKLY_CYCLE[ds.dayofweek]
    idle = busy.copy()
    idle[-10:] = np.nan
    gone = busy.copy()
    gone[-30:] = np.nan
    series = _long({("model-a", "requests"): busy, ("model-b", "requests"): idle, ("model-c", "requests"): gone})
    spec = FeatureSpec(horizon=14, holiday_country=None, level_weeks=1, trend_weeks=4)

    examples = make_examples(series, _events().iloc[0:0], [ds[-1]], spec)

    assert set(examples["series"]) == {"model-a", "model-b"}
    levels = examples.groupby("series", observed=True)["anchor_level"].first()
    assert levels["model-b"] == pytest.approx(levels["model-a"], rel=1e-9)


def test_stated_event_effects_are_divided_out_of_the_history_and_multiplied_into_the_anchor():
    days, horizon = 200, 28
    ds = pd.date_range(START, periods=days, freq="D")
    y = 1e4 * WEEKLY_CYCLE[ds.dayofweek]
    origin = ds[days - horizon - 1]
    campaign = (ds > origin - pd.Timedelta(days=10)) & (ds <= origin - pd.Timedelta(days=3))
    launch_day = origin + pd.Timedelta(days=10)
    traffic = y * np.where(campaign, 1.5, 1.0) * np.where(ds > launch_day, 1.3, 1.0)
    traffic[ds == launch_day] *= 1.15  # launched at noon: half the day at the new level
    series = _long({("model-a", "requests"): traffic})
    events = pd.DataFrame({
        "start": pd.to_datetime([ds[campaign][0], launch_day + pd.Timedelta(hours=12)], utc=True),
        "end": pd.to_datetime([ds[campaign][-1] + pd.Timedelta(days=1), ds[-1] + pd.Timedelta(days=1)], utc=True),
        "name": ["promo", "v2"], "kind": ["campaign", "launch"], "scope": ["", "model-a"],
        "effect": [1.5, 1.3],
    })
    spec = FeatureSpec(horizon=horizon, trend="level", holiday_country=None)

    stated = make_examples(series, events, [origin], spec)
    unknown = make_examples(series, events.drop(columns="effect"), [origin], spec)
    clean = make_examples(_long({("model-a", "requests"): y}), events.iloc[:0], [origin], spec)

    # The campaign inside the level window no longer moves the level or the profile.
    np.testing.assert_allclose(stated["log_level"], clean["log_level"], rtol=1e-9)
    np.testing.assert_allclose(stated["seasonal_index"], clean["seasonal_index"], atol=1e-9)
    # The anchor carries the planned launch: x1.3 after it, half of it on the launch day.
    ratio = np.expm1(stated["anchor"].to_numpy()) / np.expm1(clean["anchor"].to_numpy())
    after = (stated["ds"] > launch_day).to_numpy()
    np.testing.assert_allclose(ratio[after], 1.3)
    np.testing.assert_allclose(ratio[(stated["ds"] == launch_day).to_numpy()], 1.15)
    np.testing.assert_allclose(ratio[(stated["ds"] < launch_day).to_numpy()], 1.0)
    # So the label z is the same as on the series without events: nothing left to learn.
    np.testing.assert_allclose(stated["z"], clean["z"], atol=1e-4)
    # The seasonal-naive baseline knows no events: it repeats the raw series of a week before.
    lag = pd.to_timedelta(7 * np.ceil(stated["step"] / 7), unit="D")
    raw = pd.Series(traffic, index=ds).loc[stated["ds"] - lag].to_numpy()
    np.testing.assert_allclose(stated["seasonal_naive"], raw)
    # A sized event sets no flag: there is no residual for the model to learn and re-apply.
    assert (stated["campaign"] == 0).all() and (stated["launch_after_origin"] == 0).all()
    assert (unknown["launch_after_origin"] == 1).any()
    # Without stated effects the campaign inflates the history and the launch is left to the model.
    assert not np.allclose(unknown["seasonal_index"], clean["seasonal_index"])
    np.testing.assert_allclose(unknown["anchor"].to_numpy()[after], unknown["anchor"].to_numpy()[0])


def test_a_local_holiday_marks_its_utc_day_not_the_next_one():
    ds, y, _ = _growing(120)
    series = _long({("model-a", "requests"): y})
    new_york_day = pd.Timestamp("2025-04-10", tz="America/New_York")  # 04:00 to 04:00 UTC next day
    events = pd.DataFrame({"start": [new_york_day.tz_convert("UTC")],
                           "end": [(new_york_day + pd.Timedelta(days=1)).tz_convert("UTC")],
                           "name": ["team holiday"], "kind": ["holiday"], "scope": [""]})
    spec = FeatureSpec(horizon=28, holiday_country=None)

    examples = make_examples(series, events, [pd.Timestamp("2025-04-01")], spec).set_index("ds")

    assert examples.loc["2025-04-10", "is_holiday"] == pytest.approx(20 / 24)
    assert examples.loc["2025-04-11", "is_holiday"] == pytest.approx(4 / 24)
    assert examples.loc["2025-04-12", "is_holiday"] == 0.0


def test_a_launch_before_the_history_counts_its_age_from_its_real_date():
    ds, y, _ = _growing(120)
    series = _long({("model-a", "requests"): y})
    events = pd.DataFrame({"start": pd.to_datetime(["2024-12-22"], utc=True),  # 10 days before the history
                           "end": pd.to_datetime(["2026-01-01"], utc=True),
                           "name": ["old launch"], "kind": ["launch"], "scope": ["model-a"]})
    spec = FeatureSpec(horizon=14, holiday_country=None, launch_memory_weeks=8)
    origin = ds[0] + pd.Timedelta(days=spec.warmup)

    examples = make_examples(series, events, [origin], spec)

    age = (examples["ds"] - pd.Timestamp("2024-12-22")).dt.days.to_numpy()
    np.testing.assert_array_equal(examples["steps_since_launch"], np.minimum(age, 8 * 7))
    assert (examples["launch_after_origin"] == 0).all()


def test_a_gap_in_a_season_counts_at_its_phase_share_not_as_an_average_day():
    from tokenplan.forecasting.features import _block_means

    cycle = np.array([1.0, 1.1, 1.1, 1.0, 0.9, 0.5, 0.4])
    values = np.tile(cycle, 4)[None, :] * 100
    complete = _block_means(values, 27, 7, 4)
    for missing in ([27], [22], [20, 27]):  # a Sunday, a Tuesday, two in different weeks
        gappy = values.copy()
        gappy[0, missing] = np.nan
        np.testing.assert_allclose(_block_means(gappy, 27, 7, 4), complete)
    mostly_missing = values.copy()
    mostly_missing[0, 21:25] = np.nan  # under half of the last week observed
    assert np.isnan(_block_means(mostly_missing, 27, 7, 4)[0, -1])


def test_after_a_long_gap_a_partial_week_counts_at_the_longer_profiles_shares():
    # Eight complete weeks, five weeks missing, then Thursday to Sunday observed: the level's
    # four-week window saw no other phase, and its mean was those four days' plain mean
    # (weekend-heavy: 0.82 of the week's). With the profile read over twelve weeks the last
    # block's mean is the week's again.
    from tokenplan.forecasting.features import _block_means

    cycle = np.array([1.0, 1.1, 1.1, 1.0, 0.9, 0.5, 0.4])  # Monday first
    values = np.tile(cycle, 14)[None, :] * 100
    values[0, 8 * 7:13 * 7 + 3] = np.nan   # weeks 9-13 and the last week's Monday to Wednesday
    origin = values.shape[1] - 1           # the last Sunday
    last = _block_means(values, origin, 7, 4)[0, -1]
    assert last == pytest.approx(cycle.mean() * 100, rel=1e-9)


def _shifted(days: int, factor: float, since: int, seed: int = 0) -> pd.DataFrame:
    """A noisy weekly-cycled daily series at 1,000 whose last ``since`` days are ``factor`` times it."""
    ds = pd.date_range(START, periods=days, freq="D")
    y = 1e3 * WEEKLY_CYCLE[ds.dayofweek] * np.random.default_rng(seed).lognormal(0, 0.1, days)
    y[days - since:] *= factor
    return _long({("model-a", "requests"): y})


@pytest.mark.parametrize("factor, since", [(3.0, 10), (1 / 3, 10), (0.2, 14), (3.0, 17)])
def test_after_a_level_shift_the_level_and_the_seasonal_mean_are_the_new_level(factor, since):
    # A feature that went live (or a migration away) ten days before the origin: the median of
    # four weekly means was 1.43 times the old level, and two of the ensemble's members forecast
    # the quarter there. Two weeks after a fall to a fifth, the median read 0.6.
    series = _shifted(200, factor, since=since)
    origin = series["ds"].max()
    spec = FeatureSpec(horizon=28, trend="level", holiday_country=None)

    examples = make_examples(series, _events().iloc[0:0], [origin], spec)

    new_level = 1e3 * factor * WEEKLY_CYCLE.mean()
    assert np.expm1(examples["anchor_level"].iloc[0]) == pytest.approx(new_level, rel=0.1)
    seasonal_mean = np.expm1(examples["anchor_level"] + examples["seasonal_index"]).to_numpy()
    assert seasonal_mean.mean() == pytest.approx(new_level, rel=0.1)
    off = make_examples(series, _events().iloc[0:0], [origin], FeatureSpec(horizon=28, trend="level",
                                                                           holiday_country=None,
                                                                           level_shift_ratio=None))
    assert abs(np.log(np.expm1(off["anchor_level"].iloc[0]) / new_level)) > np.log(1.2)


@pytest.mark.parametrize("factor, since", [(0.5, 7), (5.0, 7), (1.3, 14)])
def test_one_odd_week_or_a_small_move_leaves_the_level_at_the_median_of_the_weeks(factor, since):
    # A holiday week at half volume, a one-week burst, a move smaller than the shift ratio.
    series = _shifted(200, factor, since=since)
    origin = series["ds"].max()
    spec = FeatureSpec(horizon=28, trend="level", holiday_country=None)

    examples = make_examples(series, _events().iloc[0:0], [origin], spec)
    off = make_examples(series, _events().iloc[0:0], [origin], FeatureSpec(horizon=28, trend="level",
                                                                           holiday_country=None,
                                                                           level_shift_ratio=None))

    np.testing.assert_array_equal(examples["anchor_level"].to_numpy(), off["anchor_level"].to_numpy())
    np.testing.assert_array_equal(examples["seasonal_index"].to_numpy(), off["seasonal_index"].to_numpy())



def test_three_years_of_days_carry_what_the_same_dates_did_a_year_before():
    """A yearly swing (period 364 days, so weekdays align) with a weekly cycle and no noise: the yearly change
    at each target is the swing from the level's time to the target's, which the weekly features cannot know."""
    days = 3 * 364 + 120
    ds = pd.date_range(START, periods=days, freq="D")
    swing = 0.4 * np.sin(2 * np.pi * np.arange(days) / 364)
    y = 1e4 * np.exp(swing) * WEEKLY_CYCLE[ds.dayofweek]
    history = _long({("model-a", "requests"): y})
    spec = FeatureSpec(horizon=91, yearly=True)
    origin = ds[3 * 364 + 20]
    examples = make_examples(history, _events().iloc[:0], [origin], spec)

    assert "yearly_change" in feature_columns(spec) and "yearly_change" not in feature_columns(FeatureSpec())
    # This year's week around each target against the level at the origin: the same swing, a year on.
    week = pd.Series(y, index=ds).rolling(7, center=True).mean().reindex(examples["ds"]).to_numpy()
    truth = np.log1p(week) - examples["log_level"].to_numpy()
    assert np.abs(examples["yearly_change"].to_numpy() - truth).max() < 0.02
    assert truth.max() - truth.min() > 0.2  # a swing the weekly features cannot see
    short = make_examples(history[history["ds"] >= ds[3 * 364 - 200]], _events().iloc[:0], [origin], spec)
    assert short["yearly_change"].isna().all()  # no year before the origin: unknown, not zero


def test_the_yearly_change_is_on_only_where_the_layout_holds_a_yearly_season():
    from tokenplan.forecasting.features import spec_from_params

    layout = {"horizon": 91, "season": 7, "level_blocks": 4, "window": 91, "freq": "D", "seasons": [7, 365]}
    assert spec_from_params({"freq": "D"}, layout).yearly
    assert not spec_from_params({"freq": "D"}, {**layout, "seasons": [7]}).yearly
