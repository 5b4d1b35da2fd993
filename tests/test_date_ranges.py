"""Dates named as runs of consecutive days, the first few, then how many more."""

from __future__ import annotations

import pandas as pd

from tokenplan.date_ranges import date_ranges


def test_hours_of_a_missing_week_and_a_day_read_as_two_ranges_of_dates():
    hours = pd.date_range("2026-11-01", "2026-11-07 23:00", freq="h", tz="UTC")
    hours = hours.append(pd.DatetimeIndex(["2026-11-20 05:00"], tz="UTC"))

    assert date_ranges(hours) == "2026-11-01 to 2026-11-07, 2026-11-20"


def test_past_the_first_few_ranges_the_rest_are_counted():
    days = pd.to_datetime(["2026-01-01", "2026-01-03", "2026-01-05", "2026-01-06", "2026-01-09", "2026-01-11"])

    assert date_ranges(days) == "2026-01-01, 2026-01-03, 2026-01-05 to 2026-01-06 and 2 more"
    assert date_ranges(days, shown=5) == "2026-01-01, 2026-01-03, 2026-01-05 to 2026-01-06, 2026-01-09, 2026-01-11"


def test_no_dates_and_days_across_a_clock_change():
    assert date_ranges([]) == ""
    local = pd.date_range("2026-03-28", "2026-03-30", freq="D", tz="Europe/Berlin")  # a 23-hour day inside

    assert date_ranges(local) == "2026-03-28 to 2026-03-30"
