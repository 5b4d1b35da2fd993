"""Explainability nodes: SHAP values of the forecast, global importance, summary figure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenplan.explanations import global_importance, shap_table, shap_values, summary_figure_from_table
from tokenplan.forecaster import QuantileForecaster


def _forecast_rows(model_input_table: pd.DataFrame) -> pd.DataFrame:
    last = model_input_table[model_input_table["origin"] == model_input_table["origin"].max()]
    return last[~np.isfinite(last["y"])]


def explain_forecast(forecaster: QuantileForecaster, model_input_table: pd.DataFrame,
                     params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SHAP values (with the feature values they explain) for every forecast step, and global importance."""
    rows = _forecast_rows(model_input_table)
    if not isinstance(forecaster, QuantileForecaster):  # too short a history: no model to explain
        rows = rows.iloc[:0]
        values = pd.DataFrame(index=rows.index, dtype=float)
        return shap_table(rows, values), global_importance(values)
    values = shap_values(forecaster, rows, params["quantile"])
    return shap_table(rows, values), global_importance(values)


def plot_shap_summary(shap_values_table: pd.DataFrame, params: dict[str, Any]) -> Figure:
    """SHAP beeswarm of the forecast steps."""
    return summary_figure_from_table(shap_values_table, params["quantile"], params["max_display"])
