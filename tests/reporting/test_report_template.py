"""report.md from the template: summary first, the plug-in sections, and numbers from the tables."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import numpy as np
import pandas as pd

from tests.reporting import report_fixtures as fx
from tokenplan.closing_block import summary_headline
from tokenplan.planning.prices import price_data_date
from tokenplan.reporting.report import ReportInputs, render_report
from tokenplan.reporting.number_format import human, percent, usd
from tokenplan.reporting.data_source import data_source_identity
from tokenplan.reporting.summary import plan_summary


def _inputs(simulated: bool = True, capacity_plan=None, roi_summary=None, previous=None, outages=None,
            **sections) -> ReportInputs:
    totals = fx.totals()
    costs = fx.costs(totals)
    history, backtest, prices = fx.history(), fx.backtest(), fx.prices()
    summary = plan_summary(history, totals, costs, backtest, prices, fx.Q, simulated=simulated,
                           capacity_plan=capacity_plan, roi_summary=roi_summary, previous=previous, outages=outages,
                           data_source=data_source_identity(simulated, "raw_usage (test)", fx.MODELS))
    events = pd.DataFrame({"start": pd.to_datetime(["2026-11-01"], utc=True),
                           "end": pd.to_datetime(["2026-11-15"], utc=True), "name": ["Campaign | spring"],
                           "kind": ["campaign"], "scope": [""], "effect": [1.5]})
    importance = pd.DataFrame({"feature": ["seasonal_index"], "mean_abs_shap": [0.1], "share": [1.0]})
    settings = {"freq": "D", "horizon": 91, "holiday_country": "US", "trend": "local_linear",
                "trend_tuning_pinball": {}, "objective": "squarederror", "price_source": "genai-prices 0.2.3",
                "price_data_date": "2026-11-01"}
    return ReportInputs(version="test", history=history, totals=totals, costs=costs, backtest=backtest,
                        importance=importance, events=events, best_params={"max_depth": 3}, prices=prices,
                        quantile_names=fx.Q, settings=settings, summary=summary,
                        forecast_figures=["forecast_model-a.png", "forecast_model-b.png"], **sections)


def _summary_section(text: str) -> str:
    return text.split("## Summary")[1].split("\n## ")[0]


def test_the_report_opens_with_the_summary_and_a_simulated_data_notice():
    text = render_report(_inputs())
    assert [line for line in text.splitlines() if line.startswith("## ")][0] == "## Summary"
    assert "This report's data is simulated" in text.split("## Summary")[0]
    assert "simulated" not in render_report(_inputs(simulated=False)).lower()


def test_summary_numbers_are_the_tables_numbers():
    inputs = _inputs()
    summary = _summary_section(render_report(inputs))
    s = inputs.summary
    totals = s.totals.set_index("target")
    assert (f"| requests | **{human(totals.loc['requests', 'p50'])}** | {human(totals.loc['requests', 'p10'])} – "
            f"{human(totals.loc['requests', 'p90'])} | {human(totals.loc['requests', 'last_quarter'])} | "
            f"{percent(totals.loc['requests', 'change'], 0, True)} |") in summary
    assert f"**{usd(s.cost['p50'])}**" in summary and usd(s.cost["last_quarter"]) in summary
    assert "2026 Q3" in summary and "1 missing series-day (a day of one series) left out" in summary
    # The change is per bucket (a four-month horizon against a three-month quarter): the
    # column says so, and so does the console's headline, which reads the same cells.
    assert "| 2026 Q3 actual | change per day |" in summary
    assert "change per day" in summary_headline(render_report(inputs))[1]
    assert "the capacity plan was not part of this run" in summary
    assert "no route costs in this run" in summary
    assert "suspected outage" not in summary


def test_the_summary_says_a_suspected_outage_is_left_out_of_the_change():
    history = fx.history()
    days = history.loc[(history["series"] == "model-b") & (history["ds"].dt.month == 8), ["series", "target", "ds"]]
    summary = _summary_section(render_report(_inputs(outages=days.assign(y=0.0, expected=1.0, kind="outage"))))
    assert "31 buckets of suspected outage, recorded in its actual, left out of the change" in summary


def test_first_limit_and_best_route_are_stated_when_the_tables_exist():
    summary = _summary_section(render_report(_inputs(capacity_plan=fx.capacity_plan(),
                                                     roi_summary=fx.roi_summary())))
    assert ("**First rate limit to bind:** model-b RPM (limit 1.00K/min): first over at P90 in 2026-11; "
            "at P50 in 2026-12." in summary)
    assert "**Best route:** batch saves **$800 a month** ($500 – $1,100) for a one-time $2,000" in summary
    assert "pays back in month 3" in summary and "12-month NPV $7,000" in summary


def test_a_route_on_the_demos_assumptions_says_so_beside_its_saving_on_a_users_data():
    """The shipped routes' credit rate, eligible share, engineer-days and discount rate are made up for the demo:
    on a user's own usage the headline saving rests on them, and the summary says which, beside it."""
    demo_inputs = "CNY 1 of credit per USD of list price; a discount rate of 8% a year"
    roi = fx.roi_summary().assign(demo_assumptions=demo_inputs)
    mine = _summary_section(render_report(_inputs(simulated=False, roi_summary=roi)))
    line = next(x for x in mine.splitlines() if "**Best route:**" in x)
    assert f"**On the demo's assumptions, not yours:** {demo_inputs}; set your own under `planning.routes`" in line
    demo = _summary_section(render_report(_inputs(simulated=True, roi_summary=roi)))
    assert "demo's assumptions" not in demo
    assert "demo's assumptions" not in _summary_section(render_report(_inputs(simulated=False,
                                                                              roi_summary=fx.roi_summary())))


def test_a_route_lists_the_inputs_it_takes_from_the_demo():
    from tokenplan.planning.routes import Route

    relay = Route(name="relay_cny", kind="relay", currency="CNY", credit_rate=1.0, fx_rate=7.1, fx_date="2026-11-01",
                  fx_source="assumed for the demo, not a quoted market rate", source="assumed for the demo: a relay",
                  one_time={"engineering_days": 5, "day_rate_usd": 800, "source": "assumed for the demo: 5 days"})
    assert relay.demo_assumptions() == ["CNY 1 of credit per USD of list price", "FX 7.1 CNY per USD",
                                        "a one-time cost of 5 engineer-days"]
    quoted = relay.model_copy(update={"source": "quote from the relay, 2026-11-20", "fx_source": "treasury rate",
                                      "one_time": relay.one_time.model_copy(update={"source": "our estimate"})})
    assert quoted.demo_assumptions() == []


def test_no_crossing_and_no_paying_route_are_said_plainly():
    summary = _summary_section(render_report(_inputs(capacity_plan=fx.capacity_plan(crossing=False),
                                                     roi_summary=fx.roi_summary(paying=False))))
    assert "none is reached in the horizon, even at P90; the tightest is model-b rpm" in summary
    assert "2% headroom" in summary
    assert "none of the 2 routes pays back within 12 months at P50" in summary


def test_a_limit_whose_peaks_are_assumed_says_so_beside_the_number():
    """Usage without per-minute data (a daily Console export): every peak is the mean minute times a configured
    factor, and the summary's limit statement says so, not only the capacity assumptions further down."""
    for crossing, said in ((True, "**First rate limit to bind:** model-b RPM"), (False, "the tightest is model-b")):
        plan = fx.capacity_plan(crossing=crossing).assign(peak_method="assumed")
        line = next(x for x in _summary_section(render_report(_inputs(capacity_plan=plan))).splitlines() if said in x)
        assert "peaks assumed, not measured" in line, line
        plan = plan.assign(peak_method="measured")
        line = next(x for x in _summary_section(render_report(_inputs(capacity_plan=plan))).splitlines() if said in x)
        assert "assumed" not in line, line


