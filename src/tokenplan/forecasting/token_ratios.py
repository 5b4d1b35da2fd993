"""Tokens per request: a model's forecasts of requests and of tokens tell one story.

Each (series, target) gets its own method (``tokenplan.forecasting.method_choice``), so a
model's requests can be forecast by XGBoost at +28% while its input tokens, by the
ensemble, grow 12%: the forecast then implies its prompts shrink from 2,560 tokens a
request to 2,010 in three months, which the history never showed, and the capacity plan
(requests per minute) and the costs (tokens) assume different growth for the same
traffic. Each target's forecast is an estimate of the same traffic's growth; where they
disagree beyond what the history allows, the plan pools them.

**When.** A series' token target *drifts* when its P50 tokens per request in some
forecast month is further from the last 28 days' than ``max(min_change, swings x`` the
largest month-to-month move of that ratio over the last ``months`` whole months ``)``: a
ratio the history moves (caching switched on, longer prompts) may keep moving, a flat one
should stay flat. A series with a drifting target is *reconciled*. Only a busy series is read
(at least ``MIN_REQUESTS`` requests a bucket over the last 28 days, none idle): a sparse
model's P50s are medians of mostly zeros and ones, and their ratios mean nothing.

**How.** Over the series' *steady* targets (requests, and each token target whose ratio's
largest monthly move is under ``min_change / swings``), each bucket's growth is the
geometric mean of the targets' P50 over their own level (the last 28 days' mean bucket);
each steady target's P50 becomes its level times that growth, and its other quantiles
move with its P50 (same relative width). The targets then share one growth path, and
their ratios stay at the last 28 days'. A target whose ratio the history moves keeps its
own forecast. On an audit's file (three models, a migration, daily), nine series-targets
drifted 15-23% over a quarter; the truth grew between their two readings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tokenplan.schemas import naive_utc

__all__ = ["ratio_drifts", "reconcile_token_ratios"]

MIN_CHANGE = 0.10  # a 10% drift in tokens per request over the horizon is always a disagreement
SWINGS = 3.0
MONTHS = 3
RECENT_DAYS = 28
MIN_REQUESTS = 20  # a bucket's requests, on average over the last 28 days, for its ratios to be read


def _history_ratio(past: pd.DataFrame, target: str, months: int) -> tuple[float, float] | None:
    """(the last 28 days' ``target`` per request, the largest month-to-month log move of that ratio over
    ``months`` whole months); None without two whole months or without usage."""
    rows = past[["ds", target, "requests"]].dropna()
    if rows.empty:
        return None
    recent = rows[rows["ds"] > rows["ds"].max() - pd.Timedelta(days=RECENT_DAYS)]
    if recent["requests"].sum() <= 0 or recent[target].sum() <= 0:
        return None
    monthly = rows.groupby(rows["ds"].dt.to_period("M"))[[target, "requests"]].sum().iloc[1:-1]  # ends may be partial
    monthly = monthly[(monthly["requests"] > 0) & (monthly[target] > 0)].tail(months + 1)
    if len(monthly) < 2:
        return None
    swing = float(np.abs(np.diff(np.log(monthly[target] / monthly["requests"]))).max())
    return float(recent[target].sum() / recent["requests"].sum()), swing


def _busy(past: pd.DataFrame) -> bool:
    """Whether the last 28 days' requests are busy enough for a bucket's P50 to track its mean: at least
    ``MIN_REQUESTS`` a bucket and none idle. A model used about once a day has P50s that are medians
    of mostly zeros and ones, whose ratios say nothing of its tokens per request (pooled, its P50 fell
    to 0.4 of its level)."""
    recent = past.loc[past["ds"] > past["ds"].max() - pd.Timedelta(days=RECENT_DAYS), "requests"].dropna()
    return bool(len(recent) and recent.mean() >= MIN_REQUESTS and (recent > 0).all())


def _wide(frame: pd.DataFrame, time: str, value: str) -> pd.DataFrame:
    return frame.pivot_table(index=["series", time], columns="target", values=value, aggfunc="sum", dropna=False)


def ratio_drifts(history: pd.DataFrame, forecast: pd.DataFrame, median: str, min_change: float = MIN_CHANGE,
                 swings: float = SWINGS, months: int = MONTHS) -> pd.DataFrame:
    """Per series and token target: ``recent`` and ``swing`` (history), the forecast month whose tokens per
    request is furthest from ``recent`` (``month``, ``forecast``, ``change``), and whether it ``drifts``;
    the largest drift first."""
    columns = ["series", "target", "recent", "swing", "month", "forecast", "change", "drifts", "steady"]
    if not {"requests"} <= set(forecast["target"]):
        return pd.DataFrame(columns=columns)
    past = _wide(history, "ds", "y")
    future = forecast.assign(month=naive_utc(forecast["timestamp"]).dt.to_period("M"))
    future = _wide(future, "month", median)
    rows = []
    for series in sorted(set(past.index.get_level_values(0)) & set(future.index.get_level_values(0))):
        mine, ahead = past.loc[series].reset_index(), future.loc[series]
        if "requests" not in mine or "requests" not in ahead or not _busy(mine):
            continue
        for target in [t for t in ahead.columns if t != "requests" and t in mine]:
            read = _history_ratio(mine, target, months)
            ratios = (ahead[target] / ahead["requests"]).replace([np.inf, -np.inf], np.nan).dropna()
            if read is None or ratios.empty or (ratios <= 0).any():
                continue
            recent, swing = read
            moves = np.log(ratios / recent)
            worst = moves.abs().idxmax()
            rows.append({"series": series, "target": target, "recent": recent, "swing": float(np.expm1(swing)),
                         "month": str(worst), "forecast": float(ratios[worst]), "change": float(np.expm1(moves[worst])),
                         "drifts": bool(abs(moves[worst]) > max(np.log1p(min_change), swings * swing)),
                         "steady": bool(swings * swing < np.log1p(min_change))})
    drifts = pd.DataFrame(rows, columns=columns)
    return drifts.iloc[np.argsort(-drifts["change"].abs().to_numpy(dtype=float), kind="stable")].reset_index(drop=True)


def reconcile_token_ratios(forecast: pd.DataFrame, history: pd.DataFrame, quantile_names: list[str],
                           min_change: float = MIN_CHANGE) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``forecast`` with each drifting series' steady targets on one growth path (module docstring), and a
    record per reconciled series: ``series``, ``targets`` and the drifts found before (``ratio_drifts`` rows)."""
    median = quantile_names[len(quantile_names) // 2]
    drifts = ratio_drifts(history, forecast, median, min_change)
    if drifts.empty or not drifts["drifts"].any():
        return forecast, []
    out, records = forecast.copy(), []
    for series, found in drifts.groupby("series", sort=True):
        if not found["drifts"].any():
            continue
        targets = ["requests", *found.loc[found["steady"], "target"]]
        if len(targets) < 2:
            continue
        rows = out["series"].eq(series) & out["target"].isin(targets)
        levels = _levels(history[history["series"] == series], targets)
        if levels is None:
            continue
        p50 = out.loc[rows].pivot(index="timestamp", columns="target", values=median)[targets]
        growth = np.exp(np.log((p50 / levels).clip(lower=1e-12)).mean(axis=1))
        factor = (growth.to_numpy()[:, None] * levels.to_numpy()[None, :]) / p50.to_numpy()
        factor = pd.DataFrame(np.where(p50.to_numpy() > 0, factor, 1.0), index=p50.index,
                              columns=pd.Index(targets, name="target"))
        keyed = factor.stack().rename("factor").reset_index()
        scale = out.loc[rows, ["timestamp", "target"]].merge(keyed, on=["timestamp", "target"], how="left")["factor"]
        out.loc[rows, quantile_names] = out.loc[rows, quantile_names].to_numpy() * scale.fillna(1.0).to_numpy()[:, None]
        records.append({"series": series, "targets": targets,
                        "drifts": found[found["drifts"]].drop(columns=["drifts", "steady"]).to_dict("records")})
    return out, records


def _levels(history: pd.DataFrame, targets: list[str]) -> pd.Series | None:
    """Each target's mean bucket over the last 28 days (None where one has no usage)."""
    recent = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=RECENT_DAYS)]
    levels = recent.groupby("target")["y"].mean().reindex(targets)
    return levels if bool((levels > 0).all()) else None
