"""Stated events in the ROI's growth: a launch's step is not growth, and the months after the forecast
carry what is in force in each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.planning import stated_events

ROUTES = {"baseline": "official_api", "cache_write_share_days": 28,
          "definitions": [{"name": "official_api", "kind": "official"},
                          {"name": "batch_api", "kind": "batch", "discount": 0.5,
                           "one_time": {"engineering_days": 1, "day_rate_usd": 800}}]}
ROI = {"months": 12, "growth_history_months": 12, "min_growth_history_months": 3, "max_p90_to_p50": 3.0,
       "annual_discount_rate": 0.08, "sensitivity": {"swing": 0.2, "growth_swing": 0.05}}


def _events(*rows: tuple[str, str, str, str, str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"start": pd.Timestamp(s, tz="UTC"), "end": pd.Timestamp(e, tz="UTC"), "name": n, "kind": k,
                          "scope": scope, "effect": x} for s, e, n, k, scope, x in rows])


def test_monthly_multipliers_hold_a_launch_in_force_at_the_forecasts_end_and_a_campaign_only_in_its_days():
    events = _events(("2026-03-16", "2026-04-01", "launch", "launch", "opus", 2.0),
                     ("2026-05-01", "2026-05-11", "promo", "campaign", "", 1.31))
    periods = ["2026-02", "2026-03", "2026-04", "2026-05"]
    held = stated_events.monthly_multipliers(events, ["opus", "haiku"], periods,
                                             forecast_end=pd.Timestamp("2026-03-31"))

    assert held.loc["2026-02", "opus"] == 1.0
    assert held.loc["2026-03", "opus"] == pytest.approx(1 + 16 / 31)  # 16 of March's 31 days at x2
    assert held.loc["2026-04", "opus"] == 2.0  # in force on the forecast's last day: the step stays
    assert held.loc["2026-05", "opus"] == pytest.approx(2.0 * (1 + 0.31 * 10 / 31))
    assert held["haiku"].tolist() == pytest.approx([1.0, 1.0, 1.0, 1 + 0.31 * 10 / 31])  # unscoped: every model's
    # A launch that ended before the forecast's end counts only over its own days, as the forecast reads it.
    ended = stated_events.monthly_multipliers(events, ["opus"], periods, forecast_end=pd.Timestamp("2026-05-31"))
    assert ended.loc["2026-04", "opus"] == 1.0


def test_only_stated_effects_count_and_a_partly_forecast_month_over_its_forecast_days():
    events = _events(("2026-12-20", "2027-06-01", "launch", "launch", "opus", 1.25),
                     ("2026-11-30", "2026-12-01", "last day of the month", "campaign", "opus", 8.0))
    events["basis"] = ["stated", "estimated from 6 past months"]  # a measured month-end is not stated
    m = stated_events.monthly_multipliers(events, ["opus"], ["2026-11", "2026-12", "2027-01"],
                                          spans={"2026-12": ("2026-12-01", "2026-12-10")},
                                          forecast_end=pd.Timestamp("2026-12-10"))

    assert m["opus"].tolist() == [1.0, 1.0, 1.25]  # December's forecast days end before the launch
    assert stated_events.events_in(events, ["opus"], "2026-11", "2027-01") == ["launch (x1.25)"]


def _plan(events: pd.DataFrame | None):
    """A year of opus history flat at $100 a day with a x2 launch in March, forecast at the new level for
    October to December with a planned x1.25 launch from December 1; no organic growth at all."""
    from tokenplan.pipelines.planning.nodes import compute_roi

    history = [{"series": "opus", "model": "opus", "period": str(p), "observed": 100.0 * p.days_in_month
                * (2.0 if p >= pd.Period("2026-04") else 1 + 16 / 31 if p == pd.Period("2026-03") else 1.0),
                "whole_month": True} for p in pd.period_range("2025-10", "2026-09", freq="M")]
    months = ["2026-10", "2026-11", "2026-12"]
    totals = pd.DataFrame([{"series": "opus", "target": "input_tokens", "period": p,
                            "start": pd.Period(p).start_time, "end": pd.Period(p).end_time.floor("D"),
                            "buckets": pd.Period(p).days_in_month, "p10": 1.0, "p50": 2.0, "p90": 3.0}
                           for p in months])
    day = {"2026-10": 200.0, "2026-11": 200.0, "2026-12": 250.0}
    costs = pd.DataFrame([{"route": r, "model": "opus", "period": p, **{q: x * day[p] * k * pd.Period(p).days_in_month
                                                                        for q, x in (("p10", 0.9), ("p50", 1.0),
                                                                                     ("p90", 1.1))}}
                          for r, k in (("official_api", 1.0), ("batch_api", 0.5)) for p in months])
    rates = pd.DataFrame([{"route": r, "series": "opus", "model": "opus", "period": p, "price_date": "2026-10-01",
                           "token_type": "input_tokens", "usd_per_mtok": 15.0 * k, "note": "list",
                           "moved": r != "official_api"} for r, k in (("official_api", 1.0), ("batch_api", 0.5))
                          for p in months])
    return compute_roi(costs, totals, pd.DataFrame(history), rates, {"routes": ROUTES, "roi": ROI},
                       {"quantiles": [0.1, 0.5, 0.9]}, {"freq": "D"}, events)


def test_a_stated_launch_in_the_history_is_not_extrapolated_as_growth():
    events = _events(("2026-03-16", "2027-01-01", "Agent launch", "launch", "opus", 2.0),
                     ("2026-12-01", "2027-01-01", "Agent v2", "launch", "opus", 1.25),
                     ("2027-02-01", "2027-02-15", "Promo", "campaign", "", 1.5))

    without, _ = _plan(None)
    summary, flow = _plan(events)

    assert without["growth_after_forecast"].iloc[0] > 0.05  # the step read as growth, compounded for 9 months
    assert summary["growth_after_forecast"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert summary["growth_stated_events"].iloc[0] == "Agent launch (x2); Agent v2 (x1.25)"  # the fits' months
    base = flow.set_index("period")["baseline_cost_p50"]
    assert base["2027-01"] == pytest.approx(250.0 * 31)  # the launches stay, past the calendar's end
    assert base["2027-02"] == pytest.approx(250.0 * 28 * (1 + 0.5 * 14 / 28))  # the campaign in its own days
    assert base["2027-03"] == pytest.approx(250.0 * 31)
    assert base["2027-09"] == pytest.approx(250.0 * 30)
    assert "stated events x1.25 against month 3" in flow.set_index("period").loc["2027-02", "basis"]
    assert summary["npv_12m_p50"].iloc[0] < without["npv_12m_p50"].iloc[0]


def test_without_stated_events_the_fits_are_unchanged():
    plain, flow = _plan(None)
    empty, flow_empty = _plan(_events())

    assert plain["growth_after_forecast"].iloc[0] == empty["growth_after_forecast"].iloc[0]
    assert np.allclose(flow["saving_p50"], flow_empty["saving_p50"])
    assert empty["growth_stated_events"].iloc[0] == ""


def test_each_route_carries_the_events_by_its_own_cost_per_model():
    """A route that halves haiku's price has less haiku in its cost: an opus launch after the forecast lifts
    its months by opus's share of its own cost, not the baseline's."""
    from tokenplan.pipelines.planning.nodes import compute_roi

    months = ["2026-10", "2026-11", "2026-12"]
    totals = pd.DataFrame([{"series": m, "target": "input_tokens", "period": p, "start": pd.Period(p).start_time,
                            "end": pd.Period(p).end_time.floor("D"), "buckets": pd.Period(p).days_in_month,
                            "p10": 1.0, "p50": 2.0, "p90": 3.0} for m in ("opus", "haiku") for p in months])
    price = {("official_api", "opus"): 1.0, ("official_api", "haiku"): 1.0, ("batch_api", "opus"): 1.0,
             ("batch_api", "haiku"): 0.5}
    costs = pd.DataFrame([{"route": r, "model": m, "period": p,
                           **{q: x * 100.0 * k * pd.Period(p).days_in_month for q, x in (("p10", 0.9), ("p50", 1.0),
                                                                                        ("p90", 1.1))}}
                          for (r, m), k in price.items() for p in months])
    horizon = costs.groupby(["route", "model"], as_index=False)[["p10", "p50", "p90"]].sum().assign(period="horizon")
    costs = pd.concat([costs, horizon], ignore_index=True)
    rates = pd.DataFrame([{"route": r, "series": m, "model": m, "period": p, "price_date": "2026-10-01",
                           "token_type": "input_tokens", "usd_per_mtok": k, "note": "list",
                           "moved": r != "official_api"} for (r, m), k in price.items() for p in months])
    events = _events(("2027-02-01", "2027-06-01", "launch", "launch", "opus", 2.0))
    no_history = pd.DataFrame({"series": pd.Series(dtype=str), "model": pd.Series(dtype=str),
                               "period": pd.Series(dtype=str), "observed": pd.Series(dtype=float),
                               "whole_month": pd.Series(dtype=bool)})
    params = {"routes": ROUTES, "roi": ROI}
    summary, flow = compute_roi(costs, totals, no_history, rates, params, {"quantiles": [0.1, 0.5, 0.9]},
                                {"freq": "D"}, events)

    feb = flow[flow["period"] == "2027-02"].iloc[0]
    assert feb["saving_p50"] == pytest.approx(50.0 * 28)  # haiku's saving; opus costs the same on both routes
    # Too little history for a growth fit, and the launch after the forecast: the report still says it is applied.
    from tokenplan.reporting.routes_section import RoutesSectionInputs, render_routes_section

    text = render_routes_section(RoutesSectionInputs(costs, rates, summary, flow, pd.DataFrame(), pd.DataFrame(), {},
                                                     params, ["p10", "p50", "p90"]))
    assert "held at the forecast's rate" in text
    assert "the months after the forecast multiply in the stated events in force in each" in text
    assert "(launch (x2);" in text



def test_what_a_stated_event_adds_is_read_off_any_methods_forecast():
    """A campaign (x1.5, 10 of 30 days) on one model of two, and a launch in force since before the forecast:
    what each adds to the P50, per series and target, for series the SHAP breakdown does not explain (the
    summary's stated-effect risk had left out a series the ensemble forecasts)."""
    days = pd.date_range("2026-11-01", periods=30, freq="D", tz="UTC")
    forecast = pd.concat([pd.DataFrame({"series": s, "target": "requests", "timestamp": days, "p50": 150.0})
                          for s in ("claude-sonnet-4-5/pilots/default", "claude-haiku-4-5")], ignore_index=True)
    events = _events(("2026-11-03", "2026-11-13", "Partner campaign", "campaign", "claude-sonnet-4-5", 1.5),
                     ("2026-10-01", "2027-01-01", "Old launch", "launch", "claude-haiku-4-5", 1.2))
    added = stated_events.added_by_events(forecast, events, "p50").set_index(["series", "driver"])
    campaign = added.loc[("claude-sonnet-4-5/pilots/default", "Partner campaign (stated x1.50)")]
    assert campaign["kind"] == "stated"
    assert campaign["volume"] == pytest.approx(10 * 150.0 * (1 - 1 / 1.5))
    launch = added.loc[("claude-haiku-4-5", "Old launch (stated x1.20)")]
    assert launch["kind"] == "stated, in force" and launch["volume"] == pytest.approx(30 * 150.0 * (1 - 1 / 1.2))
    assert len(added) == 2  # no event touches a model out of its scope
    # A month-end the history measured is in the calendar with an effect, but it is not the planner's.
    measured = pd.concat([events.assign(basis="stated"), _events(
        ("2026-11-30", "2026-12-01", "Last day of the month", "campaign", "claude-sonnet-4-5", 1.4)).assign(
        basis="estimated from 9 past months")], ignore_index=True)
    assert set(stated_events.added_by_events(forecast, measured, "p50")["driver"]) == {
        "Partner campaign (stated x1.50)", "Old launch (stated x1.20)"}
