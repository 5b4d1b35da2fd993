"""The planning pipeline's routes and ROI nodes, wired, on an in-memory catalog; and the report section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tokenplan.pipelines.planning.pipeline import create_pipeline
from tokenplan.pipelines.reporting.nodes import render_routes
from tokenplan.planning.prices import PRICE_TABLE_COLUMNS
from tokenplan.reporting.report import _costs, unpriced_models
from tests.planning.totals_fixture import TOKENS, forecast_totals

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SERIES = ("claude-sonnet-4-5", "gpt-4o-2024-08-06", "our-finetune")
OUTPUTS = ("model_prices", "cost_forecast", "route_rates", "route_costs", "history_costs", "roi_summary",
           "roi_cashflow", "roi_sensitivity", "price_check")


class _Kept(MemoryDataset):
    def _release(self) -> None:
        pass


def _history() -> pd.DataFrame:
    """A year of daily history before the forecast, 1% more each month, for every series."""
    days = pd.date_range("2025-11-01", "2026-10-31", freq="D")
    growth = 1.01 ** ((days.year - 2025) * 12 + days.month - 11)
    return pd.DataFrame([{"series": s, "target": t, "ds": d, "y": total / 30 * g}
                         for s in SERIES for t, total in TOKENS.items() for d, g in zip(days, growth, strict=True)])


def _billed(history_costs: pd.DataFrame) -> pd.DataFrame:
    """A bill 20% above the priced history in 2026-09 and equal to it in 2026-10."""
    priced = history_costs.groupby("period")["observed"].sum()
    return pd.DataFrame({"date": ["2026-09-15", "2026-10-15"], "model": ["claude-sonnet-4-5"] * 2,
                         "amount_usd": [priced["2026-09"] * 1.2, priced["2026-10"]]})


def _run(billed: pd.DataFrame | None = None, baseline_only: bool = False, sources: dict | None = None,
         overrides: dict | None = None, roi: dict | None = None) -> dict:
    """The routes and ROI nodes on the shipped parameters (``overrides``: ``planning.routes.overrides``; ``roi``:
    ``planning.roi`` keys changed) and ``parameter_sources`` (``sources``: where the run set which parameter)."""
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_planning.yml").read_text())["planning"]
    params["routes"]["overrides"] = overrides or {}
    params["roi"].update(roi or {})
    if baseline_only:
        routes = params["routes"]
        routes["definitions"] = [d for d in routes["definitions"] if d["name"] == routes["baseline"]]
    catalog = DataCatalog()
    catalog["forecast_totals"] = forecast_totals(SERIES)
    catalog["target_series"] = _history()
    catalog["usage_buckets"] = pd.DataFrame({"series": list(SERIES)})
    catalog["price_table"] = pd.DataFrame(columns=PRICE_TABLE_COLUMNS)
    catalog["billed_costs"] = billed if billed is not None else pd.DataFrame(columns=["date", "model", "amount_usd"])
    catalog["forecast_events"] = pd.DataFrame(columns=["start", "end", "name", "kind", "scope", "effect"])
    catalog["params:planning"] = params
    catalog["parameter_sources"] = sources or {}
    catalog["params:training"] = {"quantiles": [0.1, 0.5, 0.9]}
    catalog["params:feature_engineering"] = {"freq": "D"}
    for name in OUTPUTS:
        catalog[name] = _Kept()
    routes_and_roi = create_pipeline().only_nodes(
        "price_models", "estimate_costs", "compute_route_rates", "compute_route_costs", "compute_history_rates",
        "price_history", "compute_roi",
        "compute_sensitivity", "check_prices")
    SequentialRunner().run(routes_and_roi, catalog)
    out = {name: catalog[name].load() for name in OUTPUTS}
    section = render_routes(*(out[n] for n in ("route_costs", "route_rates", "roi_summary", "roi_cashflow",
                                               "roi_sensitivity", "price_check", "model_prices")),
                            params, {"quantiles": [0.1, 0.5, 0.9]})
    return out | {"section": section, "params": params}


@pytest.fixture(scope="module")
def run() -> dict:
    return _run()


def test_outputs_have_the_issue_columns_and_one_row_per_candidate_route(run):
    params = run["params"]
    candidates = [r["name"] for r in params["routes"]["definitions"] if r["name"] != params["routes"]["baseline"]]
    summary, flow, costs = run["roi_summary"], run["roi_cashflow"], run["section"]["tables"]["route_costs.csv"]
    assert summary["route"].tolist() == candidates
    for column in ("one_time_cost_usd", "monthly_saving_p10", "monthly_saving_p50", "monthly_saving_p90",
                   "payback_month_p50", "npv_12m_p10", "npv_12m_p50", "npv_12m_p90", "annual_discount_rate"):
        assert column in summary.columns, column
    assert list(costs.columns) == ["route", "model", "period", "p10", "p50", "p90"]
    assert set(costs["period"]) == {"2026-11", "2026-12", "horizon"}
    for column in ("route", "month", "saving_p10", "saving_p50", "saving_p90", "cumulative_p50", "extrapolated"):
        assert column in flow.columns, column
    assert flow.groupby("route")["month"].apply(list).map(lambda m: m == list(range(1, 13))).all()


def test_mixed_providers_are_priced_and_the_unpriced_model_is_named_not_fatal(run):
    prices = run["model_prices"]
    assert prices["gpt-4o-2024-08-06"].provider == "openai"
    assert prices["claude-sonnet-4-5"].provider == "anthropic"
    assert prices["our-finetune"] is None
    assert set(run["route_costs"]["model"]) == {"claude-sonnet-4-5", "gpt-4o-2024-08-06"}
    assert "`our-finetune` — add it to the price table" in run["section"]["markdown"]
    _, price_rows = _costs(type("Inputs", (), {"quantile_names": ["p10", "p50", "p90"],
                                               "costs": run["cost_forecast"], "prices": prices})())
    assert price_rows.set_index("model").loc["gpt-4o-2024-08-06", "provider"] == "openai"
    assert "our-finetune" not in set(price_rows["model"])
    assert unpriced_models(prices) == ["our-finetune"]  # the report names it: "no price: add it to the price table"


def test_the_relay_saves_list_minus_credit_over_fx_and_its_arithmetic_is_shown(run):
    costs = run["route_costs"]
    horizon = costs[costs["period"] == "horizon"].groupby("route")["p50"].sum()
    assert horizon["relay_cny"] == pytest.approx(horizon["official_api"] * 1.0 / 7.10)
    text = run["section"]["markdown"]
    assert "1 / 7.1 × (1 + 0 fees) = **0.1408 USD**" in text
    assert "FX exposure" in text and "no SLA" in text


def test_a_route_priced_like_the_baseline_never_pays_back_and_says_so(run):
    summary = run["roi_summary"].set_index("route")
    assert summary.loc["bedrock_global", "monthly_saving_p50"] == pytest.approx(0)
    assert pd.isna(summary.loc["bedrock_global", "payback_month_p50"])
    assert "does not pay back within 12 months" in run["section"]["markdown"]


def test_intervals_are_ordered_in_every_output(run):
    for name, prefixes in (("route_costs", ("",)), ("roi_cashflow", ("saving_", "cumulative_")),
                           ("roi_summary", ("monthly_saving_", "npv_12m_"))):
        frame = run[name]
        for p in prefixes:
            assert (frame[f"{p}p10"] <= frame[f"{p}p50"] + 1e-9).all(), (name, p)
            assert (frame[f"{p}p50"] <= frame[f"{p}p90"] + 1e-9).all(), (name, p)


def test_growth_is_fitted_on_whole_months_of_priced_history_and_the_forecast(run):
    summary = run["roi_summary"]
    assert summary["growth_fit_history_months"].iloc[0] == 12
    # History grows 1%/month and the forecast is flat at the history's level: well below 1%.
    assert 0 <= summary["growth_after_forecast"].iloc[0] < 0.01


def test_the_tornado_moves_fx_credit_rate_growth_share_and_one_time_cost(run):
    relay = run["roi_sensitivity"][run["roi_sensitivity"]["route"] == "relay_cny"]
    assert set(relay["input"]) == {"FX rate", "credit rate", "eligible share", "one-time cost",
                                   "traffic growth after the forecast"}
    fx = relay.set_index("input").loc["FX rate"]
    assert fx["npv_high"] > fx["npv_base"] > fx["npv_low"]  # more CNY per USD: each CNY paid costs fewer USD


def test_the_tornado_moves_the_caching_routes_reads_per_write(run):
    """The caching route's saving rests on its reads per write as much as on its share: the tornado moves both."""
    caching = run["roi_sensitivity"][run["roi_sensitivity"]["route"] == "prompt_caching"].set_index("input")
    assert {"cache reads per write", "eligible share"} <= set(caching.index)
    reads = caching.loc["cache reads per write"]
    assert (reads["low"], reads["high"]) == ("4", "6")
    assert reads["npv_high"] > reads["npv_base"] > reads["npv_low"]  # more reads per write: fewer writes to pay


