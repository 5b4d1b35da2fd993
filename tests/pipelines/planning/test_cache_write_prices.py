"""A Console export with 1-hour cache writes, read and priced by the wired nodes: its writes cost the blend.

The same export twice, once with 20% of each day's cache writes in the 1-hour column and
once with all of them at 5 minutes, must differ in cost by exactly those writes times
0.2 x (1-hour rate - 5-minute rate), in the history, the cost forecast and every route.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.runner import SequentialRunner

from tests.pipelines.planning.console_pricing import OUTPUTS, Kept, priced_catalog
from tests.planning.totals_fixture import forecast_totals
from tokenplan.datasets import AnthropicConsoleCSVDataset
from tokenplan.pipelines.monitor.pipeline import create_pipeline as monitor_pipeline
from tokenplan.reporting.report import cache_write_mix

HEADER = ("usage_date_utc,model_version,usage_input_tokens_no_cache,usage_input_tokens_cache_write_5m,"
          "usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,usage_output_tokens")
# genai-prices, USD per MTok: (5-minute write, 1-hour write)
WRITE_RATES = {"claude-sonnet-4-5-20250929": (3.75, 6.0), "claude-haiku-4-5-20251001": (1.25, 2.0)}
DAYS = pd.date_range("2026-09-01", "2026-10-30", freq="D")  # the 60 days before the forecast
WRITES_PER_DAY = 1e6
SHARE = 0.2


def _export(tmp_path: Path, one_hour_share: float) -> AnthropicConsoleCSVDataset:
    lines = [HEADER]
    for day in DAYS:
        for model in WRITE_RATES:
            one_hour = one_hour_share * WRITES_PER_DAY
            lines.append(f"{day:%Y-%m-%d},{model},5000000,{WRITES_PER_DAY - one_hour:.0f},{one_hour:.0f},"
                         f"2000000,400000")
    path = tmp_path / f"console_{one_hour_share}.csv"
    path.write_text("\n".join(lines) + "\n")
    return AnthropicConsoleCSVDataset(filepath=str(path))


def _priced(tmp_path: Path, one_hour_share: float) -> dict:
    catalog = priced_catalog(_export(tmp_path, one_hour_share))
    monitor = monitor_pipeline().only_nodes("price_models_for_monitor")
    catalog["monitor_plan_totals"] = catalog["forecast_totals"].load()  # the plan the monitor compares with
    catalog["monitor_usage_buckets"] = catalog["usage_buckets"].load()
    catalog["monitor_prices"] = Kept()
    SequentialRunner().run(monitor, catalog)
    return {name: catalog[name].load() for name in (*OUTPUTS, "monitor_prices")}


@pytest.fixture(scope="module")
def priced(tmp_path_factory) -> tuple[dict, dict]:
    folder = tmp_path_factory.mktemp("console_ttl")
    return _priced(folder, SHARE), _priced(folder, 0.0)


def _extra_usd(tokens: float) -> float:
    """What ``tokens`` cache writes of each model cost more with SHARE of them at the 1-hour rate."""
    return sum(tokens * SHARE * (one_hour - five_minutes) / 1e6 for five_minutes, one_hour in WRITE_RATES.values())


def test_one_hour_writes_cost_their_share_of_the_rate_difference_in_the_forecast_and_every_route(priced):
    mixed, five_minutes = priced
    horizon_writes = forecast_totals().query("target == 'cache_write_tokens' and period == 'horizon'")["p50"].iloc[0]
    expected = _extra_usd(horizon_writes)  # 2e7 writes a model x 0.2 x ($2.25 + $0.75) / 1e6 = $12
    assert expected == pytest.approx(12.0)

    def horizon(costs: pd.DataFrame) -> pd.Series:
        return costs[costs["period"] == "horizon"].groupby("route")["p50"].sum()

    routes = horizon(mixed["route_costs"]) - horizon(five_minutes["route_costs"])
    assert routes["official_api"] == pytest.approx(expected)
    assert routes["relay_cny"] == pytest.approx(expected / 7.1)
    assert routes["batch_api"] == pytest.approx(expected * (0.7 + 0.3 / 2))
    forecast = mixed["cost_forecast"].query("period == 'horizon'")["p50"].sum()
    assert forecast - five_minutes["cost_forecast"].query("period == 'horizon'")["p50"].sum() == pytest.approx(expected)


def test_the_priced_history_and_the_monitors_prices_pay_the_blend_too(priced):
    mixed, five_minutes = priced
    history = mixed["history_costs"]["observed"].sum() - five_minutes["history_costs"]["observed"].sum()
    assert history == pytest.approx(_extra_usd(len(DAYS) * WRITES_PER_DAY))  # 60 days: $36
    for name in ("model_prices", "monitor_prices"):
        sonnet = mixed[name]["claude-sonnet-4-5"]
        assert sonnet.usd_per_mtok["cache_write_tokens"] == pytest.approx(0.8 * 3.75 + 0.2 * 6.0), name
        assert five_minutes[name]["claude-sonnet-4-5"].usd_per_mtok["cache_write_tokens"] == pytest.approx(3.75)


def test_the_report_states_the_share_per_model_only_where_the_export_has_one_hour_writes(priced):
    mixed, five_minutes = priced
    assert cache_write_mix(mixed["model_prices"]) == [
        {"model": "claude-haiku-4-5", "share": pytest.approx(SHARE), "days": 28},
        {"model": "claude-sonnet-4-5", "share": pytest.approx(SHARE), "days": 28}]
    assert cache_write_mix(five_minutes["model_prices"]) == []
