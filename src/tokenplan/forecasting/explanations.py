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

``forecast_drivers`` puts all of it together per month of the plan's forecast: the model's log
prediction is exactly ``anchor + bias + sum(SHAP)``, the anchor splits into the trend (level and
growth at the origin) and each stated event's offset, and the plan's P50 over the model's output
is what was done after the model, so every driver of a month (growth included) is a multiplier on
the level at the origin (see ``forecast_drivers`` for how buckets are combined).
"""

from __future__ import annotations

import textwrap

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
from tokenplan.forecasting.migrations import join_migrations
from tokenplan.schemas import naive_utc

__all__ = ["AFTER_MODEL", "CORRECTION", "DRIVER_GROUPS", "FEATURE_LABELS", "FORECAST", "GROWTH", "INTERPLAY", "LEVEL",
           "ONE_GROWTH_PATH", "SEASONALITY", "UNSAMPLED", "forecast_drivers", "global_importance", "headline_target",
           "shap_bias", "shap_sample", "shap_table", "shap_values", "summary_figure", "summary_figure_from_table",
           "with_plan"]

CORRECTION, SEASONALITY = "level and growth correction", "seasonality"
# Which model features make up each driver of the per-month breakdown. The bias (the
# model's mean log-ratio) and the series/target identity join the level correction.
DRIVER_GROUPS = {
    CORRECTION: ["log_level", "weekly_growth", "recent_ratio", "last_value", "last_day_ratio",
                                    "step", "series", "target"],
    SEASONALITY: ["seasonal_index", "last_same_phase", "last_day_same_hour", "daily_index", "day_of_week",
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
LEVEL, GROWTH, FORECAST = "level at the origin", "growth (trend anchor)", "forecast (P50)"
INTERPLAY = "drivers varying together within the month"
# What changed the model's output into the plan's P50 (``with_plan``): a driver like the others.
ONE_GROWTH_PATH = "requests and tokens on one growth path"
AFTER_MODEL = "adjustments after the model"
# A series-target outside the SHAP sample: what the trees did, not broken down.
UNSAMPLED = "learned drivers (not in the SHAP sample)"
# The features of one seasonal cycle (a day, a week), centred over the horizon's whole cycles (``_cycle_centres``);
# the same dates a year before are not: a horizon holds no whole year.
CYCLE_FEATURES = [f for f in DRIVER_GROUPS[SEASONALITY] if f != "yearly_change"]

_SHAP, _VALUE = "shap_", "value_"
_KEYS = ["series", "target", "period"]


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


def with_plan(rows: pd.DataFrame, forecast: pd.DataFrame, column: str,
              migrations: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``rows`` (forecast examples) whose bucket the plan forecasts with the tuned model, each with ``final``,
    the plan's ``column`` (``forecast``; a migration's members summed back into its traffic, which the model
    forecast), and ``after_model``, the driver that changed the model's output into it: requests and tokens
    put on one growth path (``forecast.attrs["token_ratios"]``), else the other adjustments after the model
    (the median's interval calibration, the floor at zero). An ended series is in no plan, so in no row."""
    plan = join_migrations(forecast[["series", "target", "timestamp", column, "method"]], migrations, [column])
    plan = plan[plan["method"] == "xgboost"]
    final = pd.Series(plan[column].to_numpy(dtype=float), index=pd.MultiIndex.from_arrays(
        [plan["series"].astype(str), plan["target"].astype(str), naive_utc(plan["timestamp"])]))
    series, target = rows["series"].astype(str).to_numpy(), rows["target"].astype(str).to_numpy()
    values = final.reindex(pd.MultiIndex.from_arrays([series, target, naive_utc(rows["ds"])])).to_numpy()
    pooled = {(r["series"], t) for r in forecast.attrs.get("token_ratios", []) for t in r["targets"]}
    names = np.where([(s, t) in pooled for s, t in zip(series, target, strict=True)], ONE_GROWTH_PATH, AFTER_MODEL)
    found = np.isfinite(values)
    return rows[found].assign(final=values[found], after_model=names[found])


