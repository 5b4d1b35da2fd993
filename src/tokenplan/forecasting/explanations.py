"""SHAP explanations of the forecaster: what drives each forecast quantile.

Values are exact TreeSHAP computed by XGBoost itself (``pred_contribs=True``: the same
values as ``shap.TreeExplainer``, and it accepts the categorical series/target columns
that TreeExplainer's own DMatrix conversion rejects); the ``shap`` package draws the
beeswarm. For a multi-quantile booster there is one set per quantile and we explain
one (the median by default). Values are in the model's output space: the log-ratio ``z``
of usage to its trend anchor, so a SHAP value of +0.1 means "about 10% above trend".
The trend anchor itself (level and growth at the origin) is not part of the tree and
so carries no SHAP value, and neither do events with a planner-stated ``effect``: they
are offsets applied to the anchor outside the trees (``tokenplan.forecasting.features``).

``forecast_drivers`` puts all of it together per month: the model's log prediction is
exactly ``anchor + bias + sum(SHAP)``, and the anchor splits into the trend (level and
growth at the origin) and each stated event's offset, so every driver of a month (growth
included) is a multiplier on the level at the origin (see ``forecast_drivers`` for how days are combined).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from matplotlib.figure import Figure

from tokenplan.forecasting.row_keys import drawn_keys
from tokenplan.forecasting.features import stated_offsets
from tokenplan.forecasting.forecaster import QuantileForecaster

__all__ = ["DRIVER_GROUPS", "FEATURE_LABELS", "FORECAST", "GROWTH", "LEVEL", "forecast_drivers", "headline_target", "global_importance", "shap_bias", "shap_sample", "shap_table",
           "shap_values",
           "summary_figure", "summary_figure_from_table"]

# Which model features make up each driver of the per-month breakdown. The bias (the
# model's mean log-ratio) and the series/target identity join the level correction.
DRIVER_GROUPS = {
    "level and growth correction": ["log_level", "weekly_growth", "recent_ratio", "last_value", "last_day_ratio",
                                    "step", "series", "target"],
    "seasonality": ["seasonal_index", "last_same_phase", "last_day_same_hour", "daily_index", "day_of_week",
                    "hour", "yearly_change"],
    "calendar (holidays)": ["is_holiday"],
    "campaigns (learned size)": ["campaign"],
    "launches (learned size)": ["launch_after_origin", "steps_since_launch"],
}
# What each model feature is, for figures and tables a reader understands without the code.
FEATURE_LABELS = {
    "step": "steps ahead of the origin",
    "log_level": "level at the origin",
    "weekly_growth": "growth per week at the origin",
    "recent_ratio": "last week against the level",
    "seasonal_index": "same phase, last 4 weeks (vs level)",
    "last_same_phase": "same phase, last week (vs level)",
    "last_value": "last observed bucket (vs level)",
    "last_day_same_hour": "same hour yesterday (vs level)",
    "daily_index": "same hour, last 7 days (vs level)",
    "last_day_ratio": "last 24 hours against the level",
    "yearly_change": "same dates a year before (vs the level then)",
    "day_of_week": "day of the week",
    "hour": "hour of the day",
    "is_holiday": "public or calendar holiday",
    "campaign": "campaign without a stated effect",
    "launch_after_origin": "launch after the origin",
    "steps_since_launch": "steps since the last launch",
    "series": "model (series)",
    "target": "quantity (target)",
}
LEVEL, GROWTH, FORECAST = "level at the origin", "growth (trend anchor)", "forecast (model P50)"
INTERPLAY = "drivers varying together within the month"

_SHAP, _VALUE = "shap_", "value_"


def _contributions(forecaster: QuantileForecaster, examples: pd.DataFrame, quantile: float) -> np.ndarray:
    """XGBoost's exact TreeSHAP of the ``quantile`` output, (n, features + 1), the bias last."""
    matrix = forecaster._matrix(examples, label=False)
    contributions = np.asarray(forecaster.booster_.predict(matrix, pred_contribs=True))
    if contributions.ndim == 3:  # (n, quantiles, features + 1)
        contributions = contributions[:, forecaster.quantiles.index(quantile), :]
    return contributions


def shap_values(forecaster: QuantileForecaster, examples: pd.DataFrame, quantile: float) -> pd.DataFrame:
    """SHAP values (rows x features) of the ``quantile`` output for ``examples``."""
    contributions = _contributions(forecaster, examples, quantile)
    return pd.DataFrame(contributions[:, :-1], columns=forecaster.features, index=examples.index)


