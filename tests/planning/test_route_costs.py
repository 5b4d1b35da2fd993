"""Route rates and costs on known arithmetic."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tokenplan.planning.costs import cost_by_period, flat_rates, route_costs
from tokenplan.planning.prices import PRICED_TARGETS
from tokenplan.planning.routes import Pricer, Route, route_rates, routes_that_apply
from tests.planning.totals_fixture import forecast_totals

NAMES = ["p10", "p50", "p90"]
MONTHS = ["2026-11", "2026-12"]  # after genai-prices' first dated batch price (2026-10-14)
OFFICIAL = Route(name="official", kind="official")
RELAY = Route(name="relay", kind="relay", currency="CNY", credit_rate=1.0, fx_rate=7.1, fx_date="2026-11-27",
              fx_source="test")


def _costs(routes: list[Route], series=("claude-sonnet-4-5",), totals=None) -> pd.DataFrame:
    totals = forecast_totals(series) if totals is None else totals
    rates = route_rates(routes, {s: s.split("/")[0] for s in series}, {}, MONTHS, Pricer())
    return route_costs(totals, rates, NAMES)


def _horizon(costs: pd.DataFrame, route: str) -> pd.Series:
    return costs[(costs["route"] == route) & (costs["period"] == "horizon")][NAMES].sum()


def test_the_relay_costs_list_price_times_credit_rate_over_fx():
    costs = _costs([OFFICIAL, RELAY])
    assert np.allclose(_horizon(costs, "relay"), _horizon(costs, "official") * 1.0 / 7.1)


def test_the_relay_fees_and_eligible_share_apply_to_the_moved_traffic_only():
    relay = RELAY.model_copy(update={"fee_share": 0.02, "eligible_share": 0.5})
    costs = _costs([OFFICIAL, relay])
    expected = _horizon(costs, "official") * (0.5 + 0.5 * 1.0 / 7.1 * 1.02)
    assert np.allclose(_horizon(costs, "relay"), expected)


def test_batch_halves_the_cost_of_eligible_traffic():
    full = Route(name="batch", kind="batch", eligible_share=1.0)
    part = Route(name="batch_40", kind="batch", eligible_share=0.4)
    costs = _costs([OFFICIAL, full, part])
    base = _horizon(costs, "official")
    assert np.allclose(_horizon(costs, "batch"), base / 2)
    assert np.allclose(_horizon(costs, "batch_40"), base * (0.6 + 0.4 / 2))


def test_a_batch_rate_that_starts_mid_month_counts_for_the_days_it_is_in_force():
    """genai-prices lists batch rates from 2026-10-14: October's batch route saved nothing when priced on
    its first day alone; now its 18 of 31 days are at batch rates, and the report says so."""
    batch = Route(name="batch", kind="batch", eligible_share=1.0)
    rates = route_rates([OFFICIAL, batch], {"claude-sonnet-4-5": "claude-sonnet-4-5"}, {}, ["2026-10", "2026-11"],
                        Pricer()).set_index(["route", "period", "token_type"])
    october = rates.loc[("batch", "2026-10", "input_tokens"), "usd_per_mtok"]
    standard = rates.loc[("official", "2026-10", "input_tokens"), "usd_per_mtok"]
    assert october == pytest.approx(standard * (13 + 18 / 2) / 31)
    assert rates.loc[("batch", "2026-11", "input_tokens"), "usd_per_mtok"] == pytest.approx(standard / 2)
    note = rates.loc[("batch", "2026-10", "input_tokens"), "note"]
    assert "batch rate in genai-prices from 2026-10-14" in note and "58% of the month's days" in note
    # A forecast that starts on October 21: every day it covers has the batch rate.
    late = route_rates([batch], {"claude-sonnet-4-5": "claude-sonnet-4-5"}, {}, ["2026-10"], Pricer(),
                       {"2026-10": dt.date(2026, 10, 21)}).set_index(["route", "period", "token_type"])
    assert late.loc[("batch", "2026-10", "input_tokens"), "usd_per_mtok"] == pytest.approx(standard / 2)


def test_caching_moves_eligible_input_to_reads_plus_amortised_writes():
    caching = Route(name="cache", kind="caching", eligible_share=0.5, reads_per_write=4)
    rates = route_rates([caching], {"claude-sonnet-4-5": "claude-sonnet-4-5"}, {}, MONTHS[:1], Pricer())
    input_rate = rates.set_index("token_type").loc["input_tokens", "usd_per_mtok"]
    # Sonnet 4.5: 3 / 0.30 / 3.75. Half of today's input read, an eighth written, the rest (3/8) uncached.
    assert input_rate == pytest.approx(0.375 * 3.0 + 0.5 * 0.30 + 0.125 * 3.75)


@pytest.mark.parametrize("model, caching_rate", [("claude-haiku-4-5", 0.66), ("claude-sonnet-4-5", 1.98),
                                                 ("claude-opus-4-5", 3.30)])
def test_the_caching_route_pays_every_token_of_todays_input_once(model, caching_rate):
    """40% of today's uncached input read from the cache, 1 write per 5 reads: 52% stays uncached, 40% is read and
    8% written (the first request of a prefix writes it), so 0.52 x input + 0.40 x read + 0.08 x 5-minute write.
    The route had billed the written 8% twice, as uncached input and as writes (108% of the tokens): Haiku 4.5
    cost $0.74 per MTok of input on it, not $0.66."""
    caching = Route(name="cache", kind="caching", eligible_share=0.4, reads_per_write=5)
    rates = route_rates([OFFICIAL, caching], {model: model}, {}, MONTHS[:1], Pricer())
    rate = rates.set_index(["route", "token_type"])["usd_per_mtok"]
    standard = Pricer().standard(model, dt.date(2026, 11, 1)).usd_per_mtok
    assert rate["cache", "input_tokens"] == pytest.approx(caching_rate)
    assert rate["cache", "input_tokens"] == pytest.approx(0.52 * standard["input_tokens"] + 0.40 * standard[
        "cache_read_tokens"] + 0.08 * standard["cache_write_tokens"])
    for other in ("cache_write_tokens", "cache_read_tokens", "output_tokens"):  # today's other tokens: as they are
        assert rate["cache", other] == rate["official", other]


@pytest.mark.parametrize("share, reads", [(0.9, 1), (0.6, 1), (0.9, 5)])
def test_a_caching_route_cannot_read_and_write_more_than_todays_input(share, reads):
    with pytest.raises(ValueError, match="add up to"):
        Route(name="cache", kind="caching", eligible_share=share, reads_per_write=reads)


def test_every_route_prices_cache_writes_at_the_histories_blend_of_five_minute_and_one_hour_rates():
    """20% of Sonnet's writes kept for 1 hour: 0.8 x $3.75 + 0.2 x $6 = $4.20 per MTok on the official API."""
    batch = Route(name="batch", kind="batch", eligible_share=1.0)
    glob = Route(name="global", kind="reseller", provider="aws",
                 model_ids={"claude-sonnet-4-5": "global.anthropic.claude-sonnet-4-5-20250929-v1:0"})
    caching = Route(name="cache", kind="caching", eligible_share=0.5, reads_per_write=4)
    pricer = Pricer(cache_write_1h_shares={"claude-sonnet-4-5": 0.2}, share_days=28)
    rates = route_rates([OFFICIAL, batch, glob, RELAY, caching], {"claude-sonnet-4-5": "claude-sonnet-4-5"}, {},
                        MONTHS[:1], pricer)
    write = rates[rates["token_type"] == "cache_write_tokens"].set_index("route")["usd_per_mtok"]

    assert write["official"] == pytest.approx(4.2)
    assert write["batch"] == pytest.approx(4.2 / 2)
    assert write["global"] == pytest.approx(4.2)
    assert write["relay"] == pytest.approx(4.2 / 7.1)
    assert write["cache"] == pytest.approx(4.2)  # today's writes still pay the blend on the caching route


