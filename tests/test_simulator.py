"""Tests of the seeded usage simulator: schema, consistency and the shapes it promises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.simulator import TARGETS, SimulatorConfig, Simulation, simulate

CHAT = "claude-sonnet-4-5"
AGENT = "claude-opus-4-5"
BATCH = "claude-haiku-4-5"
SHORT = {"history_days": 60, "future_days": 14}


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SimulatorConfig(seed=7))


@pytest.fixture(scope="module")
def short_sim() -> Simulation:
    return simulate(SimulatorConfig(seed=3, **SHORT))


def _assert_same_simulation(a: Simulation, b: Simulation) -> None:
    pd.testing.assert_frame_equal(a.usage, b.usage)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.truth, b.truth)


def _local(timestamps: pd.Series) -> pd.Series:
    return timestamps.dt.tz_convert("America/New_York")


def test_same_seed_gives_identical_frames(short_sim):
    _assert_same_simulation(short_sim, simulate(SimulatorConfig(seed=3, **SHORT)))


def test_different_seed_gives_different_usage(short_sim):
    other = simulate(SimulatorConfig(seed=4, **SHORT))
    assert not short_sim.usage.equals(other.usage)
    when = ["start", "end", "name", "kind", "scope"]
    pd.testing.assert_frame_equal(short_sim.events[when], other.events[when])


def test_dict_config_is_accepted(short_sim):
    as_dict = simulate({"seed": 3, **SHORT})
    _assert_same_simulation(short_sim, as_dict)


def test_model_subset_keeps_that_models_data(short_sim):
    subset = simulate({"seed": 3, **SHORT, "models": [AGENT]})
    assert subset.config.models == (AGENT,)
    assert set(subset.usage["model"]) == {AGENT}
    full = short_sim.usage[short_sim.usage["model"] == AGENT].reset_index(drop=True)
    pd.testing.assert_frame_equal(subset.usage, full)


@pytest.mark.parametrize(
    "bad",
    [
        {"models": ("claude-unknown",)},
        {"history_end": "2026-10-01 12:00"},
        {"history_days": 10},
        {"local_timezone": "Mars/Olympus"},
        {"holiday_country": "XX"},
        {"growth_scale": -100.0},
    ],
)
def test_invalid_config_raises(bad):
    with pytest.raises(ValueError):
        SimulatorConfig(**bad)


def test_unknown_dict_field_raises():
    with pytest.raises(ValueError, match="unknown"):
        simulate({"sed": 1})


def test_usage_columns_dtypes_and_order(sim):
    usage = sim.usage
    assert list(usage.columns) == [
        "timestamp", "model", *TARGETS, "peak_rpm", "peak_itpm", "peak_otpm",
    ]  # fmt: skip
    assert str(usage["timestamp"].dtype) == "datetime64[ns, UTC]"
    for column in usage.columns[2:]:
        assert usage[column].dtype == np.int64, column
    assert set(usage["model"]) == {CHAT, AGENT, BATCH}
    sorted_usage = usage.sort_values(["model", "timestamp"], ignore_index=True)
    pd.testing.assert_frame_equal(usage, sorted_usage)
    assert not usage.duplicated(["model", "timestamp"]).any()


def test_usage_covers_history_only(sim):
    cfg = sim.config
    start = pd.Timestamp(cfg.history_end, tz="UTC") - pd.Timedelta(days=cfg.history_days)
    assert sim.usage["timestamp"].min() == start
    assert sim.usage["timestamp"].max() == pd.Timestamp(cfg.history_end, tz="UTC") - pd.Timedelta(hours=1)
    assert (sim.usage["timestamp"].dt.minute == 0).all()


def test_no_negative_counts(sim):
    assert (sim.usage.iloc[:, 2:] >= 0).all().all()
    assert (sim.truth["expected"] >= 0).all()
    assert (sim.truth["actual"].dropna() >= 0).all()


def test_events_schema_and_contents(sim):
    events = sim.events
    assert list(events.columns) == ["start", "end", "name", "kind", "scope", "effect"]
    assert str(events["start"].dtype) == "datetime64[ns, UTC]"
    assert str(events["end"].dtype) == "datetime64[ns, UTC]"
    assert (events["end"] > events["start"]).all()
    assert set(events["kind"]) == {"campaign", "launch", "holiday", "outage"}
    assert set(events["scope"]) <= {"", CHAT, AGENT, BATCH}

    history_end = pd.Timestamp(sim.config.history_end, tz="UTC")
    past = events[events["start"] < history_end]
    future = events[events["start"] >= history_end]
    past_campaigns = past[past["kind"] == "campaign"]
    assert 3 <= len(past_campaigns) <= 5
    assert (past_campaigns["scope"] == CHAT).all()
    assert 1 <= (past["kind"] == "launch").sum() <= 2
    outages = events[events["kind"] == "outage"]
    assert len(outages) == 1 and outages["scope"].iloc[0] == ""
    assert outages["end"].iloc[0] <= history_end
    assert (future["kind"] == "campaign").sum() >= 1
    assert (future["kind"] == "launch").sum() >= 1
    assert {"Thanksgiving Day", "Christmas Day"} <= set(events.loc[events["kind"] == "holiday", "name"])


def test_stated_effects_are_the_planners_estimates_of_the_true_multipliers():
    exact = simulate({**SHORT, "plan_error": 0.0}).events
    noisy = simulate({**SHORT, "plan_error": 0.1}).events
    sized = exact["kind"].isin(["campaign", "launch"])
    assert sized.any() and exact.loc[~sized, "effect"].isna().all()
    # With no planning error the stated effect is the multiplier the traffic follows,
    # rounded to 0.05; with error, each estimate moves but stays near the truth.
    assert exact.loc[sized, "effect"].gt(1.0).all()
    assert np.allclose(exact.loc[sized, "effect"] * 20, np.round(exact.loc[sized, "effect"] * 20))
    ratio = noisy.loc[sized, "effect"] / exact.loc[sized, "effect"]
    assert not np.allclose(ratio, 1.0) and ratio.between(0.6, 1.6).all()
    pd.testing.assert_frame_equal(simulate({**SHORT, "plan_error": 0.0}).usage,
                                  simulate({**SHORT, "plan_error": 0.1}).usage)


def test_holidays_are_whole_local_days(sim):
    holidays = sim.events[sim.events["kind"] == "holiday"]
    local_start = _local(holidays["start"])
    assert (local_start.dt.hour == 0).all()
    assert ((holidays["end"] - holidays["start"]) >= pd.Timedelta(hours=23)).all()


def test_truth_schema_and_grid(sim):
    truth = sim.truth
    assert list(truth.columns) == ["timestamp", "model", "target", "expected", "actual", "is_future"]
    assert str(truth["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert truth["expected"].dtype == np.float64 and truth["actual"].dtype == np.float64
    assert truth["is_future"].dtype == bool
    cfg = sim.config
    n_hours = 24 * (cfg.history_days + cfg.future_days)
    assert len(truth) == n_hours * 3 * len(TARGETS)
    assert set(truth["target"]) == set(TARGETS)
    history_end = pd.Timestamp(cfg.history_end, tz="UTC")
    assert (truth["is_future"] == (truth["timestamp"] >= history_end)).all()
    assert truth.loc[truth["is_future"], "actual"].notna().all()


def test_outage_hours_absent_from_usage_and_nan_in_truth(sim):
    outage = sim.events[sim.events["kind"] == "outage"].iloc[0]
    hours = pd.date_range(outage["start"], outage["end"], freq="h", inclusive="left")
    assert len(hours) >= 3
    assert not sim.usage["timestamp"].isin(hours).any()
    in_outage = sim.truth["timestamp"].isin(hours)
    assert sim.truth.loc[in_outage, "actual"].isna().all()
    assert (sim.truth.loc[in_outage, "expected"] > 0).all()
    assert sim.truth.loc[~in_outage, "actual"].notna().all()
    n_history_hours = 24 * sim.config.history_days
    assert len(sim.usage) == 3 * (n_history_hours - len(hours))


def test_actual_matches_usage_in_history(sim):
    history = sim.truth[~sim.truth["is_future"] & sim.truth["actual"].notna()]
    wide = history.pivot_table(
        index=["model", "timestamp"], columns="target", values="actual"
    ).reset_index()
    merged = sim.usage.merge(wide, on=["model", "timestamp"], suffixes=("", "_truth"))
    assert len(merged) == len(sim.usage) == len(wide)
    for target in TARGETS:
        np.testing.assert_array_equal(merged[target].to_numpy(float), merged[f"{target}_truth"])


def test_peaks_consistent_with_hourly_sums(sim):
    u = sim.usage
    assert (u["peak_rpm"] <= u["requests"]).all()
    assert (u["peak_rpm"] * 60 >= u["requests"]).all()
    input_side = u["input_tokens"] + u["cache_write_tokens"]
    assert (u["peak_itpm"] <= input_side).all()
    assert (u["peak_itpm"] * 60 >= input_side).all()
    assert (u["peak_otpm"] <= u["output_tokens"]).all()
    assert (u["peak_otpm"] * 60 >= u["output_tokens"]).all()
    assert ((u["requests"] == 0) <= (u["output_tokens"] == 0)).all()


def test_expected_is_the_mean_of_actual(sim):
    history = sim.truth[~sim.truth["is_future"] & sim.truth["actual"].notna()]
    sums = history.groupby(["model", "target"])[["expected", "actual"]].sum()
    ratio = sums["actual"] / sums["expected"]
    assert ratio.between(0.96, 1.04).all(), ratio
    future = sim.truth[sim.truth["is_future"]]
    future_sums = future.groupby(["model", "target"])[["expected", "actual"]].sum()
    assert (future_sums["actual"] / future_sums["expected"]).between(0.9, 1.1).all()


def test_chat_model_daily_and_weekly_shape(sim):
    chat = sim.usage[sim.usage["model"] == CHAT]
    local = _local(chat["timestamp"])
    holiday_days = {
        d.date()
        for d in _local(sim.events.loc[sim.events["kind"] == "holiday", "start"])
    }
    workday = (local.dt.dayofweek < 5) & ~local.dt.date.isin(holiday_days)
    by_hour = chat[workday].groupby(local[workday].dt.hour)["requests"].mean()
    night_to_afternoon = by_hour[[2, 3, 4]].mean() / by_hour[[14, 15]].mean()
    assert 0.03 <= night_to_afternoon <= 0.08

    daily = chat.groupby(local.dt.date)["requests"].sum()
    weekday = pd.to_datetime(daily.index).dayofweek
    is_holiday = daily.index.isin(holiday_days)
    weekend_ratio = daily[(weekday >= 5) & ~is_holiday].mean() / daily[(weekday < 5) & ~is_holiday].mean()
    assert 0.42 <= weekend_ratio <= 0.58


def test_agent_model_is_burstier_than_chat(sim):
    u = sim.usage
    busy = u[u["requests"] >= 300]
    burst = (busy["peak_rpm"] / (busy["requests"] / 60)).groupby(busy["model"]).mean()
    assert 1.4 <= burst[CHAT] <= 2.0
    assert 3.0 <= burst[AGENT] <= 5.0


def test_planned_future_campaign_is_in_truth(sim):
    events = sim.events
    history_end = pd.Timestamp(sim.config.history_end, tz="UTC")
    campaign = events[(events["kind"] == "campaign") & (events["start"] >= history_end)].iloc[0]
    assert campaign["end"] <= history_end + pd.Timedelta(days=sim.config.future_days)
    chat = sim.truth[(sim.truth["model"] == campaign["scope"]) & (sim.truth["target"] == "requests")]
    chat = chat.set_index("timestamp")
    during = chat.loc[campaign["start"] : campaign["end"] - pd.Timedelta(hours=1)]
    # Two weeks earlier: same weekdays and hours, a little less growth.
    before = chat.loc[
        campaign["start"] - pd.Timedelta(days=14) : campaign["end"] - pd.Timedelta(days=14, hours=1)
    ]
    assert len(during) == len(before) > 0
    assert during["is_future"].all()
    assert during["expected"].sum() / before["expected"].sum() > 1.3
    assert during["actual"].sum() / before["actual"].sum() > 1.3


def test_past_launch_is_a_step_change(sim):
    launch = sim.events[(sim.events["kind"] == "launch") & (sim.events["scope"] == AGENT)].iloc[0]
    agent = sim.truth[(sim.truth["model"] == AGENT) & (sim.truth["target"] == "requests")]
    agent = agent.set_index("timestamp")["expected"]
    week = pd.Timedelta(days=7)
    after = agent.loc[launch["start"] : launch["start"] + 2 * week - pd.Timedelta(hours=1)]
    before = agent.loc[launch["start"] - 2 * week : launch["start"] - pd.Timedelta(hours=1)]
    assert 1.8 <= after.sum() / before.sum() <= 2.5


def test_growth_over_history_is_positive(sim):
    history = sim.truth[~sim.truth["is_future"] & (sim.truth["target"] == "requests")]
    for model, series in history.groupby("model"):
        expected = series["expected"].to_numpy()
        four_weeks = 28 * 24
        assert expected[-four_weeks:].mean() / expected[:four_weeks].mean() > 1.3, model


def test_growth_scale_multiplies_growth(short_sim):
    def agent_requests(result: Simulation) -> pd.Series:
        truth = result.truth
        rows = truth[(truth["model"] == AGENT) & (truth["target"] == "requests")]
        return rows.set_index("timestamp")["expected"]

    flat = agent_requests(simulate({"seed": 3, **SHORT, "growth_scale": 0.0}))
    usual = agent_requests(short_sim)
    steep = agent_requests(simulate({"seed": 3, **SHORT, "growth_scale": 2.0}))
    months = (flat.index[-1] - flat.index[0]) / pd.Timedelta(days=365.25 / 12)
    monthly_growth = (usual.iloc[-1] / flat.iloc[-1]) ** (1 / months) - 1
    steep_growth = (steep.iloc[-1] / flat.iloc[-1]) ** (1 / months) - 1
    assert 0.03 <= monthly_growth <= 0.08
    assert steep_growth == pytest.approx(2 * monthly_growth, rel=1e-6)
    assert (usual >= flat).all() and (steep >= usual).all()


def test_peak_replays_leave_usage_and_truth_unchanged_and_track_the_realised_peaks(short_sim):
    # The replays use a stream of their own: the usage and truth are drawn exactly as without them.
    without = simulate(SimulatorConfig(seed=3, peak_replays=0, **SHORT))
    _assert_same_simulation(short_sim, without)
    assert set(without.peaks["draw"]) == {0}  # the realised peaks only
    peaks = short_sim.peaks
    assert list(peaks.columns) == ["timestamp", "model", "metric", "draw", "peak"]
    days = SHORT["future_days"]
    assert len(peaks) == 3 * 3 * days * (1 + SimulatorConfig().peak_replays)
    # Draw 0 is the realised future: its RPM peak is the busiest minute of the truth's days.
    realised = peaks[(peaks["draw"] == 0) & (peaks["metric"] == "rpm") & (peaks["model"] == CHAT)]
    hourly = short_sim.truth[(short_sim.truth["model"] == CHAT) & (short_sim.truth["target"] == "requests")
                             & short_sim.truth["is_future"]]
    assert (realised["peak"].to_numpy() * 60 >= hourly.groupby(hourly["timestamp"].dt.floor("D"))["actual"]
            .max().to_numpy()).all()  # the busiest minute is at least the busiest hour's mean minute
    # Replays and the realised days come from the same model: medians agree (60 days, so that
    # the batch model's days with and without jobs average out).
    longer = simulate(SimulatorConfig(seed=3, history_days=60, future_days=60)).peaks
    by_draw = longer.groupby(["model", "metric", longer["draw"] > 0])["peak"].median().unstack()
    ratio = by_draw[True] / by_draw[False]
    assert ratio.between(0.85, 1.15).all(), ratio