def forecast_drivers(rows: pd.DataFrame, values: pd.DataFrame, bias: float, events: pd.DataFrame,
                     freq: str, margin: np.ndarray | None = None, season: int | None = None) -> pd.DataFrame:
    """Per series, target and month, what moves the forecast: one row per driver.

    ``rows`` are the forecast examples (with ``anchor`` of the deployed trend and ``stated_effect``;
    with ``final`` and ``after_model`` from :func:`with_plan`, the plan's P50 they end as), ``values``
    their SHAP values. Columns: ``series, target, period`` (``YYYY-MM``), ``driver``, ``kind``
    (``total``, ``anchor``, ``growth``, ``learned``, ``after the model``, ``stated`` or ``stated, in force``,
    ``residual``), ``effect`` and ``volume``:

    - ``forecast (P50)``: ``volume`` is the month's sum of the plan's P50s (``final``; without it, the model's);
    - ``level at the origin``: ``volume`` is what the month would be at the level of the last weeks before
      the origin, with every driver (growth included) at zero;
    - ``growth (trend anchor)``: the growth the anchor extrapolates from the origin (zero with a flat
      ``level`` anchor), a driver like the others;
    - the learned drivers (``DRIVER_GROUPS``): the SHAP values of their features; the SHAP base value
      joins the level and growth correction, with the seasonal drivers' mean over whole cycles of ``season``
      buckets (:func:`_cycle_centres`), so that seasonality over whole cycles moves the month by zero;
    - ``after_model``'s driver: the plan's P50 over the model's output, bucket by bucket;
    - each stated event: its offset, applied to the anchor outside the trees.

    A driver's ``effect`` is its multiplier on the month alone: its bucket multipliers (``exp`` of its log
    contribution) averaged with the level's weights, minus one (+0.30 = the driver alone adds 30% to the
    level). Drivers that vary together within a month (a weekday cycle on a growing level) do not multiply
    out to its forecast; the last driver, ``drivers varying together within the month``, is what is left, so
    the level times every driver's (1 + effect) is the forecast. ``volume``: the month's forecast less its
    level, shared among the drivers in proportion to their log multipliers (``log(1 + effect)``, a
    log-mean Divisia split), so the level plus every driver's volume is the forecast.

    Stated effects come from the events calendar, not the trees; each stated event is
    its own driver, of kind ``stated`` (it starts in the horizon) or ``stated, in force``
    (it started before: the history features divide it out and the anchor puts it back,
    so where it covers the level window too, its stated size cancels out); the year-end
    holidays measured from the history (``tokenplan.forecasting.calendar_effects``) are
    ``estimated`` (or ``estimated, in force``) instead.

    When ``values`` explain only some series-targets (:func:`shap_sample`), ``margin`` is the
    model's log output of every row: the others get their forecast, level, growth, stated and after-model
    rows from it, and one row (``UNSAMPLED``) for everything the trees did.
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
    learned = _learned(rows.iloc[positions], values, bias, level[positions], season)
    contributions = {GROWTH: trend - level} | {name: every_row(c) for name, c in learned.items()}
    offsets, in_force, estimated = stated_offsets(rows, events, freq)
    total_offset = sum(offsets.values(), np.zeros(len(rows)))
    stated_part = anchor - trend  # in log1p space; shared among the events by their log offsets
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, offset in offsets.items():
            contributions[name] = np.where(total_offset != 0, stated_part * offset / total_offset, 0.0)
    model = np.expm1(anchor + bias + every_row(values.sum(axis=1).to_numpy()))
    if not explained.all():
        model = np.where(explained, model, np.expm1(anchor + np.asarray(margin, float)))
    final = rows["final"].to_numpy(dtype=float) if "final" in rows else model
    adjustments = _after_model(rows, model, final)
    contributions |= adjustments
    frame = pd.DataFrame({**_series_targets(rows),
                          "period": pd.DatetimeIndex(rows["ds"]).strftime("%Y-%m"), "prediction": final,
                          "level": np.expm1(level), "weight": np.exp(level)})
    grouped = frame.groupby(_KEYS, sort=True)
    parts = [grouped["prediction"].sum().rename("volume").reset_index().assign(driver=FORECAST, kind="total"),
             grouped["level"].sum().rename("volume").reset_index().assign(driver=LEVEL, kind="anchor")]
    # The level's weights, on the model's log1p scale (1 + count), so an empty level still weighs.
    weight = frame["weight"] / grouped["weight"].transform("sum")
    for name, contribution in contributions.items():
        how = "estimated" if name in estimated else "stated"
        kind = (f"{how}, in force" if name in in_force else how) if name in offsets else \
            "growth" if name == GROWTH else "after the model" if name in adjustments else "learned"
        added = frame[_KEYS].assign(effect=weight * np.expm1(contribution))
        parts.append(added.groupby(_KEYS, sort=True)["effect"].sum().reset_index().assign(driver=name, kind=kind))
    out = pd.concat(parts, ignore_index=True).reindex(columns=[*_KEYS, "driver", "kind", "effect", "volume"])
    out = _with_volumes(pd.concat([out, _interplay(out)], ignore_index=True))
    if explained.all():
        return out
    unexplained = pd.MultiIndex.from_frame(frame.loc[~explained, ["series", "target"]].drop_duplicates())
    outside = pd.MultiIndex.from_frame(out[["series", "target"]]).isin(unexplained)
    out.loc[outside & (out["kind"] == "residual").to_numpy(), ["driver", "kind"]] = [UNSAMPLED, "unexplained"]
    return out[~(outside & (out["kind"] == "learned").to_numpy())].reset_index(drop=True)


def _learned(rows: pd.DataFrame, values: pd.DataFrame, bias: float, level: np.ndarray,
             season: int | None) -> dict[str, np.ndarray]:
    """Per learned driver (``DRIVER_GROUPS``), its log contribution at each row of ``values`` (of ``rows``, whose
    ``level`` is the log1p level at the origin): its features' SHAP values, the seasonal ones less their centre
    (:func:`_cycle_centres`), which joins the base value ``bias`` in the level and growth correction."""
    learned = {name: values[[f for f in features if f in values]].sum(axis=1).to_numpy()
               for name, features in DRIVER_GROUPS.items()}
    centre = _cycle_centres(rows, values[[f for f in CYCLE_FEATURES if f in values]].sum(axis=1), level, season)
    learned[SEASONALITY] = learned[SEASONALITY] - centre
    learned[CORRECTION] = learned[CORRECTION] + bias + centre
    return learned


def _after_model(rows: pd.DataFrame, model: np.ndarray, final: np.ndarray) -> dict[str, np.ndarray]:
    """Per driver named in ``rows["after_model"]`` (:func:`with_plan`), the log of the plan's P50 (``final``) over
    the model's output at each row it names, zero elsewhere; none without that column."""
    if "after_model" not in rows:
        return {}
    names = rows["after_model"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        adjusted = np.nan_to_num(np.log1p(final) - np.log1p(model), posinf=0.0, neginf=0.0)
    return {name: np.where(names == name, adjusted, 0.0) for name in pd.unique(names)}


def _series_targets(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """``rows``' series and target, as text."""
    return {"series": rows["series"].astype(str).to_numpy(), "target": rows["target"].astype(str).to_numpy()}


def _cycle_centres(rows: pd.DataFrame, cycle: pd.Series, level: np.ndarray, season: int | None) -> np.ndarray:
    """Per row, the log of its series-target's mean seasonal multiplier (``exp(cycle)``, weighted as the level)
    over the first whole cycles of ``season`` buckets in its horizon (its whole horizon without ``season`` or
    when it holds less than one).

    The trees' seasonal features carry the seasonal shape around the model's mean log ratio (the SHAP base
    value), and a mean of logs is below the log of the mean: a week's hourly multipliers averaged +17% over a
    base value of -0.27, and the two showed as seasonality +26% and a correction -17%. Less its centre, the
    seasonal driver moves whole cycles by zero, and the centre joins the base value in the level correction.
    """
    frame = pd.DataFrame({**_series_targets(rows),
                          "ds": rows["ds"].to_numpy(), "weight": np.exp(level)})
    frame["weighted"] = frame["weight"] * np.exp(cycle.to_numpy())
    ordered = frame.sort_values("ds", kind="stable")
    grouped = ordered.groupby(["series", "target"], sort=False)
    size = grouped["ds"].transform("size")
    whole = size // season * season if season else size
    window = ordered[grouped.cumcount() < np.where(whole > 0, whole, size)]
    sums = window.groupby(["series", "target"])[["weighted", "weight"]].sum()
    centres = np.log(sums["weighted"] / sums["weight"])
    return centres.reindex(pd.MultiIndex.from_frame(frame[["series", "target"]])).to_numpy()


def _interplay(drivers: pd.DataFrame) -> pd.DataFrame:
    """Per month, what the drivers' multipliers leave of the forecast: ``forecast / (level x product of
    (1 + effect)) - 1``, so that the month's row multiplies out to its forecast.

    Each effect is its multiplier averaged over the month's buckets, and a product of averages is not the
    average of products when the drivers vary from day to day together (a weekday cycle on a growing level):
    a reviewer multiplied a month's row out and landed 8% above its forecast.
    """
    indexed = drivers.set_index(_KEYS)
    effects = indexed[~indexed["kind"].isin(["total", "anchor"])]
    product = np.log1p(effects["effect"].astype(float)).groupby(level=_KEYS).sum()
    forecast = indexed.loc[indexed["kind"] == "total", "volume"]
    level = indexed.loc[indexed["kind"] == "anchor", "volume"]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rest = np.log(forecast) - np.log(level) - product.reindex(forecast.index).fillna(0.0)
    log_rest = log_rest.replace([np.inf, -np.inf], np.nan).fillna(0.0)
    return pd.DataFrame({"driver": INTERPLAY, "kind": "residual", "effect": np.expm1(log_rest)},
                        index=forecast.index).reset_index()


def _with_volumes(drivers: pd.DataFrame) -> pd.DataFrame:
    """``drivers`` with each driver's ``volume``: the month's forecast less its level, shared in proportion to
    the drivers' log multipliers, ``(forecast - level) x log(1 + effect) / log(forecast / level)``, so that the
    level plus the drivers' volumes is the forecast (a log-mean Divisia split: exact, and a driver's share does
    not depend on the order the drivers are taken in). A month with no forecast or no level puts the whole
    difference on the residual row."""
    indexed = drivers.set_index(_KEYS)
    forecast = indexed.loc[indexed["kind"] == "total", "volume"].reindex(indexed.index).to_numpy(dtype=float)
    level = indexed.loc[indexed["kind"] == "anchor", "volume"].reindex(indexed.index).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(forecast) - np.log(level)
        scale = np.where(np.abs(log_ratio) > 1e-12, (forecast - level) / log_ratio, level)  # their logarithmic mean
        shared = scale * np.log1p(indexed["effect"].to_numpy(dtype=float))
    measured = (forecast > 0) & (level > 0)
    residual = (indexed["kind"] == "residual").to_numpy()
    volume = np.where(measured, shared, np.where(residual, forecast - level, 0.0))
    driver = ~indexed["kind"].isin(["total", "anchor"]).to_numpy()
    out = drivers.copy()
    out.loc[driver, "volume"] = volume[driver]
    return out


def headline_target(drivers: pd.DataFrame) -> str:
    """The target the report shows drivers for: requests when forecast, else the first one."""
    targets = list(drivers["target"].unique())
    return "requests" if "requests" in targets else (targets[0] if targets else "")


def global_importance(values: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| per feature, largest first, with its share of the total, and ``constant``: whether the
    feature's value (in ``rows``, the steps ``values`` explain) is the same at every step of each series-target.

    Such a feature (the level or growth at the origin, a launch that is not in the horizon) moves no step
    against another: its SHAP value sets where a series' forecast sits, as the level does, and two of them
    may cancel (+0.0095 and -0.0087 for a launch's two features on a series with none ahead).
    """
    importance = values.abs().mean().sort_values(ascending=False)
    features = rows[importance.index.intersection(rows.columns)].astype(object)
    varying = features.groupby([rows["series"].astype(str), rows["target"].astype(str)]).nunique(dropna=False).gt(1)
    return pd.DataFrame({
        "feature": importance.index,
        "mean_abs_shap": importance.to_numpy(),
        "share": (importance / importance.sum()).to_numpy(),
        "constant": ~varying.any().reindex(importance.index, fill_value=True).to_numpy(dtype=bool),
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


def summary_figure_from_table(table: pd.DataFrame, quantile: float, max_display: int,
                              nothing: str | None = None) -> Figure:
    """The beeswarm of a ``shap_table``; without one, a figure saying why (``nothing``, from the method choice:
    ``explained_series.why_none_explained``)."""
    features = [c.removeprefix(_SHAP) for c in table.columns if c.startswith(_SHAP)]
    if table.empty or not features:
        figure = plt.figure(figsize=(9, 2))
        figure.text(0.5, 0.5, textwrap.fill(nothing or "No series is forecast by the tuned model alone: nothing for "
                                            "SHAP to explain.", 90), ha="center", va="center")
        return figure
    values = table[[_SHAP + f for f in features]].set_axis(features, axis=1)
    inputs = table[[_VALUE + f for f in features]].set_axis(features, axis=1)
    title = f"What drives the P{round(quantile * 100)} forecast (SHAP, {len(table)} forecast steps)"
    return summary_figure(values, inputs, max_display, title)
