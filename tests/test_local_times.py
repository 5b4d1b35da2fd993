"""Naive local times over DST: the spans clocks repeat or skip, and the pass a request was made in."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.ingestion.local_times import LocalSpan, repeated_spans, second_pass_start, skipped_spans


def _minute(text: str) -> int:
    return int(pd.Timestamp(text).value // 60_000_000_000)


def test_new_yorks_repeated_and_skipped_hours():
    bounds = _minute("2025-01-01"), _minute("2025-12-31")

    assert repeated_spans(*bounds, "America/New_York") == [
        LocalSpan(_minute("2025-11-02 01:00"), _minute("2025-11-02 02:00"), -300)]  # the second pass is EST
    assert skipped_spans(*bounds, "America/New_York") == [
        LocalSpan(_minute("2025-03-09 02:00"), _minute("2025-03-09 03:00"), -300)]  # read as EST, before the change
    assert repeated_spans(*bounds, "UTC") == [] == skipped_spans(*bounds, "UTC")


def test_lord_howes_half_hour_change_is_found_to_the_quarter_hour():
    spans = repeated_spans(_minute("2025-04-01"), _minute("2025-04-30"), "Australia/Lord_Howe")

    assert [(s.label(), s.offset) for s in spans] == [("2025-04-06 01:30-02:00", 630)]


def test_the_second_pass_starts_at_the_one_step_back_and_rows_a_little_out_of_order_are_in_order():
    minutes = np.array([60, 70, 69, 95, 119, 61, 55, 80, 118])  # 69 and 55: a few minutes late, as logs write

    assert second_pass_start(minutes) == 5
    assert second_pass_start(np.array([60, 70, 119])) is None  # one pass only: which one?
    assert second_pass_start(np.array([60, 61, 62, 60, 61, 62])) is None  # steps of 2 minutes: jitter, not a pass
    assert second_pass_start(np.array([60, 119, 61, 118, 62])) is None  # interleaved: two steps back
