"""Explainability nodes: SHAP values of the forecast, global importance, summary figure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenplan.explanations import global_importance, shap_values, summary_figure
from tokenplan.forecaster import QuantileForecaster


def _forecast_rows(model_input_table: pd.DataFrame) -> pd.DataFrame:
    last = model_input_table[model_input_table["origin"] == model_input_table["origin"].max()]
    return last[~np.isfinite(last["y"])]


def explain_forecast(forecaster: QuantileForecaster, model_input_table: pd.DataFrame,
                     params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, Figure]:
    """SHAP values of the forecast steps, their global importance and the beeswarm figure."""
    rows = _forecast_rows(model_input_table)
    values = shap_values(forecaster, rows, params["quantile"])
    title = f"What drives the P{round(params['quantile'] * 100)} forecast (SHAP, {len(rows)} forecast steps)"
    figure = summary_figure(values, rows[forecaster.features], params["max_display"], title)
    keyed = pd.concat([rows[["series", "target", "ds"]].astype({"series": str, "target": str}),
                       values.add_prefix("shap_")], axis=1)
    return keyed.reset_index(drop=True), global_importance(values), figure