def _with_unpriced_model_x(inputs: ReportInputs) -> ReportInputs:
    """``inputs`` with model-x, model-a's usage again under an id no price table knows."""
    def with_x(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([frame, frame[frame["series"] == "model-a"].assign(series="model-x")])

    totals, history = with_x(inputs.totals), with_x(inputs.history)
    prices = {**inputs.prices, "model-x": None}
    summary = plan_summary(history, totals, inputs.costs, inputs.backtest, prices, fx.Q, simulated=True)
    return replace(inputs, totals=totals, history=history, prices=prices, summary=summary)


def test_an_unpriced_model_is_named_beside_the_cost_and_its_cost_cell_says_no_price():
    """A model id genai-prices does not know (a typo, a fine-tuned model): its tokens count in the summary, its cost
    is nowhere, and the summary says so rather than a lower cost without a word and 'nan' in the per-model table."""
    summary_text = _summary_section(render_report(_with_unpriced_model_x(_inputs())))
    assert "nan" not in summary_text
    assert "| model-x |" in summary_text and "| no price |" in summary_text
    assert "**The cost leaves out model-x: no price**" in summary_text


def test_the_closing_block_says_the_cost_leaves_out_an_unpriced_model():
    """The console's last lines printed "cost ... $21,322" for a run whose report said the cost leaves out
    claude-mythos-1: the headline read as the whole usage's cost."""
    inputs = _inputs()
    cost = next(line for line in summary_headline(render_report(_with_unpriced_model_x(inputs)))
                if line.startswith("Horizon"))
    assert "cost (USD, list prices) without model-x (no price): forecast P50 $" in cost
    assert "without" not in next(line for line in summary_headline(render_report(inputs)) if line.startswith("Horizon"))


def test_capacity_and_routes_sections_are_placed_after_the_forecast_when_given():
    plain = render_report(_inputs())
    assert "## Capacity" not in plain and "## Routes" not in plain
    text = render_report(_inputs(capacity_section="## Capacity\n\ncapacity body\n",
                                 routes_section="## Routes and ROI\n\nroutes body"))
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings.index("## Capacity") == headings.index("## Forecast") + 1
    assert headings.index("## Routes and ROI") == headings.index("## Capacity") + 1
    assert "capacity body" in text and "routes body" in text


def test_every_forecast_figure_is_referenced_and_table_cells_escape_pipes():
    text = render_report(_inputs())
    assert "(forecast_model-a.png)" in text and "(forecast_model-b.png)" in text
    assert "Campaign \\| spring" in text


def test_the_price_data_date_is_the_price_databases_not_the_forecasts():
    text = render_report(_inputs())
    assert "newest recorded price change is dated **2026-11-01**" in text
    assert isinstance(price_data_date(), dt.date)


def test_the_share_of_one_hour_cache_writes_is_stated_beside_the_prices_only_where_known():
    inputs = _inputs()
    assert "at the 1-hour rate" not in render_report(inputs)
    inputs.prices = {**inputs.prices, "model-a": replace(inputs.prices["model-a"], cache_write_1h_share=0.23,
                                                         cache_write_share_days=28)}
    prices = render_report(inputs).split("Prices used")[1].split("## Assumptions")[0]
    assert ("- **model-a**: cache writes: 23% at the 1-hour rate (the history's share over the last 28 days)"
            in prices)
    assert "**model-b**: cache writes" not in prices


def test_a_model_writing_only_5_minute_entries_shows_its_5_minute_rate_beside_a_blended_one():
    from tokenplan.planning.prices import with_cache_write_share

    inputs = _inputs()
    blended = with_cache_write_share(replace(inputs.prices["model-a"], usd_per_mtok={
        **inputs.prices["model-a"].usd_per_mtok, "cache_write_tokens": 3.75, "cache_write_1h_tokens": 6.0}), 0.3, 28)
    inputs.prices = {**inputs.prices, "model-a": blended}
    prices = render_report(inputs).split("Prices used")[1].split("## Assumptions")[0]
    header = next(line for line in prices.splitlines() if line.startswith("| model"))
    rows = {line.split("|")[1].strip(): line.split("|")[1:-1] for line in prices.splitlines() if line.startswith("|")}
    cells = dict(zip([c.strip() for c in header.split("|")[1:-1]], [c.strip() for c in rows["model-b"]], strict=True))
    assert cells["cache_write_5m $/MTok"] == cells["cache_write $/MTok"] != "–"


def test_long_context_shares_are_stated_beside_the_prices_and_the_caveat_only_without_them():
    inputs = _inputs()
    assert "the prices assume none was: base-tier rates" in render_report(inputs)
    tiered = replace(inputs.prices["model-a"], long_context_shares={"input_tokens": 0.25, "output_tokens": 0.0},
                     long_context_share_days=28, long_context_above_tokens=200_000,
                     long_context_usd_per_mtok={"input_tokens": 6.0, "output_tokens": 22.5})
    untiered = replace(inputs.prices["model-b"], long_context_shares={"input_tokens": 0.0}, long_context_share_days=28)
    inputs.prices = {**inputs.prices, "model-a": tiered, "model-b": untiered}
    text = render_report(inputs)
    prices = text.split("Prices used")[1].split("## Assumptions")[0]
    assert ("- **model-a**: long context: 25% of its uncached input tokens were in long-context requests (above "
            "200,000 input tokens) over the last 28 days; its rates above blend the base rates and genai-prices' "
            "long-context rates (uncached input tokens $6 per MTok) at those shares." in prices)
    assert "**model-b**: long context" not in prices  # measured, none in long context
    assert "base-tier rates" not in text and "the forecast assumes that share holds" in text
    inputs.prices = {**inputs.prices, "model-a": replace(tiered, long_context_shares={"input_tokens": 0.0})}
    assert "none of the usage over the last 28 days was in long-context requests" in render_report(inputs)


def test_what_changed_since_the_last_report_is_stated_when_there_is_one():
    assert "last report" not in render_report(_inputs()).lower()
    then = fx.totals(growth=1.0)
    previous = {"version": "v1", "forecast_totals": then, "cost_forecast": fx.costs(then),
                "data_source": data_source_identity(True, "raw_usage (test)", fx.MODELS)}
    summary = _summary_section(render_report(_inputs(previous=previous)))
    assert "| last report P50 |" in summary
    assert "| requests | **200.20K** | 180.18K – 220.22K | 183.00K | +10% | 182.00K |" in summary
    assert "*Last report* is the previous run's forecast (`v1`): this run's P50 cost is +10.0% against it." in summary
    # A last report that priced nothing (no token counts) shows no cost, not $0.
    unpriced = _summary_section(render_report(_inputs(previous={**previous, "cost_forecast": fx.costs(then).assign(
        **{q: 0.0 for q in fx.Q})})))
    cost_row = next(line for line in unpriced.splitlines() if line.startswith("| **cost"))
    assert cost_row.endswith("| – |") and "no cost change is stated" in unpriced
    week = fx.week_totals(growth=1.0)
    summary = _summary_section(render_report(_inputs(previous={**previous, "forecast_totals": week,
                                                               "cost_forecast": fx.costs(week)})))
    assert ("this run's P50 cost per day is +10.0% against it (the horizons differ, "
            f"{len(fx.HORIZON)} days against 7, so the change compares cost per day)") in summary
    # Its column holds its own 7 days' totals, not this horizon's: the header says so, and says nothing of shared
    # models when it forecast every one of this run's.
    assert "| last report P50 (its 7 days) |" in summary
    fewer = week[week["series"] == "model-a"]
    summary = _summary_section(render_report(_inputs(previous={**previous, "forecast_totals": fewer,
                                                               "cost_forecast": fx.costs(fewer)})))
    assert "| last report P50 (1 shared series, its 7 days) |" in summary
    other = then.assign(series="model-z")
    summary = _summary_section(render_report(_inputs(previous={
        "version": "v0", "forecast_totals": other, "cost_forecast": fx.costs(other),
        "data_source": data_source_identity(True, "raw_usage (test)", ["model-z"])})))
    assert "| last report P50 |" not in summary
    assert ("No earlier report is compared with this one: `v0`, because it was made from other series, none in "
            "common (only in it: model-z; only in this run: model-a, model-b).") in summary
    # The demo's report beside a user's first run, same model names: not compared, and why.
    summary = _summary_section(render_report(_inputs(simulated=False, previous=previous)))
    assert "| last report P50 |" not in summary and "against it" not in summary
    assert ("No earlier report is compared with this one: `v1`, because it was made from the simulated demo, "
            "this run from your usage data.") in summary


def _q3_plan(growth: float = 0.8, by_month: bool = False) -> dict:
    """A last plan of Q3 (now in the history) at ``growth`` times the history's level, P10/P90 at -+10%, costed
    with its P50 split by token type (as the cost stage writes it) and read from an older export; ``by_month``:
    with its months' totals too."""
    horizon = pd.date_range("2026-07-01", "2026-09-30", freq="D")
    periods = {"horizon": horizon} | ({str(m): horizon[horizon.to_period("M") == m]
                                       for m in horizon.to_period("M").unique()} if by_month else {})
    then = pd.DataFrame([{"series": m, "target": t, "period": period, "start": days[0], "end": days[-1],
                          "buckets": len(days), **{q: fx.DAILY[t] * growth * len(days) * k
                                                   for q, k in zip(fx.Q, (0.9, 1.0, 1.1), strict=True)}}
                         for m in fx.MODELS for t in fx.TARGETS for period, days in periods.items()])
    tokens = then[then["target"] != "requests"].pivot(index=["series", "period"], columns="target", values="p50")
    cost = fx.costs(then).join(tokens, on=["series", "period"])
    cost = cost.assign(p50_input=cost["input_tokens"] * 3e-6, p50_output=cost["output_tokens"] * 15e-6).drop(
        columns=list(tokens))
    return {"version": "v1", "forecast_totals": then, "cost_forecast": cost,
            "data_source": data_source_identity(True, "raw_usage (an older export)", fx.MODELS)}


def test_the_last_plan_is_graded_against_what_was_recorded():
    user = {"version": "v2", "forecast_totals": fx.totals(), "cost_forecast": fx.costs(fx.totals()),
            "data_source": data_source_identity(False, "raw_usage (usage.csv)", fx.MODELS)}
    markdown = render_report(_inputs(previous=[user, _q3_plan()]))
    summary = _summary_section(markdown)
    assert "(`v1`, horizon 2026-07-01 to 2026-09-30)" in summary
    assert "It was read from raw_usage (an older export), this run from raw_usage (test)." in summary
    assert ("Newer reports not compared: `v2`, because it was made from your usage data, this run from the "
            "simulated demo.") in summary
    # Requests: 2 x 1,000 x 92 recorded less model-a's missing day = 183,000. Without forecast.csv the plan
    # counts 91 of model-a's 92 buckets: 0.8 x 1,000 x (91 + 92) = 146,400 (131,760 - 161,040).
    assert ("- **The last plan against what was recorded:** `v1` forecast 2026-07-01 to 2026-09-30, all 92 days now "
            "in this history: requests came to 183.00K against its P50 of 146.40K, above its P90 "
            "(131.76K – 161.04K); cost $1,380 against $1,104, above its P90 ($994 – $1,214).") in summary
    assert "| requests | 183.00K | 146.40K | 131.76K – 161.04K | +25.0%, above its P90 |" in summary
    assert "| cost (USD, its prices) | $1,380 | $1,104 | $994 – $1,214 | +25.0%, above its P90 |" in summary
    assert "it holds no `forecast.csv`" in summary
    assert "1 model-bucket with no recorded value is left out of both" in summary
    headline = summary_headline(markdown)
    assert headline[1].startswith("Horizon 2026-10-01 to 2026-12-30, cost (USD, list prices): forecast P50 $1,502")
    assert headline[2].startswith("The last plan against what was recorded: v1 forecast 2026-07-01 to 2026-09-30")


def test_the_grade_says_which_of_the_last_plans_periods_it_adds_up():
    """A last plan printed by month, every day recorded but model-a's requests on 2026-08-01: the horizon's own
    totals where every day is recorded, July and September as printed for model-a's requests, and August's
    recorded part with the width of its month nearest in length."""
    summary = _summary_section(render_report(_inputs(previous=[_q3_plan(by_month=True)])))
    assert ("the last plan's figures are what it printed for the same series, targets and days: its horizon "
            "totals where a model and target is recorded on every day, and its totals for 2026-07, 2026-09, added "
            "up (its P10s, P50s and P90s each: the bounds it holds its horizon total inside); for the recorded part "
            "of 2026-08, that period's "
            "P50 times the share of its buckets recorded (it holds no `forecast.csv`), with the P10–P90 width, "
            "relative to the P50, of its period nearest in length, and never above that period's own P90") in summary


def test_a_short_history_is_named_among_the_risks():
    summary = _summary_section(render_report(_inputs()))
    assert ("1. **Short history:** 108 days (2026-06-15 to 2026-09-30); some months of the horizon were never "
            "seen before (2026-10: 0 past year(s)") in summary
    assert "the forecast models none (its seasons are the week and the day" in summary


def test_a_measured_year_end_is_stated_with_its_size_not_as_the_planners():
    inputs = _inputs()
    basis = "estimated from 2 past year-end(s): x0.61 (x0.70 on the days that are not public holidays, 4.2 ...)"
    year_end = pd.DataFrame({"start": pd.to_datetime(["2026-12-24"], utc=True),
                             "end": pd.to_datetime(["2027-01-02"], utc=True), "name": ["year-end holidays"],
                             "kind": ["holiday"], "scope": ["model-a"], "effect": [0.61], "basis": [basis]})
    events = pd.concat([inputs.events.assign(basis="stated"), year_end], ignore_index=True)
    text = render_report(ReportInputs(**{**inputs.__dict__, "events": events}))
    row = next(line for line in text.splitlines() if "| year-end holidays |" in line)
    assert basis in row and "stated in the calendar" not in row
    assert f"model-a: {basis}" in text
    assert "year-end holidays were measured" not in render_report(inputs)


def test_suspected_outages_are_listed_with_what_was_recorded_and_expected():
    inputs = _inputs()
    settings = {**inputs.settings, "outages": {"max_ratio": 0.5, "sigmas": 4.0, "neighbours": 3}}
    outages = pd.DataFrame({"series": "model-a", "target": "requests",
                            "ds": pd.to_datetime(["2026-07-10", "2026-07-11", "2026-08-01"]),
                            "y": [100.0, 50.0, 9.0], "expected": [1000.0, 900.0, 90.0]})
    text = render_report(ReportInputs(**{**inputs.__dict__, "settings": settings, "outages": outages}))
    assert "- Suspected outages: 3 bucket(s) in 2 run(s)" in text
    assert "| model-a | outage | 2026-07-10 | 2026-07-11 | 2 | 150 requests | 1,900 requests |" in text
    assert "| model-a | outage | 2026-08-01 | 2026-08-01 | 1 | 9 requests | 90 requests |" in text
    none = render_report(ReportInputs(**{**inputs.__dict__, "settings": settings, "outages": outages.iloc[:0]}))
    assert "- Suspected outages: none found" in none
    # With bursts checked, a burst is its own row, next to an outage on the following day.
    bursts = {**settings, "outages": {**settings["outages"], "burst_ratio": 5.0}}
    flagged = pd.concat([outages.assign(kind="outage"), pd.DataFrame({
        "series": ["model-a"], "target": "requests", "ds": pd.to_datetime(["2026-08-02"]), "y": [9_000.0],
        "expected": [120.0], "kind": "burst"})], ignore_index=True)
    text = render_report(ReportInputs(**{**inputs.__dict__, "settings": bursts, "outages": flagged}))
    assert "- Suspected outages and bursts: 4 bucket(s) in 3 run(s) far below (or above)" in text
    assert "| model-a | burst | 2026-08-02 | 2026-08-02 | 1 | 9,000 requests | 120 requests |" in text
    assert "a burst is a day (all its buckets) whose total is above 5.0x that of every same weekday" in text
    assert "Suspected outages" not in render_report(inputs)  # the check was not run


def test_the_forecast_file_is_named_at_the_runs_bucket_width():
    daily = _inputs()
    assert "Daily quantiles per series and target: `forecast.csv`" in render_report(daily)
    hourly = ReportInputs(**{**daily.__dict__, "settings": {**daily.settings, "freq": "h"}})
    assert "Hourly quantiles per series and target: `forecast.csv`" in render_report(hourly)


def test_a_run_without_the_model_or_costs_says_so_instead_of_empty_tables():
    inputs = _inputs()
    assert "### Global importance (SHAP)" in render_report(inputs)
    bare = ReportInputs(**{**inputs.__dict__, "importance": inputs.importance.iloc[:0],
                           "costs": inputs.costs.iloc[:0], "drivers": None,
                           "selection": {"methods": {"model-a|requests": "mstl", "model-b|requests": "mstl",
                                                     "model-a|input_tokens": "ensemble"}}})
    text = render_report(bare)
    assert ("No driver breakdown in this run: no series is forecast by the tuned model (methods chosen: "
            "mstl (2), ensemble (1))") in text
    assert "Global importance" not in text and "shap_summary.png" not in text
    assert "No costs: the usage has no token counts, or no model has a price." in text


def test_a_model_the_forecast_leaves_out_is_named_in_the_summary():
    inputs = _inputs()
    history = pd.concat([inputs.history, inputs.history[inputs.history["series"] == "model-a"].assign(
        series="model-z", y=np.nan)], ignore_index=True)
    history.loc[(history["series"] == "model-z") & (history["ds"] == history["ds"].min()), "y"] = 3.0
    summary = plan_summary(history, inputs.totals, inputs.costs, inputs.backtest, inputs.prices, fx.Q, simulated=True)
    text = _summary_section(render_report(ReportInputs(**{**inputs.__dict__, "history": history, "summary": summary})))
    days = history.loc[history["series"] == "model-z", "ds"].nunique()
    assert f"- **Not in this plan: model-z.** 1 of its {days} daily buckets are complete" in text
    assert "Not in this plan: model-z" in "\n".join(summary_headline(render_report(
        ReportInputs(**{**inputs.__dict__, "history": history, "summary": summary}))))  # and on the console
    assert "feature_engineering.min_observed_fraction=0" in text
    settings = {**inputs.settings, "min_observed_fraction": 0.0}
    already = render_report(ReportInputs(**{**inputs.__dict__, "history": history, "summary": summary,
                                            "settings": settings}))
    assert "Not in this plan: model-z" in already and "min_observed_fraction=0`" not in already
    assert "Not in this plan" not in _summary_section(render_report(inputs))
    # Complete buckets, none at the end: the reason is not incomplete buckets.
    stopped = pd.concat([inputs.history, inputs.history[inputs.history["series"] == "model-a"].assign(
        series="model-y")], ignore_index=True)
    end = stopped["ds"].max()
    stopped.loc[(stopped["series"] == "model-y") & (stopped["ds"] > end - pd.Timedelta(days=10)), "y"] = np.nan
    summary = plan_summary(stopped, inputs.totals, inputs.costs, inputs.backtest, inputs.prices, fx.Q, simulated=True)
    text = _summary_section(render_report(ReportInputs(**{**inputs.__dict__, "history": stopped, "summary": summary})))
    assert "- **Not in this plan: model-y.**" in text and "10 days before the history ends" in text
    assert "too few to forecast" not in text and "min_observed_fraction" not in text


def test_a_route_that_never_pays_back_is_stated_so():
    roi = fx.roi_summary().assign(kind=["batch", "relay"], months=12)
    roi.loc[0, ["npv_12m_p10", "npv_12m_p50", "npv_12m_p90", "payback_month_p50"]] = [-3_000.0, -1_000.0, 500.0,
                                                                                       np.nan]
    summary = _summary_section(render_report(_inputs(roi_summary=roi)))
    assert "Best route without a third party" not in summary and "month –" not in summary
    assert ("**Routes without a third party:** no batch or caching route pays back within 12 months at P50; the closest, "
            "batch, has a 12-month NPV of -$1,000") in summary
    nothing = fx.roi_summary(paying=False).assign(kind=["batch", "relay"], months=12)
    summary = _summary_section(render_report(_inputs(roi_summary=nothing)))
    assert "none of the 2 routes pays back within 12 months at P50; the closest, batch" in summary


def test_an_unpriced_model_is_named_and_the_report_goes_on():
    from tests.reporting.test_summary import FINE_TUNED, _with_unpriced_model

    tables = _with_unpriced_model()
    inputs = _inputs()
    inputs.history, inputs.totals, inputs.costs, inputs.prices = (tables["history"], tables["totals"],
                                                                  tables["costs"], tables["prices"])
    inputs.summary = plan_summary(tables["history"], tables["totals"], tables["costs"], fx.backtest(),
                                  tables["prices"], fx.Q, simulated=False)
    text = render_report(inputs)
    assert f"**{FINE_TUNED}**: no price: add it to the price table" in text


def test_the_relay_source_is_the_users_assumption_not_an_unnamed_post():
    import yaml

    from tests.project_copy import PROJECT_ROOT

    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_planning.yml").read_text())["planning"]
    relays = [r for r in params["routes"]["definitions"] if r["kind"] == "relay"]
    assert relays
    for relay in relays:
        assert "this report answers" not in relay["source"] and "blog" not in relay["source"]
        assert relay["source"].startswith("assumed"), relay["source"]


def _model_a_drivers() -> pd.DataFrame:
    """One month of model-a's driver breakdown (the tuned model's forecast, level and seasonality)."""
    from tokenplan.forecasting.explanations import FORECAST, LEVEL

    rows = [("model-a", "2026-10", FORECAST, "total", np.nan, 30_000.0),
            ("model-a", "2026-10", LEVEL, "anchor", np.nan, 29_000.0),
            ("model-a", "2026-10", "seasonality", "learned", 0.03, 900.0)]
    return pd.DataFrame(rows, columns=["series", "period", "driver", "kind", "effect", "volume"]).assign(
        target="requests")


def test_a_model_without_a_driver_breakdown_is_named_with_its_method():
    drivers = _model_a_drivers()
    inputs = _inputs(drivers=drivers, selection={"methods": {"model-a|requests": "xgboost",
                                                             "model-b|requests": "mstl"}})
    text = render_report(inputs)
    assert "Not broken down, forecast by other methods: requests of model-b (MSTL)." in text


def test_the_drivers_name_what_was_done_after_the_model_and_importance_the_features_that_set_a_level():
    """The drivers explain the plan's forecast: a change after the model is a column the report explains; a
    feature with one value over each series' horizon places its level and is marked so."""
    from tokenplan.forecasting.explanations import ONE_GROWTH_PATH

    drivers = pd.concat([_model_a_drivers(), pd.DataFrame([{
        "series": "model-a", "target": "requests", "period": "2026-10", "driver": ONE_GROWTH_PATH,
        "kind": "after the model", "effect": -0.04, "volume": -1_200.0}])], ignore_index=True)
    importance = pd.DataFrame({"feature": ["seasonal_index", "weekly_growth"], "mean_abs_shap": [0.1, 0.05],
                               "share": [2 / 3, 1 / 3], "constant": [False, True]})
    text = render_report(replace(_inputs(drivers=drivers), importance=importance))
    assert "| " + ONE_GROWTH_PATH + " |" in text and "-4.0%" in text
    assert "**Requests and tokens on one growth path** is the plan's P50 over the model's own output" in text
    assert "| weekly_growth | growth per week at the origin | 0.050 | 33% | constant: sets the level |" in text
    assert "weekly_growth has one value at every step of each series' horizon" in text
    plain = render_report(_inputs(drivers=_model_a_drivers()))
    assert "over the model's own output" not in plain and "one value at every step" not in plain


def test_the_summary_and_the_capacity_section_state_the_first_limit_the_same_way():
    from tokenplan.reporting.capacity_section import render_capacity_section

    plan = fx.capacity_plan()
    plan["first_crossing_p50"] = pd.to_datetime([None, "2026-12-15", None, None])
    plan["first_crossing_p90"] = pd.to_datetime(["2026-12-03", "2026-10-01", None, None])
    summary = _summary_section(render_report(_inputs(capacity_plan=plan, roi_summary=fx.roi_summary())))
    limits = pd.DataFrame({"model_group": ["model-a", "model-b"], "models": ["model-a", "model-b"],
                           "rpm": [np.nan, 1000.0], "itpm": [90_000.0, np.nan], "otpm": [40_000.0, np.nan],
                           "itpm_counts_cache_reads": [False, False], "as_of": ["", ""], "source": ["limits.csv"] * 2})
    section = render_capacity_section(plan.assign(peak_method="measured", start=None, end=None,
                                                  extrapolated_crossing_p50=None, extrapolated_crossing_p90=None),
                                      pd.DataFrame(), limits, pd.DataFrame(columns=["model_group", "series"]),
                                      {"model_list": []}, {"gateway": {"safety_margin": 0.1}})
    statement = "model-b RPM (limit 1.00K/min): first over at P90 on 2026-10-01; at P50 on 2026-12-15"
    assert statement in summary and statement in section, (summary, section)
    # What "first day over" means is said beside the table: a period has one exactly when its peak is over.
    assert "(at P50 the median first day over), so a period has a first day over exactly when its" in section


def _section(plan: pd.DataFrame) -> str:
    from tokenplan.reporting.capacity_section import render_capacity_section

    limits = pd.DataFrame({"model_group": ["model-a", "model-b"], "models": ["model-a", "model-b"],
                           "rpm": [np.nan, 1000.0], "itpm": [90_000.0, np.nan], "otpm": [40_000.0, np.nan],
                           "itpm_counts_cache_reads": [False, False], "as_of": ["", ""], "source": ["limits.csv"] * 2})
    return render_capacity_section(plan.assign(peak_method="measured", start=None, end=None),
                                   pd.DataFrame(), limits, pd.DataFrame(columns=["model_group", "series"]),
                                   {"model_list": []}, {"gateway": {"safety_margin": 0.1}})


def test_a_limit_history_already_went_over_is_said_so_in_the_summary_the_console_and_the_section():
    """A limit whose history's own busiest minutes went over it on some days is not a future event: the summary,
    the console's closing lines (read off the summary) and the capacity section say how often, when last and how
    high, from the plan's history columns."""
    plan = fx.capacity_plan()
    plan["first_crossing_p50"] = pd.to_datetime([None, "2026-10-07", None, None])
    plan["first_crossing_p90"] = pd.to_datetime([None, "2026-10-01", None, None])
    plan["extrapolated_crossing_p50"] = plan["extrapolated_crossing_p90"] = None
    plan["history_days_over"] = [0, 6, 6, 0]  # model-b RPM's rows: its horizon and its October
    plan["history_last_over"] = pd.to_datetime([None, "2026-09-29", "2026-09-29", None])
    plan["history_peak"] = [60_000.0, 1490.0, 1490.0, 3_000.0]
    text = render_report(_inputs(capacity_plan=plan, roi_summary=fx.roi_summary()))
    said = ("model-b RPM (limit 1.00K/min): already over on 6 days of history, the last 2026-09-29, peak 1.49K; "
            "in the horizon, first over at P90 on 2026-10-01; at P50 on 2026-10-07")
    assert said in _summary_section(text)
    assert any(said in line for line in summary_headline(text))
    section = _section(plan)
    assert said in section and section.count("already over on 6 days of history") >= 2  # the verdict and a bullet
    assert "| 6 days of history, the last 2026-09-29, peak 1.49K |" in section  # the table's horizon row


def test_every_capacity_bullet_states_a_crossing_by_the_same_rule_as_the_table():
    """A limit over at P90 within the horizon but at P50 only past it gives the extrapolated P50 date the table
    and capacity_plan.csv give, as a limit over at neither does."""
    plan = fx.capacity_plan()
    plan["first_crossing_p50"] = pd.to_datetime([None, None, None, None])
    plan["first_crossing_p90"] = pd.to_datetime(["2026-12-21", None, None, None])
    plan["extrapolated_crossing_p50"] = pd.to_datetime(["2027-04-27", "2028-02-14", None, None])
    plan["extrapolated_crossing_p90"] = pd.to_datetime([None, "2027-11-12", None, None])
    section = _section(plan)
    assert ("first over at P90 on 2026-12-21; at P50 not within the horizon (the fitted growth crosses around "
            "2027-04-27, an extrapolation)") in section
    assert ("not over within the horizon; extrapolating the fitted growth, crossed at P50 around 2028-02-14 and "
            "P90 around 2027-11-12 (an extrapolation, not a forecast)") in section
    assert "| P50 2027-04-27 |" in section


def test_a_candidate_the_guard_dropped_is_named_in_the_method_section_and_the_risks():
    from tokenplan.forecasting.method_choice import SelectionRule
    from tokenplan.forecasting.plausibility import GuardSettings

    drops = pd.DataFrame({"series": ["model-a", "model-a"], "target": ["requests", "requests"],
                          "origin": ["2026-09-30", "2026-08-01"], "method": ["mstl", "xgboost"],
                          "side": ["above", "above"], "step": [91, 20], "point": [9e6, 2e6],
                          "bound": [9e3, 1e6], "ratio": [1000.0, 2.0], "role": ["final", "backtest"]})
    totals = fx.totals()
    inputs = _inputs(guard_drops=drops, selection={"methods": {"model-a|requests": "ensemble"},
                                                   "rule": vars(SelectionRule()), "guard": vars(GuardSettings())},
                     layout=None)
    inputs.summary = plan_summary(fx.history(), totals, fx.costs(totals), fx.backtest(), fx.prices(), fx.Q,
                                  simulated=True, guard_drops=drops)
    text = render_report(inputs)
    summary = _summary_section(text)
    assert "**A method left the history's plausible range:** the guard dropped 1 candidate forecast(s) for " \
           "model-a, e.g. mstl for model-a requests (1000.0x above the envelope)" in summary
    method = text.split("## Forecast method and backtest")[1]
    assert "**Plausibility guard.**" in method and "at most x1.5" in method
    zero = drops.assign(side="below", point=0.0, ratio=np.inf)  # a candidate at zero: no ratio to print
    inputs.summary = plan_summary(fx.history(), totals, fx.costs(totals), fx.backtest(), fx.prices(), fx.Q,
                                  simulated=True, guard_drops=zero)
    assert "e.g. mstl for model-a requests (zero, below the envelope)" in _summary_section(render_report(inputs))
    assert "**Dropped at the forecast origin**" in method and "| model-a | requests | mstl | above | 91 | 1000.0x |" \
        in method
    assert "At the backtest and tuning folds the guard dropped 1 candidate forecast(s): xgboost 1" in method
    # Without drops, nothing is claimed beyond the parameters.
    quiet = render_report(_inputs(guard_drops=drops.iloc[:0], selection=inputs.selection))
    assert "No candidate left the envelope at any fold or at the forecast origin." in quiet
    assert "A method left the history's plausible range" not in _summary_section(quiet)


def test_drivers_of_series_the_report_does_not_show_leave_no_table_and_no_error():
    # Hundreds of series, the largest forecast by MSTL: the model's driver rows are all of
    # series left out of the report (M4 hourly stopped on this).
    drivers = _model_a_drivers()
    shown = {"limited": True, "series": ["model-b"], "of": 2, "by": "requests"}
    text = render_report(_inputs(drivers=drivers, series_shown=shown,
                                 selection={"methods": {"model-a|requests": "xgboost", "model-b|requests": "mstl"}}))
    assert "| model-a | 2026-10 |" not in text


def test_a_retired_series_is_named_with_its_last_usage_not_as_incomplete():
    # A rotated key: complete every day until two months before the history ends, then no rows.
    inputs = _inputs()
    model_a = inputs.history[inputs.history["series"] == "model-a"]
    end = inputs.history["ds"].max()
    retired = model_a[model_a["ds"] <= end - pd.Timedelta(days=60)].assign(series="model-a/old-key")
    history = pd.concat([inputs.history, retired], ignore_index=True)
    summary = plan_summary(history, inputs.totals, inputs.costs, inputs.backtest, inputs.prices, fx.Q, simulated=True)
    text = _summary_section(render_report(ReportInputs(**{**inputs.__dict__, "history": history, "summary": summary})))
    last = (end - pd.Timedelta(days=60)).normalize()
    # Its 32 days of 2026 Q3 (July 1 to August 1) at 2M input and 100K output tokens a day, $3 and $15 per MTok.
    q3 = summary.cost["last_quarter"]
    assert (f"- **Not in this plan, ended:** model-a/old-key (last usage {last:%Y-%m-%d}, 60 days before the "
            f"history ends). It cost $240 of 2026 Q3's actual {usd(q3)}: the change per day above compares the plan "
            "with that quarter, it included. A series without usage in the last `feature_engineering.ended_days`") \
        in text
    assert "Not in this plan, ended: model-a/old-key" in "\n".join(summary_headline(render_report(
        ReportInputs(**{**inputs.__dict__, "history": history, "summary": summary}))))  # the console says it too
    assert "buckets are complete" not in text


def test_a_planned_series_without_usage_lately_is_named_with_what_it_is_still_planned_at():
    # Idle for 10 days, fewer than the 14 that end a series: planned at its level before, and said so.
    inputs = _inputs()
    history = inputs.history.copy()
    end = history["ds"].max()
    history.loc[(history["series"] == "model-a") & (history["ds"] > end - pd.Timedelta(days=10)), "y"] = 0.0
    summary = plan_summary(history, inputs.totals, inputs.costs, inputs.backtest, inputs.prices, fx.Q, simulated=True)
    inputs.settings["ended_days"] = 14
    text = _summary_section(render_report(ReportInputs(**{**inputs.__dict__, "history": history, "summary": summary})))
    cost = inputs.costs[(inputs.costs["series"] == "model-a") & (inputs.costs["period"] == "horizon")]["p50"].sum()
    last = (end - pd.Timedelta(days=10)).normalize()
    assert (f"- **No usage lately, still planned:** model-a (none since {last:%Y-%m-%d}, 10 days; {usd(cost)} over "
            "the horizon at P50). It is planned at its level before the pause; a series without usage in the last "
            "`feature_engineering.ended_days` (14) is taken as ended and planned nothing. If it has stopped, "
            "`--params feature_engineering.ended_days=10` plans it nothing.") in text
    assert "No usage lately" not in _summary_section(render_report(_inputs()))


def _summary_of(inputs: ReportInputs, history: pd.DataFrame, **summary_inputs) -> str:
    """The rendered summary section of ``inputs`` with ``history`` and the summary computed from it."""
    summary = plan_summary(history, inputs.totals, inputs.costs, inputs.backtest, inputs.prices, fx.Q,
                           simulated=True, **summary_inputs)
    return _summary_section(render_report(ReportInputs(**{**inputs.__dict__, "history": history, "summary": summary})))


def _daily_forecast(days: int = 14) -> pd.DataFrame:
    """The plan's first ``days``: the history's level on every day, +-10% for P10/P90."""
    times = pd.date_range(fx.HORIZON[0], periods=days, freq="D", tz="UTC")
    return pd.DataFrame([{"series": m, "target": t, "timestamp": d, "p10": 0.9 * fx.DAILY[t], "p50": fx.DAILY[t],
                          "p90": 1.1 * fx.DAILY[t]} for m in fx.MODELS for t in fx.TARGETS for d in times])


def _last_days_scaled(history: pd.DataFrame, series: str, days: int, factor: float) -> pd.DataFrame:
    """``history`` with ``series``' last ``days`` days (every target) times ``factor``."""
    end = history["ds"].max()
    history = history.copy()
    history.loc[(history["series"] == series) & (history["ds"] > end - pd.Timedelta(days=days)), "y"] *= factor
    return history


def test_the_last_days_beyond_the_plans_first_week_are_named_and_one_day_is_not():
    # Tripled four days before the end: too recent for the level to read, each day above the plan's P90.
    inputs = _inputs()
    end = inputs.history["ds"].max()
    text = _summary_of(inputs, _last_days_scaled(inputs.history, "model-a", 4, 3.0), forecast=_daily_forecast())
    level = fx.DAILY["requests"]
    assert (f"- **The last days run above the plan:** model-a's last 4 days were each above the plan's P90 for the "
            f"same weekday ({end:%Y-%m-%d}: {human(3 * level)} requests against a P50 of {human(level)}, P90 "
            f"{human(1.1 * level)}).") in text
    assert "model-b's last" not in text
    # One day at 3x (a burst) and a fall of three days are told apart.
    history = _last_days_scaled(_last_days_scaled(inputs.history, "model-a", 1, 3.0), "model-b", 3, 0.5)
    text = _summary_of(inputs, history, forecast=_daily_forecast())
    assert "model-a's last" not in text
    assert "- **The last days run below the plan:** model-b's last 3 days were each below the plan's P10" in text


def test_a_plan_below_every_one_of_weeks_of_history_is_no_recent_move():
    # A wind-down the plan carries on: the history's last 20 days, each above the plan's P90.
    inputs = _inputs()
    end = inputs.history["ds"].max()
    text = _summary_of(inputs, inputs.history, forecast=_daily_forecast().assign(
        p10=lambda f: f["p10"] / 3, p50=lambda f: f["p50"] / 3, p90=lambda f: f["p90"] / 3))
    since = inputs.history.loc[inputs.history["series"] == "model-a", "ds"].min()
    found = re.search(r"- \*\*The plan departs from the history:\*\* every one of model-a's last (\d+) days \(since "
                      rf"{since:%Y-%m-%d}\) was above the plan's P90 for the same weekday \({end:%Y-%m-%d}:", text)
    assert found and int(found.group(1)) > 14, text[-3000:]
    assert "This is no recent move: the plan falls below a level the history has held for weeks" in text
    assert "re-run once it has lasted" not in text


def test_a_fall_of_the_last_days_that_the_plan_follows_is_named_with_the_event_that_would_undo_it():
    # model-b down to a tenth for its last 3 days, and the plan's first week there too: it follows the fall.
    inputs = _inputs()
    end = inputs.history["ds"].max()
    history = _last_days_scaled(inputs.history, "model-b", 3, 0.1)
    forecast = _daily_forecast()
    forecast.loc[forecast["series"] == "model-b", ["p10", "p50", "p90"]] *= 0.1
    text = _summary_of(inputs, history, forecast=forecast)
    level = fx.DAILY["requests"]
    assert (f"- **The plan follows a fall of the last 3 days:** model-b's last 3 days "
            f"({end - pd.Timedelta(days=2):%Y-%m-%d} to {end:%Y-%m-%d}) were each under half the lowest of the same "
            f"weekday in the weeks before ({end:%Y-%m-%d}: {human(0.1 * level)} requests against a median of "
            f"{human(level)}), and the plan's first week follows them ({human(0.1 * level)} at P50 on that "
            f"weekday).") in text
    assert "state those days as an `outage` event" in text
    assert "The last days run below the plan" not in text and "model-a's last" not in text


def test_last_days_left_out_as_a_suspected_outage_are_named_in_the_summary_once():
    inputs = _inputs()
    end = inputs.history["ds"].max()
    history = _last_days_scaled(inputs.history, "model-b", 3, 0.1)
    rows = history[(history["series"] == "model-b") & (history["ds"] > end - pd.Timedelta(days=3))
                   & (history["target"] == "requests")]
    outages = rows.assign(expected=rows["y"] * 10, kind="outage")[["series", "target", "ds", "y", "expected", "kind"]]
    text = _summary_of(inputs, history, forecast=_daily_forecast(), outages=outages)
    first = end - pd.Timedelta(days=2)
    assert (f"- **The last days were left out as a suspected outage:** model-b's last 3 days ({first:%Y-%m-%d} to "
            f"{end:%Y-%m-%d}: ") in text
    assert "The last days run below the plan" not in text  # the same fall, said once


def test_the_summary_lists_the_teams_most_at_risk_of_their_budget():
    inputs = _inputs()
    inputs.summary.teams_at_risk = [
        {"team": "labs", "period": "2026-12", "spend_p50": 2437.3, "budget_usd": 1150.0, "p_exceed": 0.999,
         "first_crossing_p50": "2026-12-15", "lead_days_p50": 75},
        {"team": "data", "period": "2026-10", "spend_p50": 992.9, "budget_usd": 1000.0, "p_exceed": 0.45,
         "first_crossing_p50": None, "lead_days_p50": None, "first_crossing_p90": "2026-10-28", "lead_days_p90": 27},
        {"team": "ops", "period": "2026-11", "spend_p50": 500.0, "budget_usd": 1000.0, "p_exceed": 0.01,
         "first_crossing_p50": None, "lead_days_p50": None, "first_crossing_p90": None, "lead_days_p90": None}]
    summary = _summary_section(render_report(inputs))
    assert ("**Teams most at risk of their budget:** labs (2026-12, its first budget crossed: P50 spend $2,437 "
            "against $1,150, >99% likely over, crossed at P50 on 2026-12-15, 75 days from the forecast's start); "
            "data (2026-10, its first budget crossed: P50 spend $993 against $1,000, 45% likely over, crossed at P90 "
            "on 2026-10-28, 27 days from the forecast's start, none at P50); ops (2026-11: P50 spend $500 against "
            "$1,000, 1% likely over).") in summary
    assert "Teams most at risk" not in _summary_section(render_report(_inputs()))


def test_the_summary_says_a_budget_already_over_in_the_recorded_spend_and_counts_other_budgets_at_risk():
    # Review 2: support's November budget, over in the recorded spend on 11-11, read "crossed at P50 on 2026-11-16,
    # 0 days from the forecast's start"; research's December budget at risk behind its Q4 row was never named.
    inputs = _inputs()
    inputs.summary.teams_at_risk = [
        {"team": "support", "period": "2026-11", "spend_p50": 421.18, "budget_usd": 300.0, "p_exceed": 1.0,
         "first_crossing_p50": "2026-11-11", "lead_days_p50": -5, "first_crossing_p90": "2026-11-11",
         "lead_days_p90": -5, "crossed_in_recorded": True, "other_at_risk_count": 0},
        {"team": "research", "period": "2026-Q4", "spend_p50": 8600.0, "budget_usd": 8500.0, "p_exceed": 0.55,
         "first_crossing_p50": "2026-12-28", "lead_days_p50": 42, "crossed_in_recorded": False,
         "other_at_risk": "2026-12: budget $3,000, P50 $3,425, >99% likely over, crossed at P50 on 2026-12-28",
         "other_at_risk_count": 1}]
    summary = _summary_section(render_report(inputs))
    assert ("support (2026-11, its first budget crossed: P50 spend $421 against $300, >99% likely over, already "
            "over: the recorded spend reached it on 2026-11-11, before the forecast starts); ") in summary
    assert ("crossed at P50 on 2026-12-28, 42 days from the forecast's start; 1 other budget of it at risk). See "
            "\"The organisation: teams, keys and budgets\", which lists every budget at risk.") in summary
    assert "0 days" not in summary and "-5 days" not in summary


def test_untuned_hyperparameters_say_why_rather_than_list_a_study():
    tuned = render_report(_inputs())
    assert "Tuned hyperparameters (Optuna study" in tuned and "max_depth=3" in tuned
    inputs = _inputs()
    inputs.best_params = {"skipped": "no tuning fold holds a labelled bucket: default parameters", "n_trials": 0}
    text = render_report(inputs)
    assert "- Hyperparameters: not tuned (no tuning fold holds a labelled bucket: default parameters)." in text
    assert "Optuna study" not in text


def test_a_users_history_that_ends_weeks_before_the_run_is_called_out():
    # A Console export from September planned in December: the forecast starts the day after
    # the history, so most of its horizon is already past when the plan is read.
    totals = fx.totals()
    costs = fx.costs(totals)
    end = pd.Timestamp(fx.HISTORY_END)

    def summary(simulated: bool, today: pd.Timestamp | None):
        return plan_summary(fx.history(), totals, costs, fx.backtest(), fx.prices(), fx.Q, simulated=simulated,
                            today=today)

    stale = summary(False, end + pd.Timedelta(days=67))
    assert stale.stale == {"last": end, "today": end + pd.Timedelta(days=67), "days": 67}
    inputs = _inputs(simulated=False)
    inputs.summary = stale
    text = _summary_section(render_report(inputs))
    assert f"- **The usage history ends {end:%Y-%m-%d}, 67 days before this run" in text
    assert "Export usage up to yesterday" in text
    assert summary(False, end + pd.Timedelta(days=1)).stale is None  # ends yesterday: a plan from today
    assert summary(False, end + pd.Timedelta(days=7)).stale is None  # a week's lag is usual for an export
    assert summary(False, end + pd.Timedelta(days=8)).stale["days"] == 8
    assert summary(True, end + pd.Timedelta(days=67)).stale is None  # the demo's calendar is its own
    assert summary(False, None).stale is None
    assert "The usage history ends" not in _summary_section(render_report(_inputs(simulated=False)))


def test_the_capacity_backtest_says_which_folds_were_left_out_and_why_a_correction_is_or_is_not_applied():
    from tokenplan.reporting.capacity_section import render_capacity_section

    plan = fx.capacity_plan().assign(peak_method="measured", start=None, end=None, extrapolated_crossing_p50=None,
                                     extrapolated_crossing_p90=None)
    backtest = pd.DataFrame({"model_group": "model-b", "metric": "rpm", "origin": pd.Timestamp("2026-09-08"),
                             "period": ["2026-09-09", "horizon"], "kind": ["day", "horizon"], "start": None,
                             "end": None, "p50_raw": 90.0, "p90_raw": 120.0, "realised": 100.0, "p50": 95.0,
                             "p90": 130.0, "under_p50": False, "under_p90": True})
    limits = pd.DataFrame({"model_group": ["model-a", "model-b"], "models": ["model-a", "model-b"],
                           "rpm": [np.nan, 1000.0], "itpm": [90_000.0, np.nan], "otpm": [40_000.0, np.nan],
                           "itpm_counts_cache_reads": [False, False], "as_of": ["", ""], "source": ["limits.csv"] * 2})
    calibration = {"ratio_scale": 1.0, "ratio_power": 1.0, "windows": 144, "by_kind": {"day": 132, "horizon": 12},
                   "short_history_windows": 84, "fitted_scale": 1.46, "fitted_power": 0.9, "applied": False,
                   "out_of_fold_loss": 0.43, "out_of_fold_loss_uncorrected": 0.398}
    section = render_capacity_section(plan, backtest, limits, pd.DataFrame(columns=["model_group", "series"]),
                                      {"model_list": []}, {"gateway": {"safety_margin": 0.1}}, calibration)
    assert ("none, as the pair fitted on 144 windows, 1.46 x ratio^0.90, does not carry from fold to fold" in section
            and "0.430 against 0.398 uncorrected" in section), section
    assert "84 windows left out, of folds whose ratios were drawn from under 50% of the history" in section

    # Peaks assumed everywhere (no per-minute data): history's ratio and every draw are the configured factor, so
    # the pair has nothing to fit (its loss is 0 either way) and the section says that, not "0.000 against 0.000".
    assumed = {**calibration, "fitted_scale": 1.0, "fitted_power": 1.0, "out_of_fold_loss": 2e-17,
               "out_of_fold_loss_uncorrected": 2e-17}
    section = render_capacity_section(plan.assign(peak_method="assumed"), backtest, limits,
                                      pd.DataFrame(columns=["model_group", "series"]), {"model_list": []},
                                      {"gateway": {"safety_margin": 0.1}}, assumed)
    assert "0.000 against 0.000" not in section and "nothing to correct" in section, section

    # Applied: the section says why, the out-of-fold loss it passed (the coverage columns alone do not judge it).
    applied = {**calibration, "ratio_scale": 1.07, "ratio_power": 0.9, "applied": True, "out_of_fold_loss": 0.31,
               "out_of_fold_loss_uncorrected": 0.35}
    section = render_capacity_section(plan, backtest, limits, pd.DataFrame(columns=["model_group", "series"]),
                                      {"model_list": []}, {"gateway": {"safety_margin": 0.1}}, applied)
    assert ("becomes 1.07 x ratio^0.90" in section and "It is applied because it carries from fold to fold: each "
            "fold's peaks, corrected by the other folds' fit, score a pinball loss (of log P50 and log P90) of 0.310 "
            "against 0.350 uncorrected") in section, section


def test_a_likely_successor_is_named_with_the_setting_that_merges_it():
    inputs = _inputs()
    inputs.summary.successors = [
        {"successor": "claude-sonnet-4-5", "predecessor": "claude-sonnet-4", "started": pd.Timestamp("2026-08-01"),
         "stopped": pd.Timestamp("2026-08-03"), "levels": (1_000.0, 1_100.0), "days": 61, "target": "requests",
         "models": ("claude-sonnet-4", "claude-sonnet-4-5")}]
    summary = _summary_section(render_report(inputs))
    assert ("- **A model looks like another's successor:** claude-sonnet-4-5 began on 2026-08-01 as claude-sonnet-4 "
            "stopped on 2026-08-03, at a similar volume (1,100 against 1,000 requests a day), and is forecast from its "
            "own 61 days, so its intervals are wide. If it is the same traffic moved, `--params "
            "ingestion.model_aliases.claude-sonnet-4=claude-sonnet-4-5` (or `ingestion.model_aliases` in "
            "`conf/base/parameters_ingestion.yml`) forecasts the two as one series") in summary
    # An id with a dot cannot go through --params (the dot nests the key): the YAML form is given.
    inputs.summary.successors[0].update(successor="gpt-4.1", predecessor="gpt-4", models=("gpt-4", "gpt-4.1"))
    summary = _summary_section(render_report(inputs))
    assert ("`model_aliases: {gpt-4: gpt-4.1}` under `ingestion` in `conf/base/parameters_ingestion.yml` forecasts "
            "the two as one series") in summary


def test_a_migrated_traffic_and_a_launch_still_ramping_up_are_each_named_with_what_the_plan_did():
    inputs = _inputs()
    inputs.summary.migrations = [
        {"traffic": "claude-sonnet-4-5", "members": {"claude-sonnet-4-5": 0.93, "claude-sonnet-4": 0.07},
         "started": pd.Timestamp("2026-11-20"), "before": 73_770.0, "now": 82_690.0, "level_target": "requests"}]
    inputs.summary.ramps = [
        {"series": "claude-opus-4-5", "target": "requests", "first": pd.Timestamp("2026-11-27"), "age": 10,
         "last_days": 2_641.0, "week_ratio": 7.2, "plan": 2_270.0, "gap": 0.16, "usd": 241.0}]
    summary = _summary_section(render_report(inputs))
    assert ("- **Traffic moved to claude-sonnet-4-5, forecast as one series:** claude-sonnet-4 fell as "
            "claude-sonnet-4-5 took over from 2026-11-20 (73.77K requests a day before, 82.69K a day over the last "
            "7 days, together)") in summary
    assert "(claude-sonnet-4-5 93%, claude-sonnet-4 7%; a model unused in its last 3 days gets none)" in summary
    assert ("- **Still ramping up:** claude-opus-4-5 began on 2026-11-27, 10 days before the history ends, and its "
            "last 3 days ran 7.2x the same days a week before (2,641 requests a day)") in summary
    assert "its costs and peaks would be 16% higher than planned (about $241 more over the horizon at P50)" in summary
    inputs.summary.last_quarter = None  # the next paragraph starts after a blank line, not inside the last note
    assert "see the events docs).\n\nThe history holds no full calendar quarter" in render_report(inputs)


def test_a_peak_set_by_a_spike_of_history_says_which_day_how_big_how_often_and_the_peak_without_it():
    from tokenplan.reporting.capacity_section import render_capacity_section, spike_note

    plan = fx.capacity_plan().assign(peak_method="measured", start=None, end=None, extrapolated_crossing_p50=None,
                                     extrapolated_crossing_p90=None, spike_days="", spike_size="",
                                     spike_history_buckets=np.nan, p50_without_spikes=np.nan,
                                     p90_without_spikes=np.nan)
    plan.loc[1, ["spike_days", "spike_size", "spike_history_buckets", "p90_without_spikes"]] = [
        "2026-08-20", "12.1", 146, 700.0]
    limits = pd.DataFrame({"model_group": ["model-a", "model-b"], "models": ["model-a", "model-b"],
                           "rpm": [np.nan, 1000.0], "itpm": [90_000.0, np.nan], "otpm": [40_000.0, np.nan],
                           "itpm_counts_cache_reads": [False, False], "as_of": ["", ""], "source": ["limits.csv"] * 2})
    section = render_capacity_section(plan, pd.DataFrame(), limits, pd.DataFrame(columns=["model_group", "series"]),
                                      {"model_list": []}, {"gateway": {"safety_margin": 0.1}}, {})
    assert ("model-b RPM: horizon peak P50 900, P90 1.10K" in section
            and "P90 set by a day like 2026-08-20 (12.1x the median day's requests) recurring: 1 such day in 146 "
                "of history; without it the P90 would be 700." in section), section
    assert "| P90: 2026-08-20 |" in section
    assert section.count("set by a day like") == 1  # the rows no spike sets say nothing
    # The summary's first limit (model-b RPM, over at P90 in November) says what its P90 rests on.
    inputs = _inputs(capacity_plan=plan)
    assert ("- **First rate limit to bind:** model-b RPM (limit 1.00K/min): first over at P90 in 2026-11; at P50 in "
            "2026-12. P90 set by a day like 2026-08-20 (12.1x the median day's requests) recurring") in \
        _summary_section(render_report(inputs))

    hourly = {"metric": "itpm", "spike_days": "2026-08-20 14:00;2026-07-01 09:00", "spike_size": "30.0;12.5",
              "spike_history_buckets": 3504, "p50_without_spikes": 1_500.0, "p90_without_spikes": 2_000.0}
    assert spike_note(hourly) == (
        "P50 and P90 set by hours like 2026-08-20 14:00 (30.0x) and 2026-07-01 09:00 (12.5x the median hour's "
        "input) recurring: 2 such hours in 3,504 of history; without them the P50 would be 1.50K, the P90 would be "
        "2.00K")
    assert spike_note({"metric": "rpm", "p50_without_spikes": np.nan}) == ""


def test_a_peak_set_by_a_burst_minute_in_a_normal_hour_says_its_burst_how_often_and_the_peak_without_it():
    """A named hour whose busiest minute is at least twice the median hour's multiple of its mean minute is a burst:
    the note gives its burst beside its volume, the share of the period's draws that meet it, and what the
    quantiles would be with its burst at its kind's usual. A named hour that is no burst (a volume spike) keeps
    the volume alone. A spike recurs at its rate over all the history, a burst at its rate over the recent weeks
    the ratios are drawn from, and the note counts each against its own."""
    from tokenplan.reporting.capacity_section import spike_note

    burst = {"metric": "rpm", "period": "horizon", "spike_days": "2015-03-11 20:00", "spike_size": "1.1",
             "spike_burst": "8.5", "spike_median_burst": 1.47, "spike_kind": "burst", "spike_history_buckets": 3000,
             "spike_pool_buckets": 1318, "spike_chance": 0.953,
             "p50_without_spikes": 171.0, "p90_without_spikes": np.nan}
    assert spike_note(burst) == (
        "P50 set by an hour like 2015-03-11 20:00 (1.1x the median hour's requests; busiest minute 8.5x its mean "
        "minute, the median hour's 1.5x) recurring: 1 such hour in the 1,318 recent hours the ratios are drawn from, "
        "met in 95% of the horizon's "
        "draws; without it (a burst's busiest minute at its kind's usual multiple of its mean minute) the P50 would "
        "be 171")
    both = {**burst, "period": "2015-05", "spike_days": "2015-03-11 20:00;2015-03-05 21:00", "spike_size": "1.1;6.0",
            "spike_burst": "8.5;1.6", "spike_kind": "burst;spike", "spike_chance": 0.999,
            "p50_without_biggest_spike": 200.0}
    assert spike_note(both).endswith("the P50 would be 171 (without 2015-03-11 20:00 alone: P50 200)")
    assert spike_note(both).startswith(
        "P50 set by hours like 2015-03-11 20:00 (1.1x; busiest minute 8.5x its mean minute, the median hour's 1.5x) "
        "and 2015-03-05 21:00 (6.0x the median hour's requests) recurring: 2 such hours: 1 in 3,000 of history and 1 "
        "in the 1,318 recent hours the ratios are drawn from, met in >99% of 2015-05's draws; without them (a "
        "burst's")


def _forecast(totals: pd.DataFrame, scale: float = 1.0) -> pd.DataFrame:
    """The buckets' quantiles behind ``totals``: each horizon total spread evenly over its days, times ``scale``."""
    horizon = totals[totals["period"] == "horizon"]
    days = pd.date_range(fx.HORIZON[0], fx.HORIZON[-1], freq="D", tz="UTC")
    return pd.DataFrame([{"series": r.series, "target": r.target, "timestamp": d, "method": "xgboost",
                          **{q: getattr(r, q) / len(days) * scale for q in fx.Q}}
                         for r in horizon.itertuples() for d in days])


def test_the_totals_say_how_far_they_are_from_the_sum_of_the_buckets_medians():
    """An hourly file's totals were a third above the sum of forecast.csv's P50s while the drivers' prose said
    they 'differ a little'; the demo's are equal. The text says which, by how much, and why."""
    drivers = _model_a_drivers()
    low = _inputs(drivers=drivers, forecast=_forecast(fx.totals(), scale=0.75))
    text = render_report(low)
    requests = low.totals[(low.totals["period"] == "horizon") & (low.totals["target"] == "requests")]["p50"].sum()
    assert (f"Their P50s do not add up to the totals' P50s: requests {human(0.75 * requests)} summed against a "
            f"total of {human(requests)} (+33.3%)") in text
    assert "above them here (where usage is bursty a day's median lies below its mean" in text
    assert "the totals above put the horizon's requests +33.3% off that sum" in text
    assert "differ a little" not in text
    # One series off and the other not: the target's change can round to nothing, so the series most off says it.
    one = _forecast(fx.totals())
    one.loc[one["series"] == "model-a", fx.Q] *= 0.9994  # +0.06% on half the volume
    text = render_report(_inputs(drivers=drivers, forecast=one))
    assert "(+0.0%; 1 of its 2 series, by up to +0.1%)" in text, text.split("do not add up")[1][:400]
    equal = render_report(_inputs(drivers=drivers, forecast=_forecast(fx.totals())))
    assert "Their P50s add up to the totals' P50s (within 0.05% for every series and target)." in equal
    assert "the monthly totals above have the same P50s" in equal and "differ a little" not in equal


def test_an_ended_series_is_not_said_to_be_forecast_by_a_method_the_breakdown_skips():
    forecast = _forecast(fx.totals())
    forecast = forecast[(forecast["series"] == "model-a") & (forecast["target"] == "requests")]  # as the drivers
    forecast.attrs = {"ended": {"model-b": "2026-08-14"}}
    inputs = _inputs(drivers=_model_a_drivers(), forecast=forecast,
                     selection={"methods": {"model-a|requests": "xgboost", "model-b|requests": "xgboost"}})
    text = render_report(inputs)
    assert "Not broken down" not in text
    assert ("Not in the breakdown, ended: model-b (last usage 2026-08-14). It has no usage lately and is not "
            "planned, so there is no forecast to break down.") in text


def test_incomplete_buckets_are_counted_as_days_series_and_values():
    history = fx.history()
    gap = history["ds"] == pd.Timestamp("2026-07-15")
    history.loc[gap, "y"] = np.nan  # a whole day missing from the export: 2 models x 3 targets
    text = render_report(replace(_inputs(), history=history))
    assert ("2 days incomplete (2026-07-15, 2026-08-01) for 2 series (3 series-days; on 1 of them no series has a "
            "complete day: the file has no row for it, or its rows lack every count or cover only part of it): "
            "7 of their counts (of 3 targets "
            "each) treated as missing.") in text
    one = render_report(_inputs())  # model-a's requests of one day
    assert "1 day incomplete (2026-08-01) for 1 series (1 series-day): 1 of their counts (of 3 targets each)" in one
    assert "incomplete buckets" not in one
    week = fx.history()
    week.loc[week["ds"].between(pd.Timestamp("2026-07-01"), pd.Timestamp("2026-07-07")), "y"] = np.nan  # an outage
    outage = render_report(replace(_inputs(), history=week))
    assert "8 days incomplete (2026-07-01 to 2026-07-07, 2026-08-01) for 2 series" in outage


def test_the_history_read_names_the_days_with_values_as_the_summary_does_and_where_the_rows_run_further():
    history = fx.history()
    history.loc[history["ds"].isin([pd.Timestamp(fx.HISTORY_START), pd.Timestamp(fx.HISTORY_END)]), "y"] = np.nan
    text = render_report(replace(_inputs(), history=history))
    assert ("- History: 2026-06-16 to 2026-09-29 (the rows run from 2026-06-15 to 2026-09-30: the days outside are "
            "incomplete, counted below), 2 series") in text
    assert "- History: 2026-06-15 to 2026-09-30, 2 series" in render_report(_inputs())


def test_an_event_in_force_is_named_in_the_level_it_was_divided_out_of():
    drivers = pd.concat([_model_a_drivers(), pd.DataFrame([{
        "series": "model-a", "period": "2026-10", "driver": "Old launch (stated x1.95)", "kind": "stated, in force",
        "effect": 0.95, "volume": 14_000.0, "target": "requests"}])], ignore_index=True)
    text = render_report(_inputs(drivers=drivers))
    assert ("the usage of the last weeks before the forecast starts, with the effect of any stated event, or "
            "measured year-end, in force then divided out: model-a's Old launch (stated x1.95), so that series' "
            "level is its recent usage without it") in text
    assert ("the chart leaves out Old launch (stated x1.95) (model-a, +95.0%), in force before the horizon") in text


def test_an_hourly_history_that_ends_before_the_run_says_the_forecast_starts_the_hour_after():
    inputs = _inputs(simulated=False)
    inputs.summary = plan_summary(fx.history(), inputs.totals, inputs.costs, fx.backtest(), fx.prices(), fx.Q,
                                  simulated=False, today=pd.Timestamp(fx.HISTORY_END) + pd.Timedelta(days=67))
    hourly = render_report(replace(inputs, settings={**inputs.settings, "freq": "h"}))
    assert "The forecast starts the hour after the history ends" in hourly and "the day after" not in hourly
    assert "The forecast starts the day after the history ends" in render_report(inputs)


def test_a_month_the_horizon_covers_only_in_part_names_its_days_in_the_monthly_totals():
    text = render_report(_inputs())  # the horizon runs 2026-10-01 to 2026-12-30
    monthly = text.split("Monthly totals")[1].split("\n\n")[1]
    header = monthly.splitlines()[0]
    assert "| 2026-10 |" in header and "| 2026-11 |" in header and "| 2026-12 (12-01 – 12-30: 30 of 31 days) |" in header


def test_growth_measured_on_some_targets_names_the_rest_instead_of_a_stall_cost():
    inputs = _inputs()
    drivers = pd.DataFrame({"series": ["model-a"], "target": ["input_tokens"], "period": ["2026-12"],
                            "driver": ["growth (trend anchor)"], "kind": ["growth"], "effect": [0.2],
                            "volume": [0.5 * inputs.summary.cost["p50"] / 3.0 * 1e6]})
    summary = plan_summary(inputs.history, inputs.totals, inputs.costs, inputs.backtest, inputs.prices, fx.Q,
                           simulated=True, drivers=drivers)
    line = next(x for x in _summary_section(render_report(replace(inputs, summary=summary))).splitlines()
                if "Growth is extrapolated" in x)
    assert "if growth stalls" not in line and "forecast by other methods" in line, line


def test_growth_carried_only_through_the_backtest_window_says_so_and_what_follows():
    """A review found "carries the growth of the last weeks through the horizon" where the anchor stopped after the
    backtest window (34 days) and held the level: the sentence names the days carried and what a longer run means."""
    inputs = _inputs()
    drivers = pd.DataFrame({"series": ["model-a"], "target": ["input_tokens"], "period": ["2026-10"],
                            "driver": ["growth (trend anchor)"], "kind": ["growth"], "effect": [0.2],
                            "volume": [0.5 * inputs.summary.cost["p50"] / 3.0 * 1e6]})

    def line(**kwargs):
        summary = plan_summary(inputs.history, inputs.totals, inputs.costs, inputs.backtest, inputs.prices, fx.Q,
                               simulated=True, drivers=drivers, **kwargs)
        return next(x for x in _summary_section(render_report(replace(inputs, summary=summary))).splitlines()
                    if "Growth is extrapolated" in x)

    held = line(trend_steps=34)
    assert ("carries the growth of the last weeks through the first 34 days of the horizon (as far as the backtest "
            "tested it), then holds the level reached, which adds") in held, held
    assert "through the horizon" not in held and "past those 34 days, the later months' forecast is low" in held
    whole = line()
    assert "carries the growth of the last weeks through the horizon, which adds" in whole, whole
    assert "later months" not in whole


def test_totals_across_models_are_called_as_wide_as_the_organisations_backtest_measured():
    """The totals add the models' quantiles, the widest interval they allow: "slightly wide" undersold it where the
    organisation's backtest (the same adding, in daily cost) held 96% of days against a nominal 80%."""
    inputs = _inputs()
    measured = render_report(replace(inputs, organisation_coverage=0.9565))
    plain = render_report(inputs)
    for text in (measured, plain):
        assert "slightly wide" not in text
        assert ("Totals across models in the summary add the models' quantiles (models assumed to move together): the "
                "widest interval the models allow, wider than a sum of independent models") in text
    assert ("in the organisation's backtest, which adds every series' daily cost quantiles the same way, the P10–P90 "
            "held 96% of days against a nominal 80%, so read these intervals as wide.") in measured
    assert "organisation's backtest" not in plain
    assert "read these intervals as wide" not in render_report(replace(inputs, organisation_coverage=0.81))


def test_the_per_series_table_is_headed_series_where_series_are_split_by_team_or_key():
    assert "Per model over the horizon" in render_report(_inputs())
    inputs = _inputs()
    split = {name: frame.assign(series=frame["series"] + "/team-a") for name, frame in
             (("totals", inputs.totals), ("costs", inputs.costs))}
    text = render_report(replace(inputs, **split))
    assert "Per series over the horizon" in text and "| series |" in text


def _drivers_of(keys: list[tuple[str, str]]) -> pd.DataFrame:
    """``_model_a_drivers``' month for each ``(series, target)`` the tuned model forecasts."""
    return pd.concat([_model_a_drivers().assign(series=s, target=t) for s, t in keys], ignore_index=True)


def test_the_series_and_targets_the_breakdown_and_shap_leave_out_are_named_with_their_method():
    """A review's hourly run: the model forecast uncached input tokens of both models and output tokens of one; the
    report switched to "Per month of uncached input tokens" without a word and said "All targets:
    forecast_drivers.csv", which held 3 of the 6."""
    methods = {f"{s}|{t}": "xgboost" if (s, t) in {("model-a", "input_tokens"), ("model-b", "input_tokens"),
                                                   ("model-a", "output_tokens")} else "ensemble"
               for s in fx.MODELS for t in fx.TARGETS}
    drivers = _drivers_of([("model-a", "input_tokens"), ("model-b", "input_tokens"), ("model-a", "output_tokens")])
    text = render_report(_inputs(drivers=drivers, selection={"methods": methods}))
    section = text.split("## Why the forecast is what it is")[1].split("\n## ")[0]
    assert ("The tuned model forecasts no requests in this run: the breakdown below is of uncached input tokens "
            "instead. Not broken down, forecast by other methods: requests of model-a and model-b (ensemble); "
            "output tokens of model-b (ensemble).") in section, section[:600]
    assert "All targets" not in section
    assert "Every series and target the tuned model forecasts (3 of the 6 planned): `forecast_drivers.csv`" in section
    assert "the tuned model forecasts 3 of the 6 planned series-targets" in section


def test_the_growth_window_is_the_historys_where_shorter_and_a_flat_anchor_has_no_growth():
    """54 days of hours: the anchor's growth is read from all of them, not "the last 12 weeks"; a tuned ``level``
    anchor extrapolates no growth at all, and the text said it did."""
    layout = {"freq": "h", "horizon": 168, "season": 168, "seasons": [24, 168], "level_blocks": 1, "window": 168,
              "history_steps": 1296, "history_start": "2015-02-27 00:00:00", "history_end": "2015-04-21 23:00:00",
              "tuning_origins": ["2015-03-24 23:00:00"], "backtest_origins": ["2015-03-31 23:00:00"], "model": True}
    inputs = _inputs(drivers=_model_a_drivers(), layout=layout)
    short = render_report(replace(inputs, settings={**inputs.settings, "trend_weeks": 12}))
    assert ("the **growth** the trend anchor extrapolates from all 54 days of history (fewer than "
            "`feature_engineering.trend_weeks`' 12 weeks)") in short
    assert "last 12 weeks" not in short
    long = render_report(replace(inputs, layout={**layout, "history_steps": 24 * 7 * 30},
                                 settings={**inputs.settings, "trend_weeks": 10}))
    assert "the **growth** the trend anchor extrapolates from the last 10 weeks," in long
    flat = render_report(replace(inputs, settings={**inputs.settings, "trend": "level"}))
    section = flat.split("## Why the forecast is what it is")[1].split("\n## ")[0]
    assert "**growth**" not in section and "a correction to level and growth" in section
    assert ("The tuned trend anchor is flat (`level`): it extrapolates no growth, and the trees' correction moves the "
            "level by under 0.5% in every month: the forecast carries no growth.") in section


def test_a_flat_anchor_names_the_growth_the_trees_correction_carries():
    """A tuned ``level`` anchor extrapolates no growth, but the trees learned it: a Console export's correction
    read +3.5% in September and +7.0% to +23.0% by December, and the text had said "the forecast carries no growth"
    under a column headed "level and growth correction"."""
    from tokenplan.forecasting.explanations import CORRECTION

    drivers = pd.concat([_model_a_drivers(), _model_a_drivers().assign(series="model-b")], ignore_index=True)
    corrections = pd.DataFrame([(s, p, CORRECTION, "learned", e, 1_000.0, "requests") for s, p, e in (
        ("model-a", "2026-10", 0.035), ("model-a", "2026-12", 0.23), ("model-b", "2026-10", 0.035),
        ("model-b", "2026-12", 0.07))], columns=drivers.columns)
    inputs = _inputs(drivers=pd.concat([drivers, corrections], ignore_index=True))
    flat = render_report(replace(inputs, settings={**inputs.settings, "trend": "level"}))
    section = flat.split("## Why the forecast is what it is")[1].split("\n## ")[0]
    assert "carries no growth" not in section
    assert ("The tuned trend anchor is flat (`level`): it extrapolates no growth; what growth the forecast carries is "
            "the trees' level and growth correction, +3.5% on the level in 2026-10 and +7.0% (model-b) to +23.0% "
            "(model-a) by 2026-12.") in section, section[:3000]
    # One series broken down: the range is that series', and the text says so (review V).
    alone = _inputs(drivers=pd.concat([_model_a_drivers(), corrections[corrections["series"] == "model-a"]],
                                      ignore_index=True))
    section = render_report(replace(alone, settings={**alone.settings, "trend": "level"}))
    assert ("the trees' level and growth correction (model-a, the one series it breaks down), +3.5% on the level in "
            "2026-10 and +23.0% by 2026-12.") in section


def test_risks_cut_from_the_summary_are_named_in_a_line():
    """A 4th risk, a clear trend the plan does not carry, was cut by the three shown without a word."""
    inputs = _inputs()
    trend = {"kind": "trend_not_carried", "score": 0.01, "added_usd": 90.0, "share": 0.01, "more": 0, "damping": 0.9,
             "cases": [{"series": "claude-haiku-4-5", "target": "requests", "weeks": 6, "history_weekly": 0.081,
                        "forecast_weekly": 0.017, "first_week": 1e4, "last_week": 1.6e4, "added": 5e3,
                        "plan_total": 1e5, "usd": 90.0}]}
    growth = {"kind": "growth", "score": 0.005, "added_usd": 40.0, "share": 0.005, "learned": True}
    text = _summary_section(render_report(replace(inputs, summary=replace(inputs.summary,
                                                                           more_risks=[trend, growth]))))
    assert ("2 more risks, ranked lower by the same measure: **the history's trend is not carried** "
            "(claude-haiku-4-5's requests grew 8.1% a week over its last 6 weeks, where the forecast grows 1.7%); "
            "**growth is learned** (0.5% of the P50 cost).\n\n") in text, text  # its own paragraph (review V)
    assert "more risk" not in _summary_section(render_report(inputs))


def test_the_growth_window_names_the_series_with_a_shorter_history_of_their_own():
    """A model added 14 days before the end of a file of 42 days of hours: the anchor reads it from its own 14
    days, and the text had said "all 42 days of history" for every series."""
    layout = {"freq": "h", "horizon": 168, "season": 168, "seasons": [24, 168], "level_blocks": 1, "window": 168,
              "history_steps": 42 * 24, "history_start": "2026-10-21 00:00:00", "history_end": "2026-12-01 23:00:00",
              "tuning_origins": [], "backtest_origins": [], "model": True}
    hours = pd.date_range("2026-10-21", periods=42 * 24, freq="h")
    history = pd.concat([pd.DataFrame({"series": "model-a", "target": "requests", "ds": hours, "y": 10.0}),
                         pd.DataFrame({"series": "model-b", "target": "requests", "ds": hours,
                                       "y": np.where(hours >= hours[-14 * 24], 5.0, np.nan)})], ignore_index=True)
    inputs = _inputs(drivers=_model_a_drivers(), layout=layout)
    text = render_report(replace(inputs, history=history, settings={**inputs.settings, "trend_weeks": 12}))
    assert ("extrapolates from all 42 days of history (fewer than `feature_engineering.trend_weeks`' 12 weeks; "
            "model-b from its own 14 days),") in text
    assert "from its own" not in render_report(replace(inputs, settings={**inputs.settings,
                                                                                       "trend_weeks": 12}))


def test_a_ratio_that_barely_moved_reads_less_than_one_percent_not_zero():
    """"where its monthly ratio moved at most 0%" (an organisation run): a swing under half a percent."""
    inputs = _inputs()
    drift = {"series": "model-a", "target": "output_tokens", "forecast": 120.0, "recent": 100.0, "month": "2026-11",
             "change": 0.2, "swing": 0.003}
    text = _summary_section(render_report(replace(inputs, summary=replace(inputs.summary,
                                                                           drifting_ratios=[drift]))))
    assert "where its monthly ratio moved less than 1% a month" in text and "at most 0%" not in text, text
    wide = {**drift, "swing": 0.04}
    text = _summary_section(render_report(replace(inputs, summary=replace(inputs.summary, drifting_ratios=[wide]))))
    assert "where its monthly ratio moved at most 4% a month" in text


def test_a_team_at_risk_whose_plan_leaves_out_a_trend_says_so():
    """Review S: the growth team's app grew 10.9% a week, planned at 0.8%; its budget line read "52% likely over"
    with no word that the plan leaves that growth out. The line names each of its series the plan does not carry
    the trend of, and which way that moves the chance; teams without one read as before."""
    from tokenplan.reporting.summary import team_trends

    trends = [{"series": "claude-sonnet-4-5/growth/app", "history_weekly": 0.109, "forecast_weekly": 0.008},
              {"series": "claude-haiku-4-5/labs/etl", "history_weekly": -0.05, "forecast_weekly": 0.0}]
    series = pd.DataFrame({"series": ["claude-sonnet-4-5/growth/app", "claude-haiku-4-5/labs/etl",
                                      "claude-opus-4-5/ops/k"], "team": ["growth", "labs", "ops"]})
    teams = [{"team": "growth", "period": "2026-12", "spend_p50": 3642.0, "budget_usd": 3500.0, "p_exceed": 0.52,
              "first_crossing_p50": "2026-12-27", "lead_days_p50": 49},
             {"team": "ops", "period": "2026-11", "spend_p50": 500.0, "budget_usd": 1000.0, "p_exceed": 0.01,
              "first_crossing_p50": None, "lead_days_p50": None, "first_crossing_p90": None, "lead_days_p90": None}]
    inputs = _inputs()
    inputs.summary.teams_at_risk = team_trends(teams, trends, series)
    summary = _summary_section(render_report(inputs))
    assert ("49 days from the forecast's start; the plan does not carry claude-sonnet-4-5/growth/app's trend "
            "(+10.9% a week in its last weeks, +0.8% planned): more likely over if it goes on); ops (2026-11: P50 "
            "spend $500 against $1,000, 1% likely over).") in summary
    assert team_trends(teams, trends, None)[0]["trend_not_carried"] == []
