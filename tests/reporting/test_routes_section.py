"""The routes section's wording: a route that does not save is never said to save."""

from __future__ import annotations

import pandas as pd
import pytest

from tokenplan.reporting.routes_section import _saving


def test_a_route_costing_more_than_the_baseline_is_not_said_to_save():
    horizon = pd.Series({"official_api": 1_000.0, "prompt_caching": 1_200.0, "batch_api": 800.0})
    assert _saving(horizon, "official_api", "batch_api") | {} == {
        "cost": "$800", "saving": "$200", "saving_share": "20.0%", "saves": True, "extra": "-$200"}
    dearer = _saving(horizon, "official_api", "prompt_caching")
    assert not dearer["saves"] and dearer["extra"] == "$200"


def test_a_route_that_prices_none_of_the_usage_differently_is_shown_as_not_applying():
    from types import SimpleNamespace

    from tests.reporting import report_fixtures as fx
    from tokenplan.reporting.routes_section import NOT_APPLICABLE, _roi_table

    summary = fx.roi_summary().assign(kind=["batch", "reseller"], months=12, months_extrapolated=0,
                                      break_even_saving_share=0.1, break_even_credit_rate=float("nan"),
                                      applies=[True, False], payback_month_p10=[2.0, 6.0])
    inputs = SimpleNamespace(roi_summary=summary, quantile_names=fx.Q, roi_cashflow=pd.DataFrame(),
                             params={"routes": {"definitions": [{"name": "batch", "kind": "batch"},
                                                                {"name": "relay", "kind": "reseller",
                                                                 "provider": "aws_bedrock"}]}})
    rows = {line.split("|")[1].strip(): line for line in _roi_table(inputs).splitlines()[2:]}
    assert NOT_APPLICABLE in rows["relay"] and "$4,000" not in rows["relay"] and "nan" not in rows["relay"]
    assert "$7,000" in rows["batch"]


def test_a_relays_break_even_credit_rate_is_in_the_currency_an_override_set():
    from types import SimpleNamespace

    from tests.reporting import report_fixtures as fx
    from tokenplan.reporting.routes_section import _roi_table

    summary = fx.roi_summary().iloc[:1].assign(route="relay_cny", kind="relay", months=12, months_extrapolated=0,
                                               break_even_saving_share=0.1, break_even_credit_rate=6.5,
                                               payback_month_p10=2.0)
    routes = {**ROUTES, "overrides": {"relay_cny": {"currency": "HKD"}}}
    inputs = SimpleNamespace(roi_summary=summary, quantile_names=fx.Q, roi_cashflow=pd.DataFrame(),
                             params={"routes": routes})
    (row,) = _roi_table(inputs).splitlines()[2:]
    assert "credit rate ≤ 6.5 HKD per USD" in row


# A week of hourly forecast at the end of April 2015 after one whole month of history (March), with a
# model that ended in March: the ROI's month 1 is April at the week's rate, and no growth is fitted.
ROUTES = {"baseline": "official_api", "cache_write_share_days": 28,
          "definitions": [{"name": "official_api", "kind": "official"},
                          {"name": "relay_cny", "kind": "relay", "currency": "CNY", "credit_rate": 1.0,
                           "fx_rate": 7.1, "fx_date": "2026-11-27", "fx_source": "assumed",
                           "one_time": {"engineering_days": 5, "day_rate_usd": 800}}]}
ROI = {"months": 12, "growth_history_months": 12, "min_growth_history_months": 3, "max_p90_to_p50": 3.0,
       "annual_discount_rate": 0.08, "sensitivity": {"swing": 0.2, "growth_swing": 0.05}}


