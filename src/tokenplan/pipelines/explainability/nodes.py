"""Explainability nodes: SHAP values of the forecast, global importance, the per-month drivers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.explanations import (
    forecast_drivers,
    global_importance,
    shap_bias,
    shap_sample,
    shap_table,
    shap_values,
    with_plan,
)
from tokenplan.forecasting.features import with_trend
from tokenplan.forecasting.forecaster import NoModel, QuantileForecaster, quantile_columns
from tokenplan.forecasting.migrations import split_migrations

# Forecast steps SHAP explains at most (``explainability.max_rows``): above it, a seeded sample of whole
# series-targets (exact TreeSHAP costs about a millisecond a step: 455,000 steps at 1,000 series).
DEFAULT_MAX_ROWS = 20_000


def _forecast_rows(model_input_table: pd.DataFrame, model_selection: dict[str, Any]) -> pd.DataFrame:
    last = model_input_table[model_input_table["origin"] == model_input_table["origin"].max()]
    return with_trend(last[~np.isfinite(last["y"])], model_selection["trend"])


def explain_forecast(forecaster: QuantileForecaster | NoModel, model_input_table: pd.DataFrame,
                     events_calendar: pd.DataFrame, model_selection: dict[str, Any], params: dict[str, Any],
                     forecast: pd.DataFrame, forecast_layout: dict[str, Any], migrations: pd.DataFrame | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """SHAP values (with the feature values they explain) for every forecast step, global
    importance, and the per-month driver breakdown of the plan's forecast (``forecast``: what happened
    to the model's output after the model is a driver of its own, ``with_plan``).

    Above ``max_rows`` steps, SHAP values and importance are those of a sample of whole series-targets
    drawn with ``seed`` (``shap_sample``); the drivers table has every series-target's forecast, level,
    growth and stated effects, and the learned drivers of those in the sample.

    Only the series and targets the plan forecasts with the tuned model are explained:
    the others are forecast by a simple method (or an ensemble) whose drivers SHAP does
    not describe. Without a trained model the three tables are empty.
    """
    quantile = params["quantile"]
    rows = _forecast_rows(model_input_table, model_selection)
    keys = rows["series"].astype(str) + "|" + rows["target"].astype(str)
    rows = rows[keys.map(model_selection.get("methods", {})).eq("xgboost").to_numpy()]
    if isinstance(forecaster, QuantileForecaster) and not rows.empty:
        rows = with_plan(rows, forecast, _plan_column(forecast, quantile), migrations)
    if not isinstance(forecaster, QuantileForecaster) or rows.empty:
        empty = pd.DataFrame(index=rows.index[:0], dtype=float)
        drivers = pd.DataFrame(columns=["series", "target", "period", "driver", "kind", "effect", "volume"])
        return shap_table(rows.iloc[:0], empty), global_importance(empty, rows.iloc[:0]), drivers
    sample = shap_sample(rows, int(params.get("max_rows", DEFAULT_MAX_ROWS)), int(params.get("seed", 0)))
    explained = rows[sample]
    values = shap_values(forecaster, explained, quantile)
    bias = shap_bias(forecaster, rows, quantile)
    margin = None
    if not sample.all():
        column = forecaster.quantiles.index(quantile) if quantile in forecaster.quantiles else 0
        margin = forecaster.predict_z(rows)[:, column]
    drivers = forecast_drivers(rows, values, bias, events_calendar, forecast_layout["freq"], margin,
                               forecast_layout.get("season"))
    drivers = split_migrations(drivers, migrations, ["volume"])
    return shap_table(explained, values), global_importance(values, explained), drivers


def _plan_column(forecast: pd.DataFrame, quantile: float) -> str:
    """The forecast's column of ``quantile``, or its median where it has none."""
    name = quantile_columns([quantile])[0]
    return name if name in forecast else quantile_columns([0.5])[0]