def test_the_caching_routes_demo_assumptions_name_its_share_of_uncached_input_and_its_reads_per_write(run):
    demo = run["roi_summary"].set_index("route").loc["prompt_caching", "demo_assumptions"]
    assert demo.startswith("40% of today's uncached input read from the cache; 5 cache reads per token written; ")
    assert "(1 − s − s/r) × input + s × read + s/r × write" in run["section"]["markdown"]
    assert "52% uncached + 40% cache read + 8% cache write" in run["section"]["markdown"]


def test_an_input_the_user_set_is_labelled_theirs_not_the_demos():
    """--params planning.roi.annual_discount_rate=0.12 was said to be "the demo's assumptions, not yours: ... a
    discount rate of 12% a year", and the ROI text "(assumed for the demo: the company's cost of capital)"."""
    out = _run(sources={"planning.roi.annual_discount_rate": "--params",
                        "planning.routes.overrides.relay_cny.fx_rate": "--params",
                        "planning.routes.overrides.batch_api.eligible_share": "--params"},
               overrides={"relay_cny": {"fx_rate": 7.3}, "batch_api": {"eligible_share": 0.5}},
               roi={"annual_discount_rate": 0.12})
    summary = out["roi_summary"].set_index("route")
    assert not summary["demo_assumptions"].str.contains("discount rate").any()
    assert (summary["discount_rate_source"] == "set by you (--params)").all()
    assert summary.loc["relay_cny", "demo_assumptions"] == ("CNY 1 of credit per USD of list price; "
                                                            "a one-time cost of 5 engineer-days")
    assert summary.loc["relay_cny", "user_inputs"] == "FX 7.3 CNY per USD (--params)"
    assert summary.loc["batch_api", "demo_assumptions"] == "a one-time cost of 3 engineer-days"
    assert summary.loc["batch_api", "user_inputs"] == "50% of the usage eligible (--params)"
    text = out["section"]["markdown"]
    assert "at 12.0% a year (set by you (--params))" in text and "company's cost of capital" not in text
    assert "at 7.3 CNY/USD (no date given; set by you)" in text
    assert "FX 7.3 CNY per USD (no date given, set by you)" in text
    assert "set by you, over the configuration's values and their sources: FX 7.3 CNY per USD (--params)" in text
    horizon = out["route_costs"][out["route_costs"]["period"] == "horizon"].groupby("route")["p50"].sum()
    assert horizon["relay_cny"] == pytest.approx(horizon["official_api"] / 7.3)
    # The same run on the shipped numbers: every one of them the demo's.
    shipped = _run()["roi_summary"].set_index("route")
    assert shipped["demo_assumptions"].str.endswith("a discount rate of 8% a year").loc[
        ["batch_api", "prompt_caching", "relay_cny"]].all()
    assert (shipped["user_inputs"] == "").all()


def test_without_a_bill_the_report_says_the_price_model_is_unchecked(run):
    assert run["price_check"].empty
    assert "not checked against a bill" in run["section"]["markdown"]


def test_a_bill_that_disagrees_with_the_priced_history_shows_the_gap(run):
    out = _run(_billed(run["history_costs"]))
    check = out["price_check"].set_index("period")
    assert check.loc["2026-09", "gap_share"] == pytest.approx(0.2 / 1.2)
    assert check.loc["2026-10", "gap_usd"] == pytest.approx(0, abs=1e-6)
    text = out["section"]["markdown"]
    gap = check.loc["2026-09", "gap_usd"]
    assert f"${gap:,.0f}" in text and "16.7%" in text and "largest gap" in text


def test_a_plan_with_no_route_but_the_baseline_runs_and_compares_none():
    out = _run(baseline_only=True)

    assert out["roi_summary"].empty and "route" in out["roi_summary"].columns
    assert set(out["route_costs"]["route"]) == {"official_api"}
