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

__all__ = ["global_importance", "shap_values", "summary_figure"]


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
