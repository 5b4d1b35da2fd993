"""Whether the forecast carries the history's recent weekly trend, and the summary's risk when it does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.reporting import report_fixtures as fx
from tokenplan.reporting.carried_trend import carried_trends
from tokenplan.reporting.summary import plan_summary

DAYS = pd.date_range("2026-08-24", periods=35, freq="D")  # five whole weeks
HORIZON = pd.date_range(DAYS[-1] + pd.Timedelta(days=1), periods=140, freq="D")


def _history(weekly: float, seed: int = 0) -> pd.DataFrame:
    """Five weeks of days growing ``weekly`` a week, a weekday cycle and 3% noise, for model-a's three targets."""
    rng = np.random.default_rng(seed)
    level = 1_000 * (1 + weekly) ** (np.arange(len(DAYS)) / 7) * np.array([1, 1, 1, 1, 1, 0.6, 0.5])[DAYS.dayofweek]
    noisy = level * rng.lognormal(0, 0.03, len(DAYS))
    return pd.DataFrame([{"series": "model-a", "target": t, "ds": d, "y": y * fx.DAILY[t] / 1_000}
                         for t in fx.TARGETS for d, y in zip(DAYS, noisy, strict=True)])


def _forecast(history: pd.DataFrame, weekly: float) -> pd.DataFrame:
    """The last week repeated, growing ``weekly`` a week."""
    last = history[history["ds"] > DAYS[-8]]
    rows = []
    for t, past in last.groupby("target"):
        week = past.sort_values("ds")["y"].to_numpy()
        for i, day in enumerate(HORIZON):
            p50 = week[i % 7] * (1 + weekly) ** ((i + 1) / 7)
            rows.append({"series": "model-a", "target": t, "timestamp": day, "p10": 0.9 * p50, "p50": p50,
                         "p90": 1.1 * p50})
    return pd.DataFrame(rows)


def test_eleven_percent_a_week_held_flat_is_not_carried():
    history = _history(0.11)
    trends = carried_trends(history, _forecast(history, 0.0), "p50").set_index("target")
    assert not trends["carried"].any()
    assert trends.loc["requests", "weeks"] == 5
    assert np.expm1(trends.loc["requests", "history_weekly"]) == pytest.approx(0.11, abs=0.02)
    assert abs(trends.loc["requests", "forecast_weekly"]) < 1e-9
    # Faded in as a damped trend: more than the flat plan, less than 11% a week compounded for 20 weeks.
    ratio = trends.loc["requests", "damped_total"] / trends.loc["requests", "plan_total"]
    assert 1.5 < ratio < np.exp(np.log(1.11) * 0.9 / 0.1) < 1.11 ** 20


@pytest.mark.parametrize(("history_weekly", "forecast_weekly"), [(0.0, 0.0), (0.11, 0.09), (0.01, 0.0)])
def test_a_flat_history_a_carried_trend_or_a_slight_one_is_no_finding(history_weekly, forecast_weekly):
    history = _history(history_weekly)
    assert carried_trends(history, _forecast(history, forecast_weekly), "p50")["carried"].all()


def test_three_weeks_are_too_few_to_read_a_trend_from():
    history = _history(0.11)
    short = history[history["ds"] >= DAYS[14]]
    assert carried_trends(short, _forecast(history, 0.0), "p50").empty


def _plan_summary(history: pd.DataFrame, forecast: pd.DataFrame):
    horizon = forecast.groupby(["series", "target"], as_index=False)[fx.Q].sum().assign(
        period="horizon", start=HORIZON[0], end=HORIZON[-1], buckets=len(HORIZON))
    return plan_summary(history=history, totals=horizon, costs=fx.costs(horizon), backtest=fx.backtest(),
                        prices=fx.prices(), quantile_names=fx.Q, simulated=False, forecast=forecast)


def test_the_summary_names_a_trend_the_forecast_does_not_carry_and_what_a_damped_one_adds():
    history = _history(0.11)
    risk = next(r for r in _plan_summary(history, _forecast(history, 0.0)).risks if r["kind"] == "trend_not_carried")
    case = risk["cases"][0]
    assert case["series"] == "model-a" and case["target"] == "requests" and case["weeks"] == 5
    assert case["history_weekly"] == pytest.approx(0.11, abs=0.02) and case["forecast_weekly"] == pytest.approx(0)
    assert risk["added_usd"] > 0 and 0.5 < risk["share"] < 1.5
    assert risk["score"] == pytest.approx(risk["share"])

    carried = _history(0.11)
    assert not any(r["kind"] == "trend_not_carried"
                   for r in _plan_summary(carried, _forecast(carried, 0.11)).risks)


def test_the_report_states_the_trend_the_forecast_does_not_carry_with_its_damped_cost():
    from dataclasses import replace

    from tests.reporting.test_report_template import _inputs, _summary_section
    from tokenplan.reporting.report import render_report

    history = _history(0.11)
    risks = _plan_summary(history, _forecast(history, 0.0)).risks
    inputs = _inputs()
    summary = _summary_section(render_report(replace(inputs, summary=replace(inputs.summary, risks=risks))))
    line = next(x for x in summary.splitlines() if "trend is not carried" in x)
    assert "model-a's requests grew 11" in line and "a week over its last 5 weeks of history" in line
    assert "where the forecast grows 0.0% a week" in line
    assert "each week's growth 90% of the week before's), the horizon's P50 cost would rise by $" in line


def test_a_week_ahead_the_forecasts_growth_is_over_the_historys_last_week():
    """A one-week horizon has one forecast week, so no slope of its own: read as no growth, every series growing
    8% a week was said not to carry it (147 of 245 of M4's series a week ahead, most forecast 8% above their last
    week). Its growth is over the history's last week; a horizon under a week is not checked."""
    history = _history(0.11)
    week = _forecast(history, 0.11)
    week = week[week["timestamp"] < HORIZON[7]]
    trends = carried_trends(history, week, "p50").set_index("target")
    assert trends["carried"].all()
    assert 0.04 < np.expm1(trends.loc["requests", "forecast_weekly"]) < 0.12  # its days 1/7 to 1 week ahead
    flat = _forecast(history, 0.0)
    assert not carried_trends(history, flat[flat["timestamp"] < HORIZON[7]], "p50")["carried"].any()
    assert carried_trends(history, week[week["timestamp"] < HORIZON[5]], "p50").empty


def test_a_plan_that_starts_off_the_last_week_is_not_said_to_hold_the_recent_level():
    """Review V: a key growing 40% a week was forecast from 31% below its last week; the risk said "the methods
    chosen hold it near the recent level". It now says where the plan starts against the last week."""
    from dataclasses import replace

    from tests.reporting.test_report_template import _inputs, _summary_section
    from tokenplan.reporting.report import render_report

    history = _history(0.11)
    lower = _forecast(history, 0.0)
    lower[fx.Q] = lower[fx.Q] * 0.69
    trends = carried_trends(history, lower, "p50").set_index("target")
    assert trends.loc["requests", "start_change"] == pytest.approx(-0.31, abs=0.005)
    inputs = _inputs()
    for forecast, said in ((lower, "starting 31% below its last week. The methods chosen do not carry it:"),
                           (_forecast(history, 0.0), "a week. The methods chosen hold it near the recent level:")):
        risks = _plan_summary(history, forecast).risks
        summary = _summary_section(render_report(replace(inputs, summary=replace(inputs.summary, risks=risks))))
        line = next(x for x in summary.splitlines() if "trend is not carried" in x)
        assert said in line, line
