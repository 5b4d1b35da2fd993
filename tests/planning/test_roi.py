"""Migration ROI on known arithmetic: payback, NPV, extrapolation, interval order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.planning import roi
from tokenplan.planning.routes import Route
from tests.planning.totals_fixture import forecast_totals

NAMES = ["p10", "p50", "p90"]


def _route_costs(route_p50: dict[str, float], months=("2026-11", "2026-12")) -> pd.DataFrame:
    """Each route's monthly cost for one model, with the P10/P90 spread of the fixture."""
    return pd.DataFrame([{"route": r, "model": "m", "period": m, "p10": 0.9 * c, "p50": c, "p90": 1.2 * c}
                         for r, c in route_p50.items() for m in months])


def _flow(route_p50: dict[str, float], growth: float = 0.0) -> pd.DataFrame:
    monthly = roi.monthly_route_costs(_route_costs(route_p50), forecast_totals(), "D", NAMES)
    months, _ = roi.route_months(monthly, "base", NAMES, 12, growth)
    return roi.cashflow(months, "base", NAMES)


def test_a_route_with_no_saving_never_pays_back():
    flow = _flow({"base": 1000.0, "same": 1000.0})
    assert np.allclose(flow[["saving_p10", "saving_p50", "saving_p90"]], 0)
    assert roi.payback_month(flow["saving_p50"], 0.0) is None
    assert roi.payback_month(flow["saving_p50"], 500.0) is None


def test_a_route_at_half_price_without_one_time_cost_pays_back_in_month_one():
    flow = _flow({"base": 1000.0, "half": 500.0})
    assert flow["saving_p50"].iloc[0] == pytest.approx(500.0)
    assert roi.payback_month(flow["saving_p50"], 0.0) == 1
    assert roi.payback_month(flow["saving_p50"], 1200.0) == 3  # 500, 1000, 1500


def test_npv_equals_a_hand_calculation():
    # -one-time cost + each month's saving discounted at the end of its month at 10% a year.
    expected = -500 + sum(100 / 1.1 ** (m / 12) for m in range(1, 13))
    assert roi.npv([100.0] * 12, 500.0, 0.10) == pytest.approx(expected)
    assert roi.npv([100.0] * 12, 0.0, 0.0) == pytest.approx(1200.0)


def test_months_after_the_forecast_are_extrapolated_flagged_and_widening():
    flow = _flow({"base": 1000.0, "half": 500.0}, growth=0.02)
    assert flow["month"].tolist() == list(range(1, 13))
    assert flow["extrapolated"].tolist() == [False, False] + [True] * 10
    assert flow["saving_p50"].iloc[2] == pytest.approx(500.0 * 1.02)
    width = (flow["saving_p90"] - flow["saving_p10"]) / flow["saving_p50"]
    assert (np.diff(width.iloc[1:]) > 0).all()


def test_intervals_are_ordered_for_savings_and_their_sums_even_when_a_route_costs_more():
    flow = _flow({"base": 1000.0, "dearer": 1100.0, "cheaper": 300.0}, growth=0.05)
    for prefix in ("saving_", "cumulative_"):
        assert (flow[f"{prefix}p10"] <= flow[f"{prefix}p50"]).all()
        assert (flow[f"{prefix}p50"] <= flow[f"{prefix}p90"]).all()


def test_a_partly_forecast_month_is_scaled_to_the_whole_month_and_says_so():
    totals = forecast_totals()
    december = totals["period"] == "2026-12"
    totals.loc[december, ["buckets", "start"]] = [10, pd.Timestamp("2026-12-01")]  # its first 10 of 31 days
    totals.loc[december, "end"] = pd.Timestamp("2026-12-10")
    monthly = roi.monthly_route_costs(_route_costs({"base": 100.0}), totals, "D", NAMES)
    assert monthly.loc[monthly["period"] == "2026-12", "p50"].item() == pytest.approx(310.0)
    months, _ = roi.route_months(monthly, "base", NAMES, 3, 0.0)
    assert months.loc[1, "basis"] == ("a month at the forecast's rate: 10 forecast days (2026-12-01 – 2026-12-10) "
                                      "scaled to the month's 31")
    assert months.loc[1, ["forecast_days", "month_days"]].tolist() == [10, 31]