def shap_sample(rows: pd.DataFrame, max_rows: int, seed: int) -> np.ndarray:
    """Which forecast steps SHAP explains (a mask of ``rows``): every one when there are at most
    ``max_rows``; else whole series-targets, drawn at random with ``seed``, as many as fit in
    ``max_rows`` steps (at least one), so each one drawn has all its steps and its monthly drivers
    are those of a run that explains every step."""
    return drawn_keys(rows, max_rows, seed)


def shap_bias(forecaster: QuantileForecaster, examples: pd.DataFrame, quantile: float) -> float:
    """The SHAP base value (the model's output with no feature known) of the ``quantile`` output."""
    return float(_contributions(forecaster, examples.head(1), quantile)[0, -1])


def forecast_drivers(rows: pd.DataFrame, values: pd.DataFrame, bias: float, events: pd.DataFrame,
                     freq: str, margin: np.ndarray | None = None) -> pd.DataFrame:
    """Per series, target and month, what moves the forecast: one row per driver.

    ``rows`` are the forecast examples (with ``anchor`` of the deployed trend and
    ``stated_effect``), ``values`` their SHAP values. Columns: ``series, target, period``
    (``YYYY-MM``), ``driver``, ``kind`` (``total``, ``anchor``, ``growth``, ``learned``,
    ``stated`` or ``stated, in force``),
    ``effect`` and ``volume``:

    - ``forecast (model P50)``: ``volume`` is the month's summed prediction of the model
      (the sum of the daily P50s, which interval calibration leaves unshifted by default;
      ``forecast_totals`` corrects a period's total for the skew its backtested totals show);
    - ``level at the origin``: ``volume`` is what the month would be at the level of the
      last weeks before the origin, with every driver (growth included) at zero;
    - ``growth (trend anchor)``: the growth rate the anchor extrapolates from the origin
      (zero with a flat ``level`` anchor), a driver like the others;
    - every other driver: ``effect`` is its multiplier on the month minus one
      (``exp`` of its log contribution, averaged over the month's buckets weighted by
      their predicted volume; +0.30 = the driver adds 30%), ``volume`` what it adds to the
      month with the other drivers held (``sum(pred * (1 - exp(-contribution)))``).

    Stated effects come from the events calendar, not the trees; each stated event is
    its own driver, of kind ``stated`` (it starts in the horizon) or ``stated, in force``
    (it started before: the history features divide it out and the anchor puts it back,
    so where it covers the level window too, its stated size cancels out); the year-end
    holidays measured from the history (``tokenplan.forecasting.calendar_effects``) are
    ``estimated`` (or ``estimated, in force``) instead.

    When ``values`` explain only some series-targets (:func:`shap_sample`), ``margin`` is the
    model's log output of every row: the others get their forecast, level, growth and stated
    rows from it, and no learned ones.
    """
    explained = np.ones(len(rows), bool) if margin is None else rows.index.isin(values.index)
    positions = rows.index.get_indexer(values.index)

    def every_row(per_explained: np.ndarray) -> np.ndarray:
        """Per row of ``rows`` (zero where unexplained) from per row of ``values``."""
        if explained.all():
            return per_explained
        out = np.zeros(len(rows))
        out[positions] = per_explained
        return out

    anchor = rows["anchor"].to_numpy()
    stated_total = rows["stated_effect"].to_numpy() if "stated_effect" in rows else np.zeros(len(rows))
    # The anchor scales the count by exp(stated), not count + 1 (features.py): undo it the same way.
    trend = np.log1p(np.expm1(anchor) * np.exp(-stated_total))
    flat = rows["anchor_level"].to_numpy() if "anchor_level" in rows else anchor
    level = np.log1p(np.expm1(flat) * np.exp(-stated_total))
    contributions = {GROWTH: trend - level}
    contributions |= {name: every_row(values[[f for f in features if f in values]].sum(axis=1).to_numpy())
                      for name, features in DRIVER_GROUPS.items()}
    contributions["level and growth correction"] = contributions["level and growth correction"] + bias
    offsets, in_force, estimated = stated_offsets(rows, events, freq)
    total_offset = sum(offsets.values(), np.zeros(len(rows)))
    stated_part = anchor - trend  # in log1p space; shared among the events by their log offsets
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, offset in offsets.items():
            contributions[name] = np.where(total_offset != 0, stated_part * offset / total_offset, 0.0)
    prediction = np.expm1(anchor + bias + every_row(values.sum(axis=1).to_numpy()))
    if not explained.all():
        prediction = np.where(explained, prediction, np.expm1(anchor + np.asarray(margin, float)))
    frame = pd.DataFrame({"series": rows["series"].astype(str).to_numpy(), "target": rows["target"].astype(str).to_numpy(),
                          "period": pd.DatetimeIndex(rows["ds"]).strftime("%Y-%m"), "prediction": prediction,
                          "level": np.expm1(level)})
    keys = ["series", "target", "period"]
    grouped = frame.groupby(keys, sort=True)
    parts = [grouped["prediction"].sum().rename("volume").reset_index().assign(driver=FORECAST, kind="total"),
             grouped["level"].sum().rename("volume").reset_index().assign(driver=LEVEL, kind="anchor")]
    weight = frame["prediction"] / grouped["prediction"].transform("sum")
    for name, contribution in contributions.items():
        how = "estimated" if name in estimated else "stated"
        kind = (f"{how}, in force" if name in in_force else how) if name in offsets else \
            "growth" if name == GROWTH else "learned"
        per_row = frame[keys].assign(log_effect=weight * contribution,
                                     volume=frame["prediction"] * (1 - np.exp(-contribution)))
        summed = per_row.groupby(keys, sort=True)[["log_effect", "volume"]].sum().reset_index()
        parts.append(summed.assign(effect=np.expm1(summed.pop("log_effect")), driver=name, kind=kind))
    columns = [*keys, "driver", "kind", "effect", "volume"]
    out = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    out = pd.concat([out, _interplay(out, keys)], ignore_index=True)
    if explained.all():
        return out
    unexplained = pd.MultiIndex.from_frame(frame.loc[~explained, ["series", "target"]].drop_duplicates())
    learned = out["kind"].isin(["learned", "residual"]).to_numpy() & pd.MultiIndex.from_frame(
        out[["series", "target"]]).isin(unexplained)
    return out[~learned].reset_index(drop=True)