def _week_section(batch: bool = False) -> tuple[str, pd.DataFrame]:
    """The routes section and ``roi_summary`` of a week's forecast costing $1,414 on the API and $199 relayed
    (``batch``: with a Batch API route that has no batch rate for the model, so it costs the same as the API)."""
    from tokenplan.pipelines.planning.nodes import compute_roi
    from tokenplan.reporting.routes_section import RoutesSectionInputs, render_routes_section

    names = ["p10", "p50", "p90"]
    start, end = pd.Timestamp("2015-04-23 02:00"), pd.Timestamp("2015-04-30 01:00")
    totals = pd.DataFrame([{"series": "sonnet", "target": "input_tokens", "period": p, "start": start, "end": end,
                            "buckets": 168, "p10": 1.0, "p50": 2.0, "p90": 3.0} for p in ("2015-04", "horizon")])
    costs = pd.DataFrame([{"route": r, "model": "sonnet", "period": p, "p10": 0.45 * c, "p50": c, "p90": 2.2 * c}
                          for r, c in (("official_api", 1414.0), ("relay_cny", 199.0),
                                       *((("batch_api", 1414.0),) if batch else ()))
                          for p in ("2015-04", "horizon")])
    history_costs = pd.DataFrame([{"series": s, "model": s, "period": p, "observed": c, "whole_month": w}
                                  for s, p, c, w in (("sonnet", "2015-02", 400.0, False), ("sonnet", "2015-03", 5556.0,
                                                     True), ("opus", "2015-03", 9000.0, True))])
    rates = pd.DataFrame([{"route": r, "series": "sonnet", "model": "sonnet", "period": "2015-04",
                           "price_date": "2015-04-01", "token_type": "input_tokens", "usd_per_mtok": 3.0 * k,
                           "note": "list", "moved": r == "relay_cny"}
                          for r, k in (("official_api", 1.0), ("relay_cny", 1 / 7.1),
                                       *((("batch_api", 1.0),) if batch else ()))])
    routes = {**ROUTES, "definitions": [*ROUTES["definitions"], *([{"name": "batch_api", "kind": "batch",
                                                                     "eligible_share": 0.3}] if batch else [])]}
    params = {"routes": routes, "roi": ROI}
    summary, flow = compute_roi(costs, totals, history_costs, rates, params, {"quantiles": [0.1, 0.5, 0.9]},
                                {"freq": "h"})
    inputs = RoutesSectionInputs(costs, rates, summary, flow, pd.DataFrame(), pd.DataFrame(), {}, params, names)
    return render_routes_section(inputs), summary


def test_a_batch_route_without_a_batch_rate_is_said_not_to_apply_not_to_cost_nothing_more():
    section, summary = _week_section(batch=True)
    assert not summary.set_index("route").loc["batch_api", "applies"]
    assert "**batch_api** does not apply: it takes none of this usage" in section
    assert "costs $0 more" not in section
    row = next(line for line in section.splitlines() if line.startswith("| batch_api |"))
    assert "does not apply" in row and "$0 |" not in row  # the horizon table says it too


def test_a_partly_forecast_month_is_named_as_such_in_every_table_that_shows_it():
    """The route table costs the week ($1,215 saved), the ROI a month at its rate ($5,207): each says which."""
    text, summary = _week_section()
    relay = summary.set_index("route").loc["relay_cny"]
    assert relay["monthly_saving_p50"] == pytest.approx(1215.0 * 30 / 7)
    assert "| route | 2015-04 (04-23 – 04-30: 7 of 30 days) |" in text
    assert "| 1 2015-04 (7 forecast days scaled to 30) |" in text
    assert "monthly saving (a month at the forecast's rate)" in text
    rate = "a month at the forecast's rate: its 7 forecast days, saving $1,215, scaled to the month's 30"
    assert f"relay_cny saves $5,207 a month ({rate})" in text
    from tests.reporting.test_report_template import _inputs, _summary_section
    from tokenplan.reporting.report import render_report

    headline = _summary_section(render_report(_inputs(roi_summary=summary.assign(kind="relay"))))
    assert f"relay_cny saves **$5,207 a month** ($2,343 – $11,456; {rate}) for a one-time $4,000" in headline


def test_too_little_history_holds_the_months_after_the_forecast_at_its_rate_and_says_why():
    text, summary = _week_section()
    assert summary["growth_after_forecast"].eq(0).all() and not summary["growth_enough_history"].any()
    assert ("held at the forecast's rate, without growth (the last forecast month's cost per day), because the "
            "history has 1 whole month of priced usage of the series in this plan, fewer than the 3") in text
    assert "would grow 12.7%/month, 3.7 times the forecast's rate after 11 months" in text
    assert "1 whole months" not in text
    assert "opus, not in this plan, is left out, so its end does not read as a fall" in text
    from tests.reporting.test_report_template import _inputs, _summary_section
    from tokenplan.reporting.report import render_report

    headline = _summary_section(render_report(_inputs(roi_summary=summary.assign(kind="relay"))))
    assert ("the 11 months after the forecast held at its rate: 1 whole month of priced history is too few to fit "
            "a growth rate") in headline