def _april_week(route_p50_week: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An hourly forecast of 2015-04-23 02:00 to 04-30 01:00 (168 of April's 720 hours): route costs and periods."""
    periods = pd.DataFrame([{"series": "s", "period": p, "start": pd.Timestamp("2015-04-23 02:00"),
                             "end": pd.Timestamp("2015-04-30 01:00"), "buckets": 168} for p in ("2015-04", "horizon")])
    costs = pd.DataFrame([{"route": r, "model": "m", "period": p, "p10": 0.5 * c, "p50": c, "p90": 2.0 * c}
                          for r, c in route_p50_week.items() for p in ("2015-04", "horizon")])
    return costs, periods


def test_a_months_saving_at_the_forecasts_rate_says_how_many_forecast_days_it_scales():
    """Seven forecast days of April: the ROI's month 1 is April at their rate (x30/7) and says so, while
    the route table costs the seven days; the summary keeps both, so no reader compares the two as
    "the same month" (a week's $1,215 saving read as $5,208 "a month", unexplained)."""
    costs, periods = _april_week({"base": 1414.0, "relay": 199.0})
    monthly = roi.monthly_route_costs(costs, periods, "h", NAMES)
    assert monthly.loc[monthly["route"] == "base", "forecast_days"].item() == pytest.approx(7.0)
    months, _ = roi.route_months(monthly, "base", NAMES, 12, 0.0)
    flow = roi.cashflow(months, "base", NAMES)
    first = flow.iloc[0]
    assert first["saving_p50"] == pytest.approx(1215.0 * 30 / 7)
    assert first["basis"] == ("a month at the forecast's rate: 7 forecast days (2015-04-23 – 2015-04-30) "
                              "scaled to the month's 30")
    relay = Route(name="relay", kind="relay", currency="CNY", credit_rate=1.0, fx_rate=7.1, fx_date="d",
                  fx_source="s")
    row = roi.route_summary(relay, flow, NAMES, 0.08, 12)
    assert (row["forecast_months"], row["forecast_days"], row["forecast_month_days"]) == (1, 7.0, 30)
    horizon = roi.horizon_savings(costs, "base", NAMES).set_index("route")
    assert horizon.loc["relay", "horizon_saving_p50"] == pytest.approx(1215.0)  # the route table's saving
    assert row["monthly_saving_p50"] == pytest.approx(horizon.loc["relay", "horizon_saving_p50"] * 30 / 7)


def test_break_even_is_the_share_of_baseline_cost_that_covers_the_one_time_cost():
    assert roi.break_even_discount([1000.0] * 12, 1200.0) == pytest.approx(0.1)


def test_the_relay_break_even_credit_rate_makes_the_saving_cover_the_one_time_cost():
    
    relay = Route(name="r", kind="relay", currency="CNY", credit_rate=1.0, fx_rate=7.0, fx_date="d", fx_source="s",
                  fee_share=0.0, eligible_share=0.5)
    credit = roi.break_even_credit_rate(relay, 0.1)  # must save 10% of baseline moving half the traffic
    assert 0.5 * (1 - credit / 7.0) == pytest.approx(0.1)
    assert np.isnan(roi.break_even_credit_rate(relay, 0.6))  # more than the moved half: no credit rate does


def test_growth_is_read_per_day_so_month_lengths_are_not_growth():
    # The same cost every day: November (30 days) costs 3,000 and December (31) 3,100. Fitted to
    # the months' costs that read as +3.3% a month, and February was extrapolated above January.
    days = {"2026-10": 31, "2026-11": 30, "2026-12": 31}
    costs = pd.DataFrame([{"route": "base", "model": "m", "period": m, "p10": 90.0 * d, "p50": 100.0 * d,
                           "p90": 120.0 * d} for m, d in days.items() if m != "2026-10"])
    monthly = roi.monthly_route_costs(costs, forecast_totals(), "D", NAMES)
    history = pd.Series({"2026-10": 3100.0})
    months, growth = roi.route_months(monthly, "base", NAMES, 6, history=history)
    assert growth == pytest.approx(0.0, abs=1e-12)
    p50 = months.set_index("period")["p50"]
    assert p50["2027-01"] == pytest.approx(3100.0)
    assert p50["2027-02"] == pytest.approx(2800.0)


def test_a_step_the_forecast_took_as_a_new_level_is_not_extrapolated_as_growth():
    """A usage that doubled at the end of its history, forecast flat at the new level: fitted with
    the history the step read as +22% a month, compounded for nine months past the forecast."""
    per_day = {"2026-10": 200.0, "2026-11": 200.0, "2026-12": 202.0}
    costs = pd.DataFrame([{"route": "base", "model": "m", "period": m, "p10": 0.9 * c * roi._days(m),
                           "p50": c * roi._days(m), "p90": 1.2 * c * roi._days(m)} for m, c in per_day.items()])
    monthly = roi.monthly_route_costs(costs, forecast_totals(months=tuple(per_day)), "D", NAMES)
    history = pd.Series({"2026-08": 100.0 * 31, "2026-09": 110.0 * 30})
    fits = roi.extrapolation_growth(monthly, "base", NAMES, history)
    assert fits["with_history"] > 0.2
    assert fits["forecast"] == pytest.approx(0.005, abs=1e-3)
    assert fits["used"] == fits["forecast"]
    months, growth = roi.route_months(monthly, "base", NAMES, 12, history=history)
    assert growth == fits["used"]
    p50 = months.set_index("period")["p50"]
    assert p50["2027-09"] / 30 < 1.06 * 202.0  # nine months at +0.5%, not +22%
    # The two fits disagree in sign (a falling forecast after rising history): no growth either way.
    falling = monthly.assign(p50=monthly["p50"] * monthly["month"].map({1: 1.1, 2: 1.0, 3: 0.9}))
    assert roi.extrapolation_growth(falling, "base", NAMES, history)["used"] == 0.0
    # One forecast month: the fit with the history is all there is.
    one = roi.extrapolation_growth(monthly[monthly["month"] == 1], "base", NAMES, history)
    assert one["forecast"] is None and one["used"] == one["with_history"]


def test_an_extrapolated_months_interval_stops_widening_at_the_plausibility_bound():
    # A last forecast month with P90/P50 2.0: by month 12 the square-root widening would
    # give 2.0 ** sqrt(6) = 5.5 times the P50; bounded at 3.
    costs = _route_costs({"base": 1000.0})
    costs["p90"] = 2.0 * costs["p50"]
    costs["p10"] = costs["p50"] / 2.0
    monthly = roi.monthly_route_costs(costs, forecast_totals(), "D", NAMES)
    free, _ = roi.route_months(monthly, "base", NAMES, 12, 0.0)
    bounded, _ = roi.route_months(monthly, "base", NAMES, 12, 0.0, max_ratio=3.0)
    last = free.iloc[-1]
    assert last["p90"] / last["p50"] > 5
    ratio = bounded["p90"] / bounded["p50"]
    assert ratio.max() == pytest.approx(3.0) and (np.diff(ratio) >= -1e-12).all()
    assert (bounded["p50"] / bounded["p10"]).max() == pytest.approx(3.0)
    narrow, _ = roi.route_months(monthly, "base", NAMES, 12, 0.0, max_ratio=1.5)
    assert (narrow["p90"] / narrow["p50"]).min() == pytest.approx(2.0)  # never narrower than the forecast's
    # Each side has its own bound: a wide upper side does not let the lower one widen past 3.
    costs["p90"] = 4.0 * costs["p50"]
    lopsided, _ = roi.route_months(roi.monthly_route_costs(costs, forecast_totals(), "D", NAMES), "base", NAMES, 12,
                                   0.0, max_ratio=3.0)
    assert (lopsided["p50"] / lopsided["p10"]).max() == pytest.approx(3.0)
    assert (lopsided["p90"] / lopsided["p50"]).max() == pytest.approx(4.0)


def test_too_little_history_fits_no_growth_and_the_months_after_stay_at_the_forecasts_rate():
    """One whole month of history and seven forecast days had fitted +12.7% a month, compounded over
    eleven months to 3.7 times the forecast's rate (an NPV about 100 times the horizon's saving)."""
    costs, periods = _april_week({"base": 1414.0})
    monthly = roi.monthly_route_costs(costs, periods, "h", NAMES)
    history = pd.Series({"2015-03": 4800.0})  # $155 a day in March, $202 a day forecast for April
    fits = roi.extrapolation_growth(monthly, "base", NAMES, history, min_history_months=3)
    assert fits["with_history"] > 0.2 and fits["forecast"] is None
    assert fits["used"] == 0.0 and not fits["enough_history"] and fits["history_months"] == 1
    months, _ = roi.route_months(monthly, "base", NAMES, 12, fits["used"])
    per_day = months["p50"] / months["month_days"]
    assert per_day.to_numpy() == pytest.approx(1414.0 / 7)
    three = pd.concat([pd.Series({"2015-01": 4200.0, "2015-02": 4000.0}), history])
    enough = roi.extrapolation_growth(monthly, "base", NAMES, three, min_history_months=3)
    assert enough["enough_history"] and enough["used"] == enough["with_history"] > 0


def test_the_growth_fit_reads_only_the_series_the_plan_forecasts():
    """An ended model's fall is not the plan's decline: with it a Console export's history fitted
    -1.9% a month, without it +9.1%."""
    rows = [("opus", "2026-05", 4400.0), ("opus", "2026-06", 3600.0), ("opus", "2026-07", 5100.0),
            ("opus", "2026-08", 2400.0), ("sonnet", "2026-05", 5400.0), ("sonnet", "2026-06", 4500.0),
            ("sonnet", "2026-07", 6300.0), ("sonnet", "2026-08", 8900.0), ("sonnet", "2026-09", 6900.0),
            ("haiku", "2026-07", 960.0), ("haiku", "2026-08", 1140.0), ("haiku", "2026-09", 1230.0)]
    history_costs = pd.DataFrame([{"series": s, "model": s, "period": p, "observed": c, "whole_month": True}
                                  for s, p, c in rows])
    planned, left_out = roi.planned_history(history_costs, {"sonnet", "haiku"}, 12)
    assert left_out == ["opus"]
    assert planned.to_dict() == pytest.approx({"2026-05": 5400.0, "2026-06": 4500.0, "2026-07": 7260.0,
                                               "2026-08": 10040.0, "2026-09": 8130.0})
    everything, _ = roi.planned_history(history_costs, {"sonnet", "haiku", "opus"}, 12)
    per_day = [{"route": "base", "model": "m", "period": p, "p10": 0.9 * c * roi._days(p), "p50": c * roi._days(p),
                "p90": 1.1 * c * roi._days(p)} for p, c in {"2026-10": 300.0, "2026-11": 310.0}.items()]
    monthly = roi.monthly_route_costs(pd.DataFrame(per_day), forecast_totals(months=("2026-10", "2026-11")), "D",
                                      NAMES)
    assert roi.extrapolation_growth(monthly, "base", NAMES, everything)["with_history"] < 0
    assert roi.extrapolation_growth(monthly, "base", NAMES, planned)["with_history"] > 0.05
    # Months before any planned series began are no history of them.
    assert roi.planned_history(history_costs, {"haiku"}, 12)[0].index.tolist() == ["2026-07", "2026-08", "2026-09"]


def test_a_month_with_missing_days_is_read_at_its_observed_days_rate():
    """June is spanned from its first to its last day but a quarter of its buckets are missing: priced as it is,
    it read as a 25% fall and July as growth."""
    rows = [("2026-05", 3100.0, 1.0), ("2026-06", 2250.0, 0.75), ("2026-07", 3100.0, 1.0)]
    history_costs = pd.DataFrame([{"series": "sonnet", "model": "sonnet", "period": p, "observed": c,
                                   "covered_share": share, "whole_month": True} for p, c, share in rows])

    planned, _ = roi.planned_history(history_costs, {"sonnet"}, 12)

    assert planned.to_dict() == pytest.approx({"2026-05": 3100.0, "2026-06": 3000.0, "2026-07": 3100.0})