def _interplay(drivers: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per month, what the drivers' averaged multipliers leave of the forecast: ``forecast / (level x
    product of (1 + effect)) - 1``, so that the month's row multiplies out to its forecast.

    Each effect is its log contribution averaged over the month's buckets, weighted by volume,
    and a product of averages is not the average of products when the drivers vary from day to
    day together (a weekday cycle on a growing level): a reviewer multiplied a month's row out
    and landed 8% above its forecast.
    """
    indexed = drivers.set_index(keys)
    effects = indexed[~indexed["kind"].isin(["total", "anchor"])]
    product = np.log1p(effects["effect"].astype(float)).groupby(level=keys).sum()
    forecast = indexed.loc[indexed["kind"] == "total", "volume"]
    level = indexed.loc[indexed["kind"] == "anchor", "volume"]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rest = np.log(forecast) - np.log(level) - product.reindex(forecast.index).fillna(0.0)
    log_rest = log_rest.replace([np.inf, -np.inf], np.nan).fillna(0.0)
    return pd.DataFrame({"driver": INTERPLAY, "kind": "residual", "effect": np.expm1(log_rest),
                         "volume": forecast * (1 - np.exp(-log_rest))}, index=forecast.index).reset_index()


def headline_target(drivers: pd.DataFrame) -> str:
    """The target the report shows drivers for: requests when forecast, else the first one."""
    targets = list(drivers["target"].unique())
    return "requests" if "requests" in targets else (targets[0] if targets else "")


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
    numeric = numeric.rename(columns=lambda c: FEATURE_LABELS.get(c, c))
    plt.close("all")
    shap.summary_plot(values.to_numpy(), numeric, max_display=max_display, show=False, plot_size=(10, 6))
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
        figure.text(0.5, 0.5, "No series is forecast by the tuned model (too short a history to train it, or a\n"
                    "simpler method won on the tuning folds): nothing for SHAP to explain.",
                    ha="center", va="center")
        return figure
    values = table[[_SHAP + f for f in features]].set_axis(features, axis=1)
    inputs = table[[_VALUE + f for f in features]].set_axis(features, axis=1)
    title = f"What drives the P{round(quantile * 100)} forecast (SHAP, {len(table)} forecast steps)"
    return summary_figure(values, inputs, max_display, title)
