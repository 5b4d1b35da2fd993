"""Tokens per request: a model's requests and tokens forecasts that disagree are put on one growth path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.token_ratios import ratio_drifts, reconcile_token_ratios

Q = ["p10", "p50", "p90"]
DAYS = pd.date_range("2026-06-01", "2026-09-30")
AHEAD = pd.date_range("2026-10-01", "2026-12-31", tz="UTC")


def _history(per_request: dict[str, np.ndarray | float]) -> pd.DataFrame:
    rows = [pd.DataFrame({"series": "sonnet", "target": "requests", "ds": DAYS, "y": 1_000.0})]
    rows += [pd.DataFrame({"series": "sonnet", "target": t, "ds": DAYS, "y": 1_000.0 * np.asarray(r) * np.ones(len(DAYS))})
             for t, r in per_request.items()]
    return pd.concat(rows, ignore_index=True)


def _forecast(growth: dict[str, float], level: dict[str, float]) -> pd.DataFrame:
    """Each target at ``level`` growing by ``growth`` a month, P10/P90 at 0.8/1.3 of the P50."""
    months = np.arange(len(AHEAD)) / 30.5
    rows = [pd.DataFrame({"series": "sonnet", "target": t, "timestamp": AHEAD,
                          "p50": level[t] * (1 + g) ** months}) for t, g in growth.items()]
    frame = pd.concat(rows, ignore_index=True)
    return frame.assign(p10=0.8 * frame["p50"], p90=1.3 * frame["p50"])


def test_requests_and_tokens_that_disagree_share_their_growth_and_keep_their_ratio():
    # Requests +9% a month (one method), input tokens +1% (another): the forecast implied
    # prompts shrinking from 2,500 tokens a request, which the flat history never showed.
    history = _history({"input_tokens": 2_500.0, "output_tokens": 600.0})
    forecast = _forecast({"requests": 0.09, "input_tokens": 0.01, "output_tokens": 0.05},
                         {"requests": 1_000.0, "input_tokens": 2.5e6, "output_tokens": 6e5})
    assert ratio_drifts(history, forecast, "p50").set_index("target")["drifts"].to_dict() == {
        "input_tokens": True, "output_tokens": False}

    pooled, records = reconcile_token_ratios(forecast, history, Q)

    wide = pooled.pivot(index="timestamp", columns="target", values="p50")
    common = (1.09 * 1.01 * 1.05) ** (1 / 3)  # the geometric mean of the three growths
    months = np.arange(len(AHEAD)) / 30.5
    assert wide["requests"].to_numpy() == pytest.approx(1_000.0 * common ** months)
    assert (wide["input_tokens"] / wide["requests"]).to_numpy() == pytest.approx(2_500.0)
    assert (wide["output_tokens"] / wide["requests"]).to_numpy() == pytest.approx(600.0)
    assert (pooled["p90"] / pooled["p50"]).to_numpy() == pytest.approx(1.3)  # widths move with the P50
    assert records[0]["series"] == "sonnet" and records[0]["drifts"][0]["target"] == "input_tokens"
    assert not ratio_drifts(history, pooled, "p50")["drifts"].any()


def test_a_ratio_the_history_moves_keeps_its_own_forecast_and_steady_ones_are_left_alone():
    # Prompts that grew 10% a month may keep growing: no drift, nothing pooled.
    growing = 2_000.0 * 1.1 ** ((DAYS - DAYS[0]).days / 30.5)
    history = _history({"input_tokens": growing})
    forecast = _forecast({"requests": 0.0, "input_tokens": 0.1}, {"requests": 1_000.0, "input_tokens": 2.6e6})
    pooled, records = reconcile_token_ratios(forecast, history, Q)
    assert records == [] and pooled.equals(forecast)
    # Coherent forecasts of a flat ratio are left exactly as they are.
    history = _history({"input_tokens": 2_500.0})
    forecast = _forecast({"requests": 0.05, "input_tokens": 0.05}, {"requests": 1_000.0, "input_tokens": 2.5e6})
    pooled, records = reconcile_token_ratios(forecast, history, Q)
    assert records == [] and pooled.equals(forecast)


def test_a_sparse_model_is_not_read():
    # About one request a day: its P50s are medians of zeros and ones, its ratios say nothing.
    history = _history({"input_tokens": 2_500.0}).assign(y=lambda h: h["y"] / 1_000.0)
    forecast = _forecast({"requests": 0.0, "input_tokens": 0.0}, {"requests": 1.0, "input_tokens": 900.0})
    pooled, records = reconcile_token_ratios(forecast, history, Q)
    assert records == [] and pooled.equals(forecast) and ratio_drifts(history, forecast, "p50").empty
