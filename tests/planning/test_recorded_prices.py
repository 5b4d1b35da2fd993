"""A past day is priced as it was billed: at the prices in force that day and its own 1-hour write share.

Opus writes only 5-minute cache entries until October, then 80% 1-hour ones; a model of the
price table doubles its output price on 2026-08-16. The last 28 days' share (80%) and the
first forecast day's prices belong to the forecast, not to the third quarter.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.planning.totals_fixture import forecast_totals
from tests.reporting import report_fixtures as fx
from tokenplan.forecasting.target_series import resample_targets
from tokenplan.pipelines.organisation.pipeline import create_pipeline as organisation_pipeline
from tokenplan.pipelines.planning.pipeline import create_pipeline as planning_pipeline
from tokenplan.reporting.summary import plan_summary

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAYS = pd.date_range("2026-06-01", "2026-11-30", freq="D", tz="UTC")
TARGETS = ["requests", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"]
OPUS = "claude-opus-4-5"  # genai-prices: input $5, 5-minute write $6.25, 1-hour write $10, output $25 per MTok
OURS = "our-model"        # the price table: output $5, from 2026-08-16 $10
DAILY = {"requests": 100.0, "input_tokens": 1e6, "cache_write_tokens": 1e6, "cache_read_tokens": 0.0,
         "output_tokens": 1e5}


class _Kept(MemoryDataset):
    def _release(self) -> None:
        pass


def _usage() -> pd.DataFrame:
    frames = []
    for model in (OPUS, OURS):
        one_hour = (DAYS >= "2026-11-01") * 0.8e6 if model == OPUS else 0.0
        frames.append(pd.DataFrame({"timestamp": DAYS, "series": model, "model": model, "workspace": "team-a",
                                    **DAILY, "cache_write_1h_tokens": one_hour}))
    return pd.concat(frames, ignore_index=True)


def _price_table() -> pd.DataFrame:
    rates = {"input_usd_per_mtok": 1.0, "cache_write_usd_per_mtok": 1.25, "cache_read_usd_per_mtok": 0.1}
    return pd.DataFrame([{"model": OURS, **rates, "output_usd_per_mtok": output, "source": "our contract",
                          "date": day} for day, output in (("2026-01-01", 5.0), ("2026-08-16", 10.0))])


def _day_usd(model: str, day: str) -> float:
    """What one day of DAILY cost, as billed."""
    if model == OPUS:
        one_hour = 0.8 if day >= "2026-11-01" else 0.0
        write = (1 - one_hour) * 6.25 + one_hour * 10.0
        return (1e6 * 5.0 + 1e6 * write + 1e5 * 25.0) / 1e6
    return (1e6 * 1.0 + 1e6 * 1.25 + 1e5 * (10.0 if day >= "2026-08-16" else 5.0)) / 1e6


def _quarter_usd(model: str) -> float:
    return sum(_day_usd(model, f"{d:%Y-%m-%d}") for d in pd.date_range("2026-07-01", "2026-09-30"))


@pytest.fixture(scope="module")
def run() -> dict:
    usage = _usage()
    catalog = DataCatalog()
    catalog["usage_buckets"] = usage
    catalog["target_series"] = resample_targets(usage, "D", TARGETS)
    catalog["forecast_totals"] = forecast_totals((OPUS, OURS), months=("2026-12",))
    catalog["price_table"] = _price_table()
    catalog["budgets_raw"] = pd.DataFrame(columns=["team", "period", "usd"])
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_planning.yml").read_text())["planning"]
    catalog["params:planning"] = params
    catalog["params:organisation"] = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_organisation.yml").read_text())["organisation"]
    catalog["params:feature_engineering.ended_days"] = 14
    pipeline = (planning_pipeline() + organisation_pipeline()).to_outputs("history_costs", "spend_history",
                                                                         "model_prices")
    for name in pipeline.all_outputs():
        catalog[name] = _Kept()
    SequentialRunner().run(pipeline, catalog)
    return {**{name: catalog[name].load() for name in pipeline.all_outputs()}, "usage": usage,
            "target_series": catalog["target_series"].load()}


def test_history_costs_price_each_month_at_its_own_one_hour_share_and_its_days_prices(run):
    costs = run["history_costs"].set_index(["series", "period"])["observed"]
    assert costs[OPUS, "2026-09"] == pytest.approx(30 * _day_usd(OPUS, "2026-09-15"))  # 5-minute writes only
    assert costs[OPUS, "2026-11"] == pytest.approx(30 * _day_usd(OPUS, "2026-11-15"))  # 80% at the 1-hour rate
    august = 15 * _day_usd(OURS, "2026-08-01") + 16 * _day_usd(OURS, "2026-08-16")  # $5 output to the 15th, then $10
    assert costs[OURS, "2026-08"] == pytest.approx(august)


def test_the_recorded_spend_of_the_organisation_is_the_same_history(run):
    spend = run["spend_history"]
    by_month = spend.groupby([spend["series"], spend["ds"].dt.strftime("%Y-%m")])["y"].sum()
    history = run["history_costs"].set_index(["series", "period"])["observed"]
    assert by_month.reindex(history.index).to_numpy() == pytest.approx(history.to_numpy())


def test_the_last_quarters_actual_is_priced_as_it_was_billed_and_agrees_with_history_costs(run):
    totals = forecast_totals((OPUS, OURS), months=("2026-12",))
    summary = plan_summary(run["target_series"], totals, fx.costs(totals), fx.backtest(), run["model_prices"],
                           fx.Q, simulated=False, history_rates=run["history_rates"])
    assert summary.last_quarter["label"] == "2026 Q3"
    assert summary.last_quarter["cost_by_series"][OPUS] == pytest.approx(_quarter_usd(OPUS))
    assert summary.last_quarter["cost_by_series"][OURS] == pytest.approx(_quarter_usd(OURS))
    quarter = run["history_costs"][run["history_costs"]["period"].isin(["2026-07", "2026-08", "2026-09"])]
    assert summary.cost["last_quarter"] == pytest.approx(quarter["observed"].sum())
