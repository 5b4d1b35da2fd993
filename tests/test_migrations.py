"""Traffic moving from a model to its successor: found, forecast as one series, split back by the latest shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.migrations import (
    combine_migrations,
    describe,
    find_and_share,
    find_migrations,
    join_migrations,
    split_migrations,
)

DAYS = pd.date_range("2026-06-01", "2026-09-30", freq="D")
MOVE = pd.Timestamp("2026-09-01")  # the successor's first day; the move takes 14 days


def _share_of_old(trickle: float, stop: pd.Timestamp | None = None) -> np.ndarray:
    """The old model's share of the traffic each day: 1 before the move, falling to ``trickle`` over 14 days,
    0 from ``stop`` on."""
    share = np.clip(1.0 - ((DAYS - MOVE).days.to_numpy() + 1) / 14.0, trickle, 1.0)
    return np.where(DAYS >= stop, 0.0, share) if stop is not None else share


def _history(old_share: np.ndarray, new_traffic: float = 0.0) -> pd.DataFrame:
    """``series, target, ds, y``: one Sonnet traffic of 1,000 requests a day (300 tokens out each) split between
    claude-sonnet-4 and claude-sonnet-4-5 by ``old_share``, a steady Haiku, and ``new_traffic`` a day of extra
    Sonnet 4.5 traffic from the move on. Rows only where a model was used, as a usage export has them."""
    weekly = np.where(DAYS.dayofweek < 5, 1.0, 0.6)
    traffic = 1_000.0 * weekly
    new = traffic * (1 - old_share) * (DAYS >= MOVE) + new_traffic * weekly * (DAYS >= MOVE)
    parts = {"claude-sonnet-4": traffic * old_share, "claude-sonnet-4-5": new, "claude-haiku-4-5": 3_000.0 * weekly}
    rows = []
    for series, requests in parts.items():
        used = requests > 0
        for target, per in (("requests", 1.0), ("output_tokens", 300.0)):
            rows.append(pd.DataFrame({"series": series, "target": target, "ds": DAYS[used], "y": requests[used] * per}))
    return pd.concat(rows, ignore_index=True)


def test_a_move_within_a_family_is_found_whether_the_old_model_trickles_or_stopped():
    for old_share in (_share_of_old(0.03), _share_of_old(0.0), _share_of_old(0.05, stop=pd.Timestamp("2026-09-27"))):
        (move,) = find_migrations(_history(old_share))
        assert (move["old"], move["new"], move["started"]) == ("claude-sonnet-4", "claude-sonnet-4-5", MOVE)


def test_new_traffic_beside_an_old_model_still_in_use_is_no_move():
    assert find_migrations(_history(np.ones(len(DAYS)), new_traffic=800.0)) == []  # the old one did not fall
    assert find_migrations(_history(_share_of_old(0.03), new_traffic=3_000.0)) == []  # four times the traffic


def test_each_model_gets_its_share_of_the_last_week_and_a_stopped_one_none():
    shares = find_and_share(_history(_share_of_old(0.03))).set_index(["series", "target"])["share"]
    assert shares[("claude-sonnet-4", "requests")] == pytest.approx(0.03)
    assert shares[("claude-sonnet-4-5", "output_tokens")] == pytest.approx(0.97)
    stopped = find_and_share(_history(_share_of_old(0.05, stop=pd.Timestamp("2026-09-27"))))
    assert stopped.set_index(["series", "target"])["share"][("claude-sonnet-4", "requests")] == 0.0
    (about,) = describe(stopped)
    assert about["traffic"] == "claude-sonnet-4-5"
    assert list(about["members"]) == ["claude-sonnet-4-5", "claude-sonnet-4"]


def test_the_forecast_reads_the_traffic_as_one_series_and_its_split_adds_up_to_it():
    history = _history(_share_of_old(0.03))
    moves = find_and_share(history)
    combined = combine_migrations(history, moves)
    assert set(combined["series"]) == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    traffic = combined[(combined["series"] == "claude-sonnet-4-5") & (combined["target"] == "requests")]
    assert traffic["y"].to_numpy() == pytest.approx(1_000.0 * np.where(DAYS.dayofweek < 5, 1.0, 0.6))
    forecast = pd.DataFrame({"series": ["claude-sonnet-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"],
                             "target": ["requests", "output_tokens", "requests"],
                             "timestamp": pd.Timestamp("2026-10-01"),
                             "p10": [900.0, 2.7e5, 2_800.0], "p50": [1_000.0, 3e5, 3_000.0],
                             "p90": [1_100.0, 3.3e5, 3_200.0], "step": 1, "method": "xgboost"})
    split = split_migrations(forecast, moves, ["p10", "p50", "p90"])
    old = split[(split["series"] == "claude-sonnet-4") & (split["target"] == "requests")]
    assert old[["p10", "p50", "p90"]].to_numpy().ravel() == pytest.approx([27.0, 30.0, 33.0])
    assert split.groupby("target")["p50"].sum().to_dict() == pytest.approx({"requests": 4_000.0, "output_tokens": 3e5})
    joined = join_migrations(split, moves, ["p10", "p50", "p90"]).sort_values(["series", "target"], ignore_index=True)
    pd.testing.assert_frame_equal(joined, forecast.sort_values(["series", "target"], ignore_index=True))


def test_a_missing_day_of_one_model_is_missing_for_the_traffic():
    history = _history(_share_of_old(0.03))
    gap = (history["series"] == "claude-sonnet-4") & (history["ds"] == pd.Timestamp("2026-09-03"))
    history.loc[gap, "y"] = np.nan
    combined = combine_migrations(history, find_and_share(history))
    day = combined[(combined["series"] == "claude-sonnet-4-5") & (combined["ds"] == pd.Timestamp("2026-09-03"))]
    assert day["y"].isna().all()


def test_a_team_s_key_moving_to_another_family_is_one_traffic_and_a_file_of_models_alone_needs_one_family():
    history = _history(_share_of_old(0.0))
    history = history[history["series"] != "claude-haiku-4-5"]
    moved = history.replace({"series": {"claude-sonnet-4": "claude-sonnet-4/research/notebooks",
                                        "claude-sonnet-4-5": "claude-haiku-4-5/research/notebooks"}})
    (move,) = find_migrations(moved)
    assert (move["old"], move["new"]) == ("claude-sonnet-4/research/notebooks", "claude-haiku-4-5/research/notebooks")
    other_key = moved.replace({"series": {"claude-haiku-4-5/research/notebooks": "claude-haiku-4-5/research/eval"}})
    assert find_migrations(other_key) == []
    assert find_migrations(history.replace({"series": {"claude-sonnet-4-5": "claude-haiku-4-5"}})) == []


def test_ids_without_a_family_are_never_one_traffic():
    history = _history(_share_of_old(0.03)).replace({"series": {"claude-sonnet-4": "H1", "claude-sonnet-4-5": "H2"}})
    assert find_migrations(history) == []


def test_a_chain_whose_middle_model_moved_on_is_one_traffic():
    """claude-3-5-sonnet to claude-sonnet-4 from 2026-08-01, then on to claude-sonnet-4-5 from MOVE: the middle
    model has fallen too, so only the three together carry what the first carried."""
    weekly = np.where(DAYS.dayofweek < 5, 1.0, 0.6)
    first = np.clip(1.0 - ((DAYS - pd.Timestamp("2026-08-01")).days.to_numpy() + 1) / 14.0, 0.0, 1.0)
    last = 1.0 - _share_of_old(0.0)
    parts = {"claude-3-5-sonnet": first, "claude-sonnet-4": (1 - first) * (1 - last), "claude-sonnet-4-5": last}
    history = pd.concat([pd.DataFrame({"series": s, "target": "requests", "ds": DAYS[share > 0],
                                       "y": (1_000.0 * weekly * share)[share > 0]}) for s, share in parts.items()])
    moves = find_migrations(history)
    assert {(m["old"], m["new"]) for m in moves} == {("claude-3-5-sonnet", "claude-sonnet-4"),
                                                   ("claude-sonnet-4", "claude-sonnet-4-5")}
    combined = combine_migrations(history, find_and_share(history))
    assert set(combined["series"]) == {"claude-sonnet-4-5"}
    assert combined["y"].to_numpy() == pytest.approx(1_000.0 * weekly)


def test_the_new_model_s_partial_first_day_leaves_the_traffic_s_day_known():
    history = _history(_share_of_old(0.03))
    first = (history["series"] == "claude-sonnet-4-5") & (history["ds"] == MOVE)
    history.loc[first, "y"] = np.nan  # its first day only partly covered: incomplete
    combined = combine_migrations(history, find_and_share(history))
    day = combined[(combined["series"] == "claude-sonnet-4-5") & (combined["ds"] == MOVE)]
    assert day["y"].notna().all()


def test_another_product_ramping_up_on_the_new_model_as_the_old_one_winds_down_is_no_move():
    """Haiku 3.5 winding down at 500 tokens a request; Haiku 4.5 a different product at 1,500 a request, at about
    the old level: the counts add up, the workload does not. And the same workload at 1.7 times the old level is
    new traffic beside a wind-down, not a move."""
    history = _history(_share_of_old(0.03))
    new = history["series"] == "claude-sonnet-4-5"
    tokens = new & (history["target"] == "output_tokens")
    history.loc[tokens, "y"] *= 3.0  # 900 tokens a request against the old one's 300
    assert find_migrations(history) == []
    assert find_migrations(_history(_share_of_old(0.03), new_traffic=700.0)) == []  # 1.7 times the level before


def test_a_successor_s_capacity_history_carries_its_predecessors_days_before_it_began():
    from tokenplan.forecasting.migrations import predecessors_rows

    moves = find_and_share(_history(_share_of_old(0.0)))
    days = pd.date_range("2026-08-01", "2026-09-30", freq="D")
    rows = pd.concat([pd.DataFrame({"unit": "claude-sonnet-4", "ds": days[days <= "2026-09-14"], "ratio": 7.0}),
                      pd.DataFrame({"unit": "claude-sonnet-4-5", "ds": days[days >= MOVE], "ratio": 9.0}),
                      pd.DataFrame({"unit": "claude-haiku-4-5", "ds": days, "ratio": 5.0})], ignore_index=True)

    carried = predecessors_rows(rows, moves)

    assert set(carried["unit"]) == {"claude-sonnet-4-5"} and (carried["ratio"] == 7.0).all()
    assert carried["ds"].min() == days[0] and carried["ds"].max() == MOVE - pd.Timedelta(days=1)
    assert predecessors_rows(rows, None).empty and predecessors_rows(rows, moves.iloc[:0]).empty
