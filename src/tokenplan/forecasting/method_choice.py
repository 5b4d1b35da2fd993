"""Every candidate backtested, the best one chosen per series on the tuning folds only.

Folds come from the layout (``tokenplan.forecasting.layout``): tuning folds first, backtest folds
after them. At every fold origin each candidate (``tokenplan.forecasting.candidates``) forecasts
from the history before it. Per series and target, the method with the lowest mean
absolute error on the **tuning** folds is chosen (the ensemble unless another method
beats it by ``margin``: with one or two folds the choice is noisy, and a combination
is the safer default). The backtest folds, which never influence the choice, then grade
every candidate and the chosen one (method ``chosen``).

Intervals are calibrated the same way for every method, from its own out-of-sample
errors in ``log1p`` space (``tokenplan.forecasting.conformal.fit_step_widths``): a fold's
intervals use the errors of the other folds only (cross-conformal), the final
forecast's use all folds. The tuning folds' XGBoost errors come from the tuned
hyperparameters, so they are slightly optimistic; the backtest folds' are not.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.candidates import METHODS, candidate_points, fit_for_origin
from tokenplan.forecasting.conformal import fit_step_widths, noise_scales, step_bins, step_offsets
from tokenplan.forecasting.features import FeatureSpec
from tokenplan.forecasting.forecaster import quantile_columns
from tokenplan import progress

logger = logging.getLogger(__name__)

__all__ = ["apply_intervals", "backtest_candidates", "choose_methods", "fit_method_widths"]


def choose_methods(points: pd.DataFrame, margin: float = 0.05) -> dict[str, str]:
    """``series|target`` -> the method with the lowest tuning-fold MAE (the ensemble within ``margin``)."""
    tuning = points[(points["role"] == "tuning") & np.isfinite(points["y"]) & np.isfinite(points["point"])]
    mae = (tuning.assign(err=(tuning["y"] - tuning["point"]).abs())
           .groupby(["series", "target", "method"])["err"].mean().unstack("method"))
    chosen = {}
    for (series, target), row in mae.iterrows():
        row = row.dropna()
        if row.empty:
            continue
        order = sorted(row.index, key=lambda m: (row[m], METHODS.index(m)))
        best = order[0]
        if "ensemble" in row.index and row["ensemble"] <= row[best] * (1 + margin):
            best = "ensemble"
        chosen[f"{series}|{target}"] = best
    return chosen


def _errors(points: pd.DataFrame) -> pd.DataFrame:
    rows = points[np.isfinite(points["y"]) & np.isfinite(points["point"])]
    return rows.assign(e=np.log1p(rows["y"]) - np.log1p(rows["point"]))


def fit_method_widths(points: pd.DataFrame, quantiles: list[float], scales: dict[str, float],
                      edges: list[int]) -> dict[str, dict]:
    """Per method, step-dependent interval offsets from all its fold errors in ``points``."""
    errors = _errors(points)
    return {method: fit_step_widths(group, quantiles, scales, edges)
            for method, group in errors.groupby("method")}


def apply_intervals(rows: pd.DataFrame, widths: dict, quantiles: list[float]) -> pd.DataFrame:
    """``rows`` (with ``point``) plus one column per quantile: ``expm1(log1p(point) + offset)``."""
    names = quantile_columns(quantiles)
    shift = step_offsets(widths, rows["series"], rows["target"], rows["step"])
    values = np.clip(np.expm1(np.log1p(rows["point"].to_numpy())[:, None] + shift), 0, None)
    out = rows.copy()
    out[names] = np.sort(values, axis=1)
    return out


def backtest_candidates(examples: pd.DataFrame, series: pd.DataFrame, spec: FeatureSpec, layout: dict[str, Any],
                        quantiles: list[float], params: dict[str, Any] | None, seed: int = 0,
                        margin: float = 0.05) -> tuple[pd.DataFrame, dict[str, str], dict[str, dict]]:
    """Every candidate at every fold, the per-series choice, and each method's offsets from all folds.

    Returns the long table ``series, target, origin, ds, step, y, method, role, point, p..``
    (``role``: tuning or backtest; ``method`` includes ``chosen``), the choice
    (``series|target`` -> method) and the offsets the final forecast uses.
    ``params`` are XGBoost's (None when the layout trains no model).
    """
    folds = ([(pd.Timestamp(o), "tuning") for o in layout["tuning_origins"]]
             + [(pd.Timestamp(o), "backtest") for o in layout["backtest_origins"]])
    frames = []
    for origin, role in progress.track(folds, "backtest folds"):
        model = fit_for_origin(examples, origin, spec, quantiles, params, seed) if params is not None else None
        points = candidate_points(examples, series, origin, spec, layout["seasons"], model)
        # A fold is its window: later labels of a tuning fold lie inside the backtest
        # windows, and later labels of a backtest fold inside the next fold's.
        points = points[points["step"] <= layout["window"]]
        frames.append(points.assign(role=role))
    points = pd.concat(frames, ignore_index=True)
    chosen = choose_methods(points, margin)
    keys = points["series"] + "|" + points["target"]
    picked = points[points["method"] == keys.map(chosen)].assign(method="chosen")
    points = pd.concat([points, picked], ignore_index=True)
    scales = noise_scales(examples, spec.season)
    edges = step_bins(layout["window"], spec.season)
    calibrated = []
    for origin, fold in points.groupby("origin"):
        others = points[points["origin"] != origin]
        widths = fit_method_widths(others if len(others) else fold, quantiles, scales, edges)
        for method, rows in fold.groupby("method"):
            if method in widths:
                calibrated.append(apply_intervals(rows, widths[method], quantiles))
    table = pd.concat(calibrated, ignore_index=True)
    final = fit_method_widths(points, quantiles, scales, edges)
    return table, chosen, final
