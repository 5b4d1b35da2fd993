"""Small hand-made run tables for the report and summary tests (two models, one quarter ahead)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from tokenplan.planning.prices import UnitPrices

# The planning stage's tables as the report expects them (issues 10 and 11), spelled out
# here rather than imported, so a change to the expected columns shows in a test.
CAPACITY_COLUMNS = ["model_group", "period", "metric", "p50", "p90", "limit", "headroom_p90",
                    "first_crossing_p50", "first_crossing_p90"]
ROI_COLUMNS = ["route", "one_time_cost_usd", "monthly_saving_p10", "monthly_saving_p50", "monthly_saving_p90",
               "payback_month_p50", "npv_12m_p10", "npv_12m_p50", "npv_12m_p90", "annual_discount_rate"]

MODELS = ("model-a", "model-b")
TARGETS = ("requests", "input_tokens", "output_tokens")
Q = ["p10", "p50", "p90"]
HISTORY_START, HISTORY_END = "2026-06-15", "2026-09-30"
HORIZON = pd.date_range("2026-10-01", "2026-12-30", freq="D")
DAILY = {"requests": 1_000.0, "input_tokens": 2e6, "output_tokens": 1e5}  # per model per day in history
USD_PER_MTOK = {"input_tokens": 3.0, "output_tokens": 15.0, "cache_write_tokens": 3.75, "cache_read_tokens": 0.3}


def prices() -> dict[str, UnitPrices]:
    return {m: UnitPrices(m, "test", dt.date(2026, 10, 1), dict(USD_PER_MTOK), "hand-made") for m in MODELS}


def history() -> pd.DataFrame:
    days = pd.date_range(HISTORY_START, HISTORY_END, freq="D")
    rows = [{"series": m, "target": t, "ds": d, "y": DAILY[t]} for m in MODELS for t in TARGETS for d in days]
    frame = pd.DataFrame(rows)
    # One missing day (an outage) in the last quarter for model-a requests.
    frame.loc[(frame["series"] == "model-a") & (frame["target"] == "requests")
              & (frame["ds"] == "2026-08-01"), "y"] = np.nan
    return frame


def totals(growth: float = 1.1) -> pd.DataFrame:
    """Forecast totals: ``growth`` times the history's daily level, +-10% for P10/P90."""
    rows = []
    for m in MODELS:
        for t in TARGETS:
            for period, days in [*((str(p), HORIZON[HORIZON.to_period("M") == p])
                                   for p in HORIZON.to_period("M").unique()), ("horizon", HORIZON)]:
                p50 = DAILY[t] * growth * len(days)
                rows.append({"series": m, "target": t, "period": period, "start": days.min(), "end": days.max(),
                             "buckets": len(days), "p10": 0.9 * p50, "p50": p50, "p90": 1.1 * p50})
    return pd.DataFrame(rows)


def week_totals(growth: float = 1.0) -> pd.DataFrame:
    """Horizon totals of a 7-day forecast from the horizon's first day at ``growth`` times the daily level."""
    days = HORIZON[:7]
    return pd.DataFrame([{"series": m, "target": t, "period": "horizon", "start": days.min(), "end": days.max(),
                          "buckets": len(days), **{q: DAILY[t] * growth * len(days) * k
                                                   for q, k in zip(Q, (0.9, 1.0, 1.1), strict=True)}}
                         for m in MODELS for t in TARGETS])


def costs(forecast_totals: pd.DataFrame) -> pd.DataFrame:
    priced = forecast_totals[forecast_totals["target"] != "requests"].copy()
    rate = priced["target"].map(USD_PER_MTOK) / 1e6
    for q in Q:
        priced[q] = priced[q] * rate
    return priced.groupby(["series", "period", "start", "end", "buckets"], sort=False)[Q].sum().reset_index()


def backtest(model_mase: float = 1.0, baseline_mase: float = 2.0) -> pd.DataFrame:
    rows = []
    for series in (*MODELS, "all"):
        for t in TARGETS:
            for method, mase in (("chosen", model_mase), ("seasonal_naive", baseline_mase)):
                rows.append({"series": series, "target": t, "method": method, "mase": mase, "wape": 0.1,
                             "pinball": 0.05, "coverage": 0.8 if method == "chosen" else np.nan,
                             "winkler": 0.5, "n": 91})
    return pd.DataFrame(rows)


def capacity_plan(crossing: bool = True) -> pd.DataFrame:
    rows = [
        # model-a ITPM crosses in December at P90 and not at all at P50.
        ("model-a", "horizon", "itpm", 80_000.0, 95_000.0, 90_000.0, -0.056, None, "2026-12" if crossing else None),
        # model-b RPM crosses earlier at P90 (November) and in December at P50.
        ("model-b", "horizon", "rpm", 900.0, 1_100.0, 1_000.0, -0.1, "2026-12" if crossing else None,
         "2026-11" if crossing else None),
        ("model-b", "2026-10", "rpm", 700.0, 800.0, 1_000.0, 0.2, None, None),
        ("model-a", "horizon", "otpm", 5_000.0, 6_000.0, 40_000.0, 0.85, None, None),
    ]
    frame = pd.DataFrame(rows, columns=CAPACITY_COLUMNS)
    if not crossing:
        frame.loc[0, ["p90", "headroom_p90"]] = [85_000.0, 0.056]
        frame.loc[1, ["p90", "headroom_p90"]] = [980.0, 0.02]
    return frame


def roi_summary(paying: bool = True) -> pd.DataFrame:
    rows = [
        ("batch", 2_000.0, 500.0, 800.0, 1_100.0, 3.0, 6_000.0, 7_000.0, 9_000.0, 0.08),
        ("relay", 10_000.0, 900.0, 1_200.0, 1_500.0, 9.0, 2_000.0, 4_000.0, 6_000.0, 0.08),
    ]
    frame = pd.DataFrame(rows, columns=ROI_COLUMNS)
    if not paying:
        frame[["npv_12m_p10", "npv_12m_p50", "npv_12m_p90"]] = [[-9_000.0, -5_000.0, -1_000.0],
                                                                [-12_000.0, -8_000.0, -4_000.0]]
        frame["payback_month_p50"] = np.nan
    return frame
