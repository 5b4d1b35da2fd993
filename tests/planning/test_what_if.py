"""The capacity and routes notebook's what-if: a campaign added inside the horizon, and an effect restated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.planning.what_if import added_campaign, restate_event

NAMES = ["p10", "p50", "p90"]


def _totals() -> pd.DataFrame:
    """Horizon P50 requests: sonnet 900, haiku 400 (haiku's workspace split in two)."""
    rows = [("claude-sonnet-4-5", 900.0), ("claude-haiku-4-5/team-a", 300.0), ("claude-haiku-4-5/team-b", 100.0)]
    return pd.DataFrame([{"series": s, "target": "requests", "period": "horizon", "p10": y / 2, "p50": y,
                          "p90": y * 2} for s, y in rows])


def _hours(first: str, days: int) -> pd.DatetimeIndex:
    return pd.date_range(first, periods=24 * days, freq="h", tz="UTC")


def test_a_campaign_on_a_week_long_horizon_starts_with_the_horizon():
    """An hourly 7-day horizon from 2026-09-28: its "last 14 days" began on 2026-09-21, before the horizon."""
    hours = _hours("2026-09-28", 7)
    event = added_campaign(_totals(), hours[0], hours[-1])
    assert event["start"] == pd.Timestamp("2026-09-28", tz="UTC")
    assert (event["scope"], event["effect"]) == ("claude-sonnet-4-5", 1.0)


def test_a_campaign_on_a_quarter_covers_its_last_14_days():
    days = pd.date_range("2026-10-01", "2026-12-31", freq="D")
    event = added_campaign(_totals(), days[0], days[-1])
    assert event["start"] == pd.Timestamp("2026-12-18") and event["end"] == pd.Timestamp("2027-01-01")


def test_a_restated_effect_moves_the_buckets_it_covers_in_scope_only():
    hours = _hours("2026-09-28", 2)
    forecast = pd.DataFrame([{"series": s, "target": "requests", "timestamp": t, "p10": 5.0, "p50": 10.0,
                              "p90": 20.0} for s in ("claude-sonnet-4-5", "claude-haiku-4-5/team-a") for t in hours])
    # A campaign from half past the first day's noon: that hour moves by half of +30%, the later hours by +30%.
    event = pd.Series({"start": hours[12] + pd.Timedelta(minutes=30), "end": hours[-1] + pd.Timedelta(hours=1),
                       "scope": "claude-sonnet-4-5", "effect": 1.0})
    out = restate_event(forecast, event, 1.3, "h", NAMES).set_index(["series", "timestamp"])["p50"]
    sonnet = out.loc["claude-sonnet-4-5"]
    assert sonnet.loc[hours[:12]].tolist() == [10.0] * 12
    assert sonnet.loc[hours[12]] == pytest.approx(11.5)
    assert sonnet.loc[hours[13:]].tolist() == pytest.approx([13.0] * 35)
    assert out.loc["claude-haiku-4-5/team-a"].tolist() == [10.0] * 48


def _peaks(days: pd.DatetimeIndex, p90: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"model_group": "claude-sonnet-4-5", "metric": "otpm", "ds": days, "p90": p90})


def test_a_what_if_that_leaves_the_plans_numbers_says_why():
    """A review's run without limits: a +30% campaign on the horizon's last 14 days raised those days' P90 peaks,
    but the horizon's (its busiest minute, bursts drawn from history included) stayed at 11,505,023 and every
    first_crossing column was NaT: it read as "no effect"."""
    from tokenplan.planning.what_if import capacity_notes

    days = pd.date_range("2015-09-01", "2015-09-30", freq="D")
    event = pd.Series({"start": pd.Timestamp("2015-09-17", tz="UTC"), "end": pd.Timestamp("2015-10-01", tz="UTC")})
    before = _peaks(days, [2.0e6] * 30)
    after = _peaks(days, [2.0e6] * 16 + [2.6e6] * 14)
    plan = pd.DataFrame({"model_group": ["claude-sonnet-4-5"], "metric": ["otpm"], "p90": [11_505_023.0],
                         "limit": [np.nan]})
    notes = capacity_notes(plan, before, plan, after, event)
    assert notes[0].startswith("No rate limits were given: no limit can be crossed"), notes
    assert notes[1].startswith("claude-sonnet-4-5 OTPM: the event's days (2015-09-17 to 2015-09-30) peak higher (P90 "
                               "up to 2,600,000, was 2,000,000), but the horizon's P90 peak stays at 11,505,023"), notes
    # With a limit, and a horizon peak that moves with the event: nothing to explain.
    limited = plan.assign(limit=12e6)
    assert capacity_notes(limited, before, limited.assign(p90=12.1e6), after, event) == []


def test_the_restated_totals_show_every_target_and_the_cost_of_the_series_moved():
    """A Console export forecasts no requests: the what-if had filtered on requests and printed "Empty DataFrame"."""
    from tokenplan.planning.what_if import restated_totals

    totals = pd.DataFrame([{"series": s, "target": t, "period": p, "p10": 1.0, "p50": 2.0, "p90": 3.0}
                           for s in ("sonnet", "haiku") for t in ("input_tokens", "output_tokens")
                           for p in ("2026-10", "horizon")])
    costs = totals.groupby(["series", "period"], as_index=False)[NAMES].sum()
    moved = (totals["series"] == "sonnet").to_numpy()
    new_totals = totals.assign(p50=np.where(moved, 4.0, 2.0), p90=np.where(moved, 6.0, 3.0))
    new_costs = new_totals.groupby(["series", "period"], as_index=False)[NAMES].sum()
    compare = restated_totals(totals, new_totals, costs, new_costs)
    assert compare.to_dict("records") == [
        {"series": "sonnet", "target": "input_tokens", "p50": 2.0, "p50 restated": 4.0, "p90": 3.0,
         "p90 restated": 6.0},
        {"series": "sonnet", "target": "output_tokens", "p50": 2.0, "p50 restated": 4.0, "p90": 3.0,
         "p90 restated": 6.0},
        {"series": "sonnet", "target": "cost (USD)", "p50": 4.0, "p50 restated": 8.0, "p90": 6.0, "p90 restated": 12.0}]


def test_the_notebooks_what_if_shows_the_restated_totals_of_every_target():
    import json

    from tests.project_copy import PROJECT_ROOT

    cells = json.loads((PROJECT_ROOT / "notebooks" / "03_capacity_and_routes.ipynb").read_text())["cells"]
    what_if = next("".join(c["source"]) for c in cells if "restate_event(forecast" in "".join(c["source"]))
    assert "restated_totals(totals, new_totals, costs, new_costs)" in what_if
    assert '== "requests"' not in what_if
