"""A series without usage in the history's last ``ended_days`` has ended: the forecast and the organisation agree."""

from __future__ import annotations

import pandas as pd

from tokenplan.forecasting.ended_series import ended_series, without_idle_tails
from tokenplan.organisation.dimensions import series_status
from tokenplan.pipelines.feature_engineering.nodes import combine_migrated_traffic


def _history(last: dict[str, str], end: str = "2026-09-30") -> pd.DataFrame:
    """Daily requests from 2026-07-01 to ``end``: 100 a day up to each series' last day, zeros after."""
    days = pd.date_range("2026-07-01", end, freq="D")
    return pd.concat([pd.DataFrame({"series": s, "target": "requests", "ds": days,
                                    "y": (days <= pd.Timestamp(d)) * 100.0}) for s, d in last.items()])


def test_a_series_idle_for_ended_days_has_ended_and_one_idle_a_day_less_has_not():
    history = _history({"kept": "2026-09-30", "idle13": "2026-09-17", "idle14": "2026-09-16"})
    assert ended_series(history, 14) == {"idle14": pd.Timestamp("2026-09-16")}
    assert ended_series(history, 0) == {}


def test_zero_rows_after_the_last_usage_are_no_usage_and_hours_count_by_day():
    hours = pd.date_range("2026-09-01", "2026-09-30 23:00", freq="h")
    history = pd.concat([
        pd.DataFrame({"series": "kept", "target": "requests", "ds": hours, "y": 5.0}),
        # Used until 2026-09-16 23:00, then hourly zeros to the end: 14 whole days idle.
        pd.DataFrame({"series": "gone", "target": "requests", "ds": hours,
                      "y": (hours < pd.Timestamp("2026-09-17")) * 5.0}),
    ])
    assert ended_series(history, 14) == {"gone": pd.Timestamp("2026-09-16")}
    assert ended_series(history, 15) == {}


def test_the_organisation_calls_the_same_series_ended():
    history = _history({"m/a/kept": "2026-09-30", "m/a/idle13": "2026-09-17", "m/a/idle14": "2026-09-16"})
    usage = history.rename(columns={"ds": "timestamp", "y": "requests"}).drop(columns="target")
    status = series_status(usage, new_days=90, gone_days=14).set_index("series")["status"]
    assert status.to_dict() == {"m/a/idle13": "active", "m/a/idle14": "ended", "m/a/kept": "active"}
    assert set(ended_series(history, 14)) == set(status[status == "ended"].index)


def test_a_job_that_runs_once_a_month_has_not_ended_three_weeks_after_its_run():
    days = pd.date_range("2026-01-01", "2026-10-21", freq="D")
    monthly = pd.DataFrame({"series": "batch", "target": "requests", "ds": days, "y": days.is_month_end * 500.0})
    daily = pd.DataFrame({"series": "gone", "target": "requests", "ds": days,
                          "y": (days <= pd.Timestamp("2026-09-30")) * 100.0})
    history = pd.concat([monthly, daily])
    # Both last used on 2026-09-30, 21 days before the end: the daily one has ended, the monthly job has not.
    assert ended_series(history, 14) == {"gone": pd.Timestamp("2026-09-30")}
    usage = history.rename(columns={"ds": "timestamp", "y": "requests"}).drop(columns="target")
    status = series_status(usage, new_days=90, gone_days=14).set_index("series")["status"]
    assert status.to_dict() == {"batch": "active", "gone": "ended"}


def test_the_forecast_learns_a_series_up_to_a_stop_of_a_day_or_more_and_keeps_a_quiet_evening():
    hours = pd.date_range("2026-09-01", "2026-09-30 23:00", freq="h")
    history = pd.concat([
        pd.DataFrame({"series": "kept", "target": "requests", "ds": hours, "y": 5.0}),
        # Moved to another model: used until 2026-09-24 11:00, zeros after (six and a half days).
        pd.DataFrame({"series": "moved", "target": "requests", "ds": hours,
                      "y": (hours <= pd.Timestamp("2026-09-24 11:00")) * 5.0}),
        # A quiet model whose last call was at 15:00 on the last day: its evening is no usage, the day complete.
        pd.DataFrame({"series": "quiet", "target": "requests", "ds": hours,
                      "y": (hours <= pd.Timestamp("2026-09-30 15:00")) * 1.0}),
    ])

    learned = without_idle_tails(history).groupby("series")["ds"].max()

    assert learned["moved"] == pd.Timestamp("2026-09-24 11:00")
    assert learned["quiet"] == learned["kept"] == pd.Timestamp("2026-09-30 23:00")
    assert len(without_idle_tails(history[history["series"] != "moved"])) == 2 * len(hours)


def test_the_history_the_forecast_reads_ends_a_stopped_series_at_its_last_usage():
    history = _history({"kept": "2026-09-30", "moved": "2026-09-24"})

    forecast_series, _ = combine_migrated_traffic(history, {"migrations": True})

    assert forecast_series.groupby("series")["ds"].max().to_dict() == {
        "kept": pd.Timestamp("2026-09-30"), "moved": pd.Timestamp("2026-09-24")}


def test_a_series_used_from_a_short_history_s_first_week_is_not_new_and_a_key_issued_late_is():
    hours = pd.date_range("2026-07-18", "2026-09-30 23:00", freq="h")  # 75 days, fewer than new_days
    usage = pd.concat([pd.DataFrame({"timestamp": hours, "series": "web", "requests": 5.0}),
                       pd.DataFrame({"timestamp": hours[hours >= "2026-07-20"], "series": "mobile", "requests": 2.0}),
                       pd.DataFrame({"timestamp": hours[hours >= "2026-09-17"], "series": "agents-v2",
                                     "requests": 3.0})])

    status = series_status(usage, new_days=90, gone_days=14).set_index("series")["status"]

    assert status.to_dict() == {"agents-v2": "new", "mobile": "active", "web": "active"}
