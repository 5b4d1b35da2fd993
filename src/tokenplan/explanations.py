"""SHAP explanations of the forecaster: what drives each forecast quantile.

Values are exact TreeSHAP computed by XGBoost itself (``pred_contribs=True``: the same
values as ``shap.TreeExplainer``, and it accepts the categorical series/target columns
that TreeExplainer's own DMatrix conversion rejects); the ``shap`` package draws the
beeswarm. For a multi-quantile booster there is one set per quantile and we explain
one (the median by default). Values are in the model's output space: the log-ratio ``z``
of usage to its trend anchor, so a SHAP value of +0.1 means "about 10% above trend".
The trend anchor itself (level and growth at the origin) is not part of the tree and
so carries no SHAP value; the report states this.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from matplotlib.figure import Figure

from tokenplan.forecaster import QuantileForecaster

__all__ = ["global_importance", "shap_table", "shap_values", "summary_figure", "summary_figure_from_table"]

_SHAP, _VALUE = "shap_", "value_"


def shap_values(forecaster: QuantileForecaster, examples: pd.DataFrame, quantile: float) -> pd.DataFrame:
    """SHAP values (rows x features) of the ``quantile`` output for ``examples``."""
    matrix = forecaster._matrix(examples, label=False)
    contributions = np.asarray(forecaster.booster_.predict(matrix, pred_contribs=True))
    if contributions.ndim == 3:  # (n, quantiles, features + 1)
        contributions = contributions[:, forecaster.quantiles.index(quantile), :]
    return pd.DataFrame(contributions[:, :-1], columns=forecaster.features, index=examples.index)


def global_importance(values: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| per feature, largest first, with its share of the total."""
    importance = values.abs().mean().sort_values(ascending=False)
    return pd.DataFrame({
        "feature": importance.index,
        "mean_abs_shap": importance.to_numpy(),
        "share": (importance / importance.sum()).to_numpy(),
    })


def summary_figure(values: pd.DataFrame, features: pd.DataFrame, max_display: int, title: str) -> Figure:
    """SHAP beeswarm: each dot is one forecast step; colour is the feature's value."""
    numeric = features.copy()
    for column in numeric.columns:
        if isinstance(numeric[column].dtype, pd.CategoricalDtype) or numeric[column].dtype == object:
            numeric[column] = numeric[column].astype("category").cat.codes
    plt.close("all")
    shap.summary_plot(values.to_numpy(), numeric, max_display=max_display, show=False, plot_size=(9, 6))
    figure = plt.gcf()
    figure.axes[0].set_title(title)
    figure.axes[0].set_xlabel("SHAP value (log-ratio to trend anchor; +0.1 = about 10% above trend)")
    return figure


def shap_table(rows: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """One row per forecast step: keys, ``shap_<feature>`` and the ``value_<feature>`` explained."""
    features = rows[values.columns].copy()
    for column in features.columns:
        if isinstance(features[column].dtype, pd.CategoricalDtype):
            features[column] = features[column].astype(str)
    keys = rows[["series", "target", "ds"]].astype({"series": str, "target": str})
    return pd.concat([keys, values.add_prefix(_SHAP), features.add_prefix(_VALUE)], axis=1).reset_index(drop=True)


def summary_figure_from_table(table: pd.DataFrame, quantile: float, max_display: int) -> Figure:
    """The beeswarm of a ``shap_table``."""
    features = [c.removeprefix(_SHAP) for c in table.columns if c.startswith(_SHAP)]
    if table.empty or not features:
        figure = plt.figure(figsize=(9, 2))
        figure.text(0.5, 0.5, "No model was trained (the history is too short): the forecast comes from\n"
                    "simple methods, whose drivers are their seasonal profile and recent level.",
                    ha="center", va="center")
        return figure
    values = table[[_SHAP + f for f in features]].set_axis(features, axis=1)
    inputs = table[[_VALUE + f for f in features]].set_axis(features, axis=1)
    title = f"What drives the P{round(quantile * 100)} forecast (SHAP, {len(table)} forecast steps)"
    return summary_figure(values, inputs, max_display, title)