@pytest.mark.parametrize("ttl, write", [("5m", 3.75), ("1h", 6.0)])
def test_the_caching_route_writes_at_its_own_ttl_whatever_the_histories_share(ttl, write):
    caching = Route(name="cache", kind="caching", eligible_share=0.5, reads_per_write=4, cache_write_ttl=ttl)
    series = {"claude-sonnet-4-5": "claude-sonnet-4-5"}
    for share in (0.0, 0.2, 1.0):
        pricer = Pricer(cache_write_1h_shares={"claude-sonnet-4-5": share}, share_days=28)
        rates = route_rates([caching], series, {}, MONTHS[:1], pricer).set_index("token_type")["usd_per_mtok"]
        assert rates["input_tokens"] == pytest.approx(0.375 * 3.0 + 0.5 * 0.30 + 0.125 * write), share
    unshared = route_rates([caching], series, {}, MONTHS[:1], Pricer(cache_write_1h_shares={}, share_days=28))
    assert unshared.equals(route_rates([caching], series, {}, MONTHS[:1], Pricer()))  # s = 0: as before


def test_a_reseller_global_id_costs_list_and_a_regional_id_ten_percent_more():
    ids = {"claude-sonnet-4-5": "{}.anthropic.claude-sonnet-4-5-20250929-v1:0"}
    glob = Route(name="global", kind="reseller", provider="aws", model_ids={k: v.format("global") for k, v in ids.items()})
    eu = Route(name="eu", kind="reseller", provider="aws", model_ids={k: v.format("eu") for k, v in ids.items()})
    costs = _costs([OFFICIAL, glob, eu])
    assert np.allclose(_horizon(costs, "global"), _horizon(costs, "official"))
    assert np.allclose(_horizon(costs, "eu"), _horizon(costs, "official") * 1.1)


