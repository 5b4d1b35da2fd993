"""A list price that changes inside the horizon: every cost of the forecast pays each day's own price.

The prices are the price table's (dated rows), so the change is ours, not genai-prices' data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.planning.totals_fixture import TOKENS, forecast_totals
from tests.reporting import report_fixtures as fx
from tokenplan.closing_block import summary_headline
from tokenplan.pipelines.planning.pipeline import create_pipeline
from tokenplan.reporting.report import ReportInputs, render_report
from tokenplan.reporting.summary import plan_summary

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# our-model doubles from 2026-12-01 (a month's first day); our-other from 2026-11-16 (inside November).
OLD = {"input_usd_per_mtok": 1.0, "cache_write_usd_per_mtok": 1.25, "cache_read_usd_per_mtok": 0.1,
       "output_usd_per_mtok": 5.0}
NEW = {k: 2 * v for k, v in OLD.items()}
RATE = {f"{k.removesuffix('_usd_per_mtok')}_tokens": v for k, v in OLD.items()}
SERIES = ("our-model", "our-other")


class _Kept(MemoryDataset):
    def _release(self) -> None:
        pass


def _price_table() -> pd.DataFrame:
    rows = [("our-model", "2026-01-01", OLD), ("our-model", "2026-12-01", NEW),
            ("our-other", "2026-01-01", OLD), ("our-other", "2026-11-16", NEW)]
    return pd.DataFrame([{"model": m, **rates, "source": "our contract", "date": d} for m, d, rates in rows])


def _params(price_date: str | None = None) -> dict:
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_planning.yml").read_text())["planning"]
    params["routes"]["price_date"] = price_date
    return params


def _run(price_date: str | None = None, outputs: tuple[str, ...] = ("cost_forecast", "route_costs", "model_prices")
         ) -> dict[str, pd.DataFrame]:
    catalog = DataCatalog()
    catalog["forecast_totals"] = forecast_totals(SERIES)  # November and December 2026, whole months
    catalog["usage_buckets"] = pd.DataFrame({"series": list(SERIES)})
    catalog["price_table"] = _price_table()
    catalog["params:planning"] = _params(price_date)
    catalog["params:training"] = {"quantiles": [0.1, 0.5, 0.9]}
    pipeline = create_pipeline().to_outputs(*outputs)
    for name in pipeline.all_outputs():
        catalog[name] = _Kept()
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog[name].load() for name in pipeline.all_outputs()}


@pytest.fixture(scope="module")
def run() -> dict[str, pd.DataFrame]:
    return _run()


def _usd(rates: dict[str, float], share_new: float = 0.0) -> float:
    """One month's P50 cost of TOKENS, ``share_new`` of its days at the doubled rates."""
    return sum(TOKENS[t] * rate * (1 + share_new) for t, rate in rates.items()) / 1e6


def test_the_cost_table_pays_a_new_price_from_its_month_and_a_mid_month_change_for_its_days(run):
    costs = run["cost_forecast"].set_index(["series", "period"])["p50"]
    assert costs["our-model", "2026-11"] == pytest.approx(_usd(RATE))
    assert costs["our-model", "2026-12"] == pytest.approx(_usd(RATE, 1.0))  # was the November price
    assert costs["our-other", "2026-11"] == pytest.approx(_usd(RATE, 15 / 30))  # from the 16th: 15 of 30 days
    assert costs["our-other", "2026-12"] == pytest.approx(_usd(RATE, 1.0))
    assert costs["our-model", "horizon"] == pytest.approx(_usd(RATE) + _usd(RATE, 1.0))


def test_the_cost_table_the_headline_and_the_baseline_route_agree_to_the_cent(run):
    costs, routes = run["cost_forecast"], run["route_costs"]
    baseline = routes[routes["route"] == "official_api"].set_index(["model", "period"])
    for row in costs.itertuples():
        for name in ("p10", "p50", "p90"):
            assert getattr(row, name) == pytest.approx(baseline.loc[(row.series, row.period), name], abs=0.005)
    headline = plan_summary(fx.history(), forecast_totals(SERIES), costs, fx.backtest(), run["model_prices"],
                            ["p10", "p50", "p90"], simulated=False).cost["p50"]
    assert headline == pytest.approx(baseline.xs("horizon", level="period")["p50"].sum(), abs=0.005)


