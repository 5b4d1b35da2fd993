"""A Console export with long-context rows, read and priced by the wired nodes: its tokens cost the blend.

Every day Sonnet 4.5 has a quarter of its uncached input and a tenth of its output in
``200k-1M`` rows; Haiku 4.5 has long-context rows too, but genai-prices has no tier for
it. The same usage without ``context_window`` (one row a day and model) is priced as
before, at the base tier; with it, the cost forecast, the history and every route pay
the quarter of input at $6 instead of $3 and the tenth of output at $22.50 instead of $15.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.pipelines.planning.console_pricing import OUTPUTS, priced_catalog
from tests.planning.totals_fixture import TOKENS, forecast_totals
from tokenplan.datasets import AnthropicConsoleCSVDataset
from tokenplan.reporting.long_context_mix import long_context_days, long_context_mix

HEADER = ("usage_date_utc,model_version,context_window,usage_input_tokens_no_cache,usage_input_tokens_cache_write_5m,"
          "usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,usage_output_tokens")
MODELS = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")
DAYS = pd.date_range("2026-09-01", "2026-10-30", freq="D")  # the 60 days before the forecast
# Per day and model: (uncached input, cache writes, cache reads, output) in each window.
BASE_ROW = (3_000_000, 1_000_000, 2_000_000, 450_000)
LONG_ROW = (1_000_000, 0, 0, 50_000)
INPUT_SHARE, OUTPUT_SHARE = 0.25, 0.1
# Sonnet 4.5 in genai-prices, USD per MTok: (base, long context) above 200K input tokens.
SONNET_INPUT, SONNET_OUTPUT = (3.0, 6.0), (15.0, 22.5)


def _row(day: pd.Timestamp, model: str, window: str | None, counts: tuple[int, ...]) -> str:
    labels = [f"{day:%Y-%m-%d}", model, *([window] if window else [])]
    uncached, writes, reads, output = counts
    return ",".join([*labels, str(uncached), str(writes), "0", str(reads), str(output)])


def _export(tmp_path: Path, windows: bool) -> AnthropicConsoleCSVDataset:
    lines = [HEADER if windows else HEADER.replace(",context_window", "")]
    summed = tuple(b + lc for b, lc in zip(BASE_ROW, LONG_ROW, strict=True))
    for day in DAYS:
        for model in MODELS:
            lines += ([_row(day, model, "0-200k", BASE_ROW), _row(day, model, "200k-1M", LONG_ROW)] if windows
                      else [_row(day, model, None, summed)])
    path = tmp_path / f"console_{'windows' if windows else 'plain'}.csv"
    path.write_text("\n".join(lines) + "\n")
    return AnthropicConsoleCSVDataset(filepath=str(path))


def _priced(tmp_path: Path, windows: bool) -> dict:
    catalog = priced_catalog(_export(tmp_path, windows))
    return {name: catalog[name].load() for name in OUTPUTS}


@pytest.fixture(scope="module")
def priced(tmp_path_factory) -> tuple[dict, dict]:
    folder = tmp_path_factory.mktemp("console_windows")
    return _priced(folder, True), _priced(folder, False)


def _extra_usd(input_tokens: float, output_tokens: float) -> float:
    """What Sonnet's tokens cost more with their long-context shares at the long-context rates."""
    return (input_tokens * INPUT_SHARE * (SONNET_INPUT[1] - SONNET_INPUT[0])
            + output_tokens * OUTPUT_SHARE * (SONNET_OUTPUT[1] - SONNET_OUTPUT[0])) / 1e6


def _horizon(costs: pd.DataFrame, by: str) -> pd.Series:
    return costs[costs["period"] == "horizon"].groupby(by)["p50"].sum()


def test_without_context_window_the_forecast_is_priced_at_the_base_tier_as_before(priced):
    _, plain = priced
    horizon = forecast_totals().query("period == 'horizon'").set_index("target")["p50"]
    base = {"claude-sonnet-4-5": (3.0, 3.75, 0.3, 15.0), "claude-haiku-4-5": (1.0, 1.25, 0.1, 5.0)}
    expected = {model: sum(horizon[t] * rate / 1e6 for t, rate in zip(TOKENS, rates, strict=True))
                for model, rates in base.items()}
    assert _horizon(plain["cost_forecast"], "series").to_dict() == pytest.approx(expected)
    assert long_context_days(plain["model_prices"]) == 0 and long_context_mix(plain["model_prices"]) == []


def test_the_cost_forecast_p50_of_a_long_context_heavy_series_rises_by_its_share_of_the_tier(priced):
    windows, plain = priced
    horizon = forecast_totals().query("period == 'horizon'").set_index("target")["p50"]
    expected = _extra_usd(horizon["input_tokens"], horizon["output_tokens"])  # 4e8 x .25 x $3 + 6e7 x .1 x $7.5
    assert expected == pytest.approx(345.0)
    rise = _horizon(windows["cost_forecast"], "series") - _horizon(plain["cost_forecast"], "series")
    assert rise.to_dict() == pytest.approx({"claude-sonnet-4-5": expected, "claude-haiku-4-5": 0.0})
    sonnet = windows["model_prices"]["claude-sonnet-4-5"].usd_per_mtok
    assert sonnet["input_tokens"] == pytest.approx(0.75 * 3 + 0.25 * 6)


def test_every_route_and_the_priced_history_pay_the_same_blend(priced):
    windows, plain = priced
    horizon = forecast_totals().query("period == 'horizon'").set_index("target")["p50"]
    expected = _extra_usd(horizon["input_tokens"], horizon["output_tokens"])
    routes = _horizon(windows["route_costs"], "route") - _horizon(plain["route_costs"], "route")
    assert routes["official_api"] == pytest.approx(expected)  # the baseline route is the cost forecast
    assert routes["relay_cny"] == pytest.approx(expected / 7.1)
    assert routes["batch_api"] == pytest.approx(expected * (0.7 + 0.3 / 2))  # batch halves both tiers
    history = windows["history_costs"]["observed"].sum() - plain["history_costs"]["observed"].sum()
    long_input, long_output = (len(DAYS) * (b + lc) for b, lc in zip(BASE_ROW[::3], LONG_ROW[::3], strict=True))
    assert history == pytest.approx(_extra_usd(long_input, long_output))  # 60 days: $202.50


def test_the_report_states_each_models_share_and_whether_it_has_a_tier(priced):
    windows, _ = priced
    assert long_context_days(windows["model_prices"]) == 28
    mix = {m["model"]: m for m in long_context_mix(windows["model_prices"])}
    assert mix["claude-sonnet-4-5"]["tiered"] and mix["claude-sonnet-4-5"]["above"] == "200,000"
    assert mix["claude-sonnet-4-5"]["days"] == 28
    assert [(t["token_type"], t["share"], t["rate"]) for t in mix["claude-sonnet-4-5"]["types"]] == [
        ("input_tokens", pytest.approx(INPUT_SHARE), 6.0), ("output_tokens", pytest.approx(OUTPUT_SHARE), 22.5)]
    assert not mix["claude-haiku-4-5"]["tiered"]  # genai-prices has no tier for it: base rates