def test_intervals_are_ordered_for_every_route_model_and_period():
    routes = [OFFICIAL, RELAY, Route(name="batch", kind="batch", eligible_share=0.3),
              Route(name="cache", kind="caching", eligible_share=0.6, reads_per_write=2)]
    costs = _costs(routes, series=("claude-sonnet-4-5", "gpt-4o-2024-08-06", "claude-haiku-4-5/team-a"))
    assert (costs["p10"] <= costs["p50"]).all() and (costs["p50"] <= costs["p90"]).all()


def test_the_baseline_route_reproduces_the_per_series_cost_table():
    series = ("claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o-2024-08-06")
    totals = forecast_totals(series)
    pricer = Pricer()
    when = pd.Period(MONTHS[0], "M").start_time.date()
    today = cost_by_period(totals, flat_rates({s: pricer.standard(s, when) for s in series}, totals), NAMES)
    ours = _costs([OFFICIAL], series=series, totals=totals)
    merged = today.rename(columns={"series": "model"}).merge(ours, on=["model", "period"], suffixes=("", "_route"))
    assert len(merged) == len(today) == 3 * 3
    for name in NAMES:
        assert np.allclose(merged[name], merged[f"{name}_route"])


def test_a_model_without_a_price_is_left_out_of_every_route():
    costs = _costs([OFFICIAL, RELAY], series=("claude-sonnet-4-5", "our-finetune"))
    assert set(costs["model"]) == {"claude-sonnet-4-5"}
    assert len(costs) == 2 * 3  # routes x (two months + horizon)
    assert set(PRICED_TARGETS) <= set(forecast_totals()["target"])


def test_a_batch_tier_series_is_priced_at_batch_rates_on_the_baseline():
    series = {"claude-sonnet-4-5/standard": "claude-sonnet-4-5", "claude-sonnet-4-5/batch": "claude-sonnet-4-5"}
    tiers = {"claude-sonnet-4-5/standard": "standard", "claude-sonnet-4-5/batch": "batch"}
    rates = route_rates([OFFICIAL], series, tiers, MONTHS[:1], Pricer())
    output = rates[rates["token_type"] == "output_tokens"].set_index("series")["usd_per_mtok"]
    assert output["claude-sonnet-4-5/standard"] == pytest.approx(15.0)
    assert output["claude-sonnet-4-5/batch"] == pytest.approx(7.5)


def test_a_route_that_moves_none_of_the_traffic_does_not_apply():
    # An OpenAI user's Bedrock route: no model offered at aws, every series stays on the
    # official API, so the route is no candidate (its NPV would be minus its one-time cost).
    # Bedrock's global ids at today's price do move the traffic: paying to move for nothing
    # is an answer, not "does not apply".
    glob = Route(name="glob", kind="reseller", provider="aws",
                 model_ids={"claude-sonnet-4-5": "global.anthropic.claude-sonnet-4-5-20250929-v1:0"})
    openai = route_rates([OFFICIAL, glob], {"gpt-4.1": "gpt-4.1"}, {}, MONTHS[:1], Pricer())
    claude = route_rates([OFFICIAL, glob], {"claude-sonnet-4-5": "claude-sonnet-4-5"}, {}, MONTHS[:1], Pricer())
    assert routes_that_apply(openai) == {"official": True, "glob": False}
    assert routes_that_apply(claude) == {"official": True, "glob": True}
    mixed = route_rates([glob], {"gpt-4.1": "gpt-4.1", "claude-sonnet-4-5": "claude-sonnet-4-5"}, {}, MONTHS[:1],
                        Pricer())
    assert routes_that_apply(mixed) == {"glob": True}


def test_a_reseller_says_whether_the_route_maps_no_id_or_genai_prices_has_no_price_for_it():
    series = {"claude-sonnet-4-5": "claude-sonnet-4-5"}
    unmapped = Route(name="aws", kind="reseller", provider="aws", model_ids={})
    unpriced = Route(name="aws", kind="reseller", provider="aws", model_ids={"claude-sonnet-4-5": "no-such-id"})
    notes = [route_rates([r], series, {}, MONTHS[:1], Pricer())["note"].iloc[0] for r in (unmapped, unpriced)]
    assert "no aws model id for it in the route's model_ids (planning.routes): stays on the official API" in notes[0]
    assert "no aws price for no-such-id in genai-prices: stays on the official API" in notes[1]