def test_a_price_date_prices_every_day_and_every_route_at_that_date():
    out = _run("2026-11-01", ("cost_forecast", "route_costs", "price_changes"))
    costs = out["cost_forecast"].set_index(["series", "period"])["p50"]
    assert costs["our-model", "2026-12"] == pytest.approx(_usd(RATE))
    assert costs["our-other", "2026-11"] == pytest.approx(_usd(RATE))
    official = out["route_costs"][out["route_costs"]["route"] == "official_api"]
    assert official[official["period"] == "horizon"]["p50"].sum() == pytest.approx(4 * _usd(RATE))
    assert out["price_changes"].empty  # one date: nothing changes


def test_the_report_states_each_change_beside_the_cost():
    changes = _run(outputs=("price_changes",))["price_changes"]
    assert set(zip(changes["model"], changes["date"].astype(str))) == {("our-model", "2026-12-01"),
                                                                        ("our-other", "2026-11-16")}
    output = changes[(changes["model"] == "our-model") & (changes["token_type"] == "output_tokens")].iloc[0]
    assert (output["usd_per_mtok_before"], output["usd_per_mtok_from"]) == (5.0, 10.0)
    totals = fx.totals()
    summary = plan_summary(fx.history(), totals, fx.costs(totals), fx.backtest(), fx.prices(), fx.Q,
                           simulated=False, price_changes=changes)
    settings = {"freq": "D", "horizon": 91, "holiday_country": "US", "trend": "local_linear",
                "trend_tuning_pinball": {}, "objective": "squarederror", "price_source": "genai-prices",
                "price_data_date": None}
    text = render_report(ReportInputs(
        version="test", history=fx.history(), totals=totals, costs=fx.costs(totals), backtest=fx.backtest(),
        importance=pd.DataFrame(columns=["feature", "mean_abs_shap", "share"]),
        events=pd.DataFrame({"start": pd.to_datetime([], utc=True), "end": pd.to_datetime([], utc=True),
                             **{c: pd.Series(dtype=object) for c in ("name", "kind", "scope", "effect")}}),
        best_params={}, prices=fx.prices(), quantile_names=fx.Q, settings=settings, summary=summary,
        forecast_figures=[]))
    head = text.split("## Summary")[1].split("\n## ")[0]
    note = ("**our-other** from **2026-11-16** (uncached input tokens $1 → $2, cache-write tokens $1.25 → $2.5, "
            "cache-read tokens $0.1 → $0.2, output tokens $5 → $10 per MTok; price table: our contract)")
    assert "A list price changes inside the horizon" in head and note in head
    console = summary_headline(text)  # the run's last lines say it beside the cost too
    assert console[1].startswith("A list price changes inside the horizon: our-other from 2026-11-16")
    assert "**our-model** from **2026-12-01**" in head
    assert "`reporting.price_date`" not in text and "`planning.routes.price_date`" in text


def test_without_a_change_the_costs_are_one_price_as_before():
    out = _run()
    other = out["route_rates"][out["route_rates"]["route"] == "official_api"]
    steady = other[(other["model"] == "our-model") & (other["period"] == "2026-11")]
    assert np.allclose(steady.set_index("token_type")["usd_per_mtok"].reindex(list(RATE)), list(RATE.values()))
    assert not steady["note"].str.contains("list price changes").any()
    changed = other[(other["model"] == "our-other") & (other["period"] == "2026-11")]
    assert changed["note"].str.startswith("list price changes on 2026-11-16").all()


def test_the_consistency_check_names_a_headline_that_disagrees_with_the_route_table(run):
    from tests.report_consistency import headline_cost_disagreements

    costs, routes = run["cost_forecast"], run["route_costs"]
    total = costs.loc[costs["period"] == "horizon", "p50"].sum()
    text = (f"| **cost (USD, list prices)** | **${total:,.0f}** | $1 – $2 |\n"
            f"| official_api | ${total:,.0f} ($1 – $2) | $0 | 0.0% |\n")
    assert headline_cost_disagreements(text, costs, routes, "p50") == []
    first_day = costs.assign(p50=costs["p50"] * 0.8)  # the first forecast day's prices: December at November's
    found = headline_cost_disagreements(text, first_day, routes, "p50")
    assert any("!= route_costs official_api" in line for line in found)
    assert any(line.startswith("report.md summary cost") for line in found)
