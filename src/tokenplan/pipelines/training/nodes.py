"""Training nodes: tune, backtest against baselines, fit the final model, forecast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.backtest import fold_origins, mstl_rows, run_backtest, score_backtest, tuning_origins
from tokenplan.features import feature_columns, spec_from_params, with_trend
from tokenplan.forecaster import QuantileForecaster, quantile_columns
from tokenplan.totals import period_totals
from tokenplan.tuning import study_name, tune


def _ensure_sqlite_folder(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def tune_hyperparameters(model_input_table: pd.DataFrame, fe_params: dict[str, Any],
                         params: dict[str, Any]) -> dict[str, Any]:
    """Best XGBoost params from an Optuna study whose validation windows end before the backtest's first origin."""
    spec = spec_from_params(fe_params)
    tuning, backtest = params["tuning"], params["backtest"]
    backtest_folds = fold_origins(model_input_table, spec, backtest["folds"], backtest["step"])
    origins = tuning_origins(model_input_table, spec, backtest_folds, tuning["folds"], tuning["step"])
    _ensure_sqlite_folder(tuning["storage_url"])
    name = study_name(tuning["study_prefix"], model_input_table, spec, origins, params["objective"])
    return tune(model_input_table, spec, params["quantiles"], origins, tuning["storage_url"], name,
                tuning["n_trials"], tuning.get("timeout_seconds"), seed=params["seed"],
                fixed_params={"objective": params["objective"]})


def _model_params(best_params: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    tuned = {k: v for k, v in best_params.items()
             if k not in ("study_name", "best_value", "n_trials", "trend", "trend_losses")}
    return {**tuned, "objective": params["objective"]}


def backtest_forecaster(model_input_table: pd.DataFrame, target_series: pd.DataFrame, fe_params: dict[str, Any],
                        params: dict[str, Any], best_params: dict[str, Any]) -> tuple[pd.DataFrame, dict, dict]:
    """Out-of-sample predictions of the model and baselines, calibration offsets, and the trend used.

    The trend anchor is the one tuning chose (on folds before the backtest; see
    ``tokenplan.tuning``), so the backtest grades exactly the configuration that is
    deployed. ``model_selection`` records it and each anchor's best tuning loss.
    """
    spec = spec_from_params(fe_params)
    origins = fold_origins(model_input_table, spec, params["backtest"]["folds"], params["backtest"]["step"])
    baselines = tuple(params["backtest"]["baselines"])
    trend = best_params.get("trend", "local_linear" if spec.trend == "auto" else spec.trend)
    table, offsets = run_backtest(with_trend(model_input_table, trend), spec, params["quantiles"],
                                  _model_params(best_params, params), origins, seed=params["seed"],
                                  baselines=tuple(b for b in baselines if b != "mstl"))
    if "mstl" in baselines:
        model_rows = table[table["method"] == "xgboost"]
        table = pd.concat([table, mstl_rows(model_rows, target_series, spec, params["quantiles"])],
                          ignore_index=True)
    return table, offsets, {"trend": trend, "chosen_on": "tuning folds",
                            "tuning_pinball": best_params.get("trend_losses", {})}


def evaluate_backtest(backtest_predictions: pd.DataFrame, target_series: pd.DataFrame,
                      fe_params: dict[str, Any], params: dict[str, Any]) -> pd.DataFrame:
    """MASE, WAPE, pinball, coverage and Winkler per series, target and method."""
    return score_backtest(backtest_predictions, target_series, spec_from_params(fe_params), params["quantiles"])


def train_forecaster(model_input_table: pd.DataFrame, fe_params: dict[str, Any], params: dict[str, Any],
                     best_params: dict[str, Any], model_selection: dict[str, Any]) -> QuantileForecaster:
    """The final model, fit on every labelled example with the chosen trend anchor."""
    spec = spec_from_params(fe_params)
    model = QuantileForecaster(feature_columns(spec), params["quantiles"], _model_params(best_params, params),
                               seed=params["seed"])
    return model.fit(with_trend(model_input_table, model_selection["trend"]))


def predict_forecast(forecaster: QuantileForecaster, model_input_table: pd.DataFrame,
                     quantile_offsets: dict[str, list[float]], model_selection: dict[str, Any]) -> pd.DataFrame:
    """The forecast table: ``series, target, timestamp`` (bucket start, UTC), one column per quantile.

    Every step after the last origin, with calibrated quantiles; ``step`` (buckets after
    the origin) and ``origin`` (the last observed bucket) follow.
    """
    examples = with_trend(model_input_table, model_selection["trend"])
    future = examples[examples["origin"] == examples["origin"].max()]
    future = future[~np.isfinite(future["y"])]
    quantiles = forecaster.predict(future, quantile_offsets)
    out = future[["series", "target", "ds", "step", "origin"]].astype({"series": str, "target": str})
    out = out.rename(columns={"ds": "timestamp"})
    for column in ("timestamp", "origin"):
        out[column] = out[column].dt.tz_localize("UTC")
    out = pd.concat([out, quantiles], axis=1).reset_index(drop=True)
    names = quantile_columns(forecaster.quantiles)
    return out[["series", "target", "timestamp", *names, "step", "origin"]]


def forecast_totals(forecast: pd.DataFrame, backtest_predictions: pd.DataFrame,
                    params: dict[str, Any]) -> pd.DataFrame:
    """Monthly and whole-horizon totals with intervals from backtested errors of totals."""
    return period_totals(forecast, backtest_predictions, params["quantiles"])
