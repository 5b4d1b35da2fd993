"""Point forecasts of every candidate method from one origin, on the same rows.

The plan uses, per series and target, whichever candidate wins on the tuning folds
(``tokenplan.selection``); the backtest grades them all on later folds. Candidates:

- ``xgboost``: the tuned global model (``tokenplan.forecasting.forecaster``), when the history
  supports training it (``tokenplan.forecasting.layout``);
- ``seasonal_naive``: the value one season earlier in phase (raw series, no events);
- ``seasonal_mean``: the mean of the last four same-phase values relative to the
  recent level, on the flat level anchor (stated event effects included): the
  seasonal naive with its noise averaged out;
- ``mstl``: statsforecast's MSTL on ``log1p(y)`` with the seasons the history
  supports and an AutoETS trend (AutoETS alone when there is no season);
- ``ensemble``: the geometric mean (in ``log1p``) of the others but the seasonal naive;
  combinations of simple and learned models were the robust winners of the M4 and M5
  competitions.

All are point forecasts; intervals come from their own out-of-sample errors
(``tokenplan.forecasting.conformal``), the same way for every method. A planner-stated event effect
(``effect`` in the events calendar) is part of the plan whichever method forecasts a
series: the seasonal naive and MSTL, which read the raw series, are multiplied by it at
the target time as XGBoost and the seasonal mean are through their anchors, after the
stated effects of past events are divided out of the history they read (else a campaign
running at the origin would count twice). Without that, an ensemble or a baseline
chosen for a series would quietly drop a planned launch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.backtest import train_until
from tokenplan.forecasting.features import FeatureSpec, feature_columns
from tokenplan.forecasting.forecaster import QuantileForecaster

__all__ = ["METHODS", "candidate_points", "ensemble_members"]

METHODS = ("ensemble", "xgboost", "mstl", "seasonal_mean", "seasonal_naive")
_KEYS = ["series", "target", "origin", "ds", "step", "y"]


def ensemble_members(methods: list[str]) -> list[str]:
    """The methods the ensemble averages: all but the seasonal naive, unless fewer than two remain."""
    members = [m for m in methods if m not in ("ensemble", "seasonal_naive")]
    return members if len(members) >= 2 else [m for m in methods if m != "ensemble"]


def _without_stated_effects(series: pd.DataFrame, examples: pd.DataFrame) -> pd.DataFrame:
    """``series`` with the stated effects of past events divided out (read off the examples,
    where every labelled time carries its ``stated_effect``); times no example covers keep y."""
    if "stated_effect" not in examples or not (examples["stated_effect"] != 0).any():
        return series
    offsets = (examples.astype({"series": str, "target": str})
               .groupby(["series", "target", "ds"])["stated_effect"].first().rename("offset").reset_index())
    merged = series.astype({"series": str, "target": str}).merge(offsets, on=["series", "target", "ds"], how="left")
    return merged.assign(y=merged["y"] * np.exp(-merged["offset"].fillna(0.0))).drop(columns="offset")


def _mstl_points(series: pd.DataFrame, origin: pd.Timestamp, horizon: int, freq: str,
                 seasons: list[int]) -> pd.DataFrame:
    from tokenplan.forecasting.baselines import mstl

    predicted = mstl(series, origin, horizon, freq, [0.5], seasons=seasons)
    return predicted.rename(columns={"p50": "point"})[["series", "target", "ds", "point"]]


def candidate_points(examples: pd.DataFrame, series: pd.DataFrame, origin: pd.Timestamp, spec: FeatureSpec,
                     seasons: list[int], model: QuantileForecaster | None,
                     labelled_only: bool = True) -> pd.DataFrame:
    """Long table ``series, target, origin, ds, step, y, method, point`` for every candidate at ``origin``.

    ``model`` is the XGBoost model fitted on data before ``origin`` (None: not a
    candidate). ``labelled_only`` keeps only rows with a known ``y`` (backtest folds).
    """
    rows = examples[examples["origin"] == origin]
    if labelled_only:
        rows = rows[np.isfinite(rows["y"])]
    base = rows[_KEYS].astype({"series": str, "target": str}).reset_index(drop=True)
    points = {
        "seasonal_naive": rows["seasonal_naive_adjusted"].to_numpy(),
        "seasonal_mean": np.expm1(rows["anchor_level"].to_numpy() + np.nan_to_num(rows["seasonal_index"].to_numpy())),
    }
    if model is not None:
        points["xgboost"] = np.expm1(rows["anchor"].to_numpy() + model.predict_z(rows)[:, 0])
    mstl_points = _mstl_points(_without_stated_effects(series, examples), origin, spec.horizon, spec.freq, seasons)
    merged = base.merge(mstl_points, on=["series", "target", "ds"], how="left")
    points["mstl"] = merged["point"].to_numpy()
    stated = np.exp(rows["stated_effect"].to_numpy()) if "stated_effect" in rows else 1.0
    for raw in ("seasonal_naive", "mstl"):
        points[raw] = points[raw] * stated
    members = ensemble_members(list(points))
    logs = np.stack([np.log1p(np.clip(points[m], 0, None)) for m in members])
    with np.errstate(invalid="ignore"):
        points["ensemble"] = np.expm1(np.nanmean(logs, axis=0))
    frames = [base.assign(method=name, point=np.clip(np.nan_to_num(values, nan=np.nan), 0, None))
              for name, values in points.items()]
    return pd.concat(frames, ignore_index=True)


def fit_for_origin(examples: pd.DataFrame, origin: pd.Timestamp, spec: FeatureSpec, quantiles: list[float],
                   params: dict[str, Any], seed: int) -> QuantileForecaster:
    """The XGBoost model fitted on examples whose target time is at or before ``origin``."""
    return QuantileForecaster(feature_columns(spec), quantiles, params, seed=seed).fit(train_until(examples, origin))
