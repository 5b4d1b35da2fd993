"""Models that look like another's successor, on a history with a known migration."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.forecasting.successors import family, likely_successors

DAYS = pd.date_range("2026-01-01", "2026-09-30", freq="D")
MIGRATION = pd.Timestamp("2026-08-01")


def _history(levels: dict[str, tuple[str, str, float]]) -> pd.DataFrame:
    """Requests a day per series: ``{series: (first day, last day, level)}``, zero outside, with a weekly cycle."""
    rows = []
    for series, (first, last, level) in levels.items():
        inside = (DAYS >= first) & (DAYS <= last)
        y = np.where(inside, level * np.where(DAYS.dayofweek < 5, 1.0, 0.5), 0.0)
        rows.append(pd.DataFrame({"series": series, "target": "requests", "ds": DAYS, "y": y}))
    return pd.concat(rows, ignore_index=True)


def test_a_model_id_s_family_is_its_parts_without_digits():
    assert family("claude-sonnet-4-5-20250929") == family("claude-3-5-sonnet-20241022") == "claude sonnet"
    assert family("claude-sonnet-4") != family("claude-opus-4-1")
    assert family("gpt-4o-mini") == family("gpt-5-mini") == "gpt mini" != family("gpt-4.1")


def test_a_migration_within_a_family_is_found_and_nothing_else():
    history = _history({
        "claude-sonnet-4": ("2026-01-01", "2026-08-03", 1_000.0),     # stops two days after its successor starts
        "claude-sonnet-4-5": ("2026-08-01", "2026-09-30", 1_100.0),   # the successor, at about the same volume
        "claude-haiku-4-5": ("2026-01-01", "2026-09-30", 5_000.0),     # steady throughout
        "claude-opus-4-1": ("2026-08-01", "2026-09-30", 1_000.0),     # new, but no Opus stopped
        "gpt-4.1": ("2026-01-01", "2026-07-31", 800.0),                # stopped, but no GPT began
        "gpt-5": ("2026-08-01", "2026-09-30", 8_000.0),                 # began, ten times the volume: new traffic
    })
    (pair,) = likely_successors(history)
    assert (pair["successor"], pair["predecessor"]) == ("claude-sonnet-4-5", "claude-sonnet-4")
    assert (pair["started"], pair["stopped"]) == (MIGRATION, pd.Timestamp("2026-08-03"))
    assert pair["days"] == 61 and pair["levels"][1] / pair["levels"][0] > 1.0


def test_a_model_still_in_use_or_from_the_start_is_no_predecessor_or_successor():
    still = _history({"claude-sonnet-4": ("2026-01-01", "2026-09-30", 1_000.0),
                      "claude-sonnet-4-5": ("2026-08-01", "2026-09-30", 1_000.0)})
    assert likely_successors(still) == []
    from_start = _history({"claude-sonnet-4": ("2026-01-01", "2026-01-20", 1_000.0),
                           "claude-sonnet-4-5": ("2026-01-10", "2026-09-30", 1_000.0)})
    assert likely_successors(from_start) == []  # its own history is long: nothing to gain from a merge


def test_with_teams_the_same_team_s_models_are_paired_and_a_rotated_key_is_not():
    history = _history({
        "claude-sonnet-4/team-a": ("2026-01-01", "2026-08-03", 1_000.0),
        "claude-sonnet-4-5/team-a": ("2026-08-01", "2026-09-30", 1_000.0),
        "claude-sonnet-4/team-b": ("2026-01-01", "2026-09-30", 500.0),
        "claude-haiku-4-5/key-1": ("2026-01-01", "2026-08-03", 700.0),   # a key rotated: no model moved
        "claude-haiku-4-5/key-2": ("2026-08-01", "2026-09-30", 700.0),
    })
    (pair,) = likely_successors(history)
    assert (pair["successor"], pair["predecessor"]) == ("claude-sonnet-4-5/team-a", "claude-sonnet-4/team-a")
    assert pair["models"] == ("claude-sonnet-4", "claude-sonnet-4-5")
