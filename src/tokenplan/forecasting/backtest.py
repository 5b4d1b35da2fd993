"""Rolling-origin backtests of the forecaster against baselines, on data it never saw.

A fold is an origin ``T``: the model is fit on examples whose target time is at or
before ``T`` and predicts every step of the horizon from ``T``. Fold origins step back
from the last origin that still has a full horizon of actuals. The same folds give the
out-of-sample errors that calibrate the intervals; the coverage reported for a fold is
computed with offsets fitted on the *other* folds (cross-conformal), so the backtest
never grades intervals on the errors they were calibrated on.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.baselines import mstl, seasonal_naive
from tokenplan.forecasting.conformal import empty_called, fit_offsets, noise_scales, offsets_for
from tokenplan.forecasting.features import FeatureSpec, feature_columns
from tokenplan.forecasting.forecaster import QuantileForecaster, quantile_columns

logger = logging.getLogger(__name__)

__all__ = ["fold_origins", "mstl_rows", "run_backtest", "score_backtest", "train_until", "tuning_origins"]


def fold_origins(examples: pd.DataFrame, spec: FeatureSpec, n_folds: int, step: int) -> list:
    """``n_folds`` origins, ``step`` apart, ending at the last origin with a full observed horizon.

    With ``step >= horizon`` the folds' test windows do not overlap, which the
    cross-conformal calibration needs (overlapping folds share shocks, so calibrating one
    on another overstates coverage); a smaller step logs a warning.
    """
    unit = spec.freq.lower()
    last_label = examples.loc[np.isfinite(examples["y"]), "ds"].max()
    last = last_label - pd.Timedelta(spec.horizon, unit=unit)
    if n_folds > 1 and step < spec.horizon:
        logger.warning("backtest folds %d steps apart overlap (horizon %d): interval coverage will read "
                       "optimistic; set training.backtest.step >= the horizon", step, spec.horizon)
    return _on_grid(examples, [last - pd.Timedelta(k * step, unit=unit) for k in range(n_folds)])


def tuning_origins(examples: pd.DataFrame, spec: FeatureSpec, backtest_origins: list, n_folds: int,
                   step: int) -> list:
    """Tuning folds whose whole validation window ends before the first backtest origin.

    Hyperparameters are thus never chosen on labels the backtest later grades.
    """
    last = min(backtest_origins) - pd.Timedelta(spec.horizon, unit=spec.freq.lower())
    return _on_grid(examples, [last - pd.Timedelta(k * step, unit=spec.freq.lower()) for k in range(n_folds)])


def _on_grid(examples: pd.DataFrame, wanted: list) -> list:
    available = set(examples["origin"].unique())
    missing = [o for o in wanted if o not in available]
    if missing:
        raise ValueError(f"fold origins {missing} are not among the example origins: the history is too short "
                         "for these folds, or a fold step is not a multiple of feature_engineering.origin_every")
    earliest = min(wanted)
    if not ((examples["origin"] < earliest) & np.isfinite(examples["y"])).any():
        raise ValueError(f"history too short for the configured folds: the earliest fold origin {earliest} has no "
                         "training example before it. Use a longer history, or fewer or closer folds "
                         "(training.backtest / training.tuning), or a shorter horizon.")
    return sorted(wanted)


def train_until(examples: pd.DataFrame, origin: pd.Timestamp, columns: list[str] | None = None) -> pd.DataFrame:
    """Labelled examples whose target time is no later than ``origin`` (only ``columns``, if given).

    A model reads its features and label only: copying every column of millions of
    training rows (a few at 1,000 series) cost gigabytes at each fit.
    """
    rows = (examples["ds"] <= origin) & np.isfinite(examples["z"])
    return examples[rows] if columns is None else examples.loc[rows, list(dict.fromkeys([*columns, "z"]))]


def _fold_predictions(examples: pd.DataFrame, origin, spec: FeatureSpec, quantiles: list[float],
                      params: dict[str, Any], seed: int) -> pd.DataFrame:
    test = examples[(examples["origin"] == origin) & np.isfinite(examples["z"])].copy()
    model = QuantileForecaster(feature_columns(spec), quantiles, params, seed=seed).fit(train_until(examples, origin))
    z_hat = model.predict_z(test)
    for i in range(len(quantiles)):
        test[f"e{i}"] = test["z"].to_numpy() - z_hat[:, i]
        test[f"zhat{i}"] = z_hat[:, i]
    test["fold"] = origin
    return test


def mstl_rows(rows: pd.DataFrame, series: pd.DataFrame, spec: FeatureSpec, quantiles: list[float]) -> pd.DataFrame:
    """MSTL's predictions for the same (origin, series, target, ds) rows as the model's."""
    keys = ["series", "target", "origin", "ds", "step", "y"]
    frames = []
    for origin, fold in rows.groupby("origin"):
        predicted = mstl(series, origin, spec.horizon, spec.freq, quantiles)
        merged = fold[keys].astype({"series": str, "target": str}).merge(predicted, on=["series", "target", "ds"],
                                                                         how="left")
        frames.append(merged)
    return pd.concat(frames, ignore_index=True).assign(method="mstl")


def run_backtest(examples: pd.DataFrame, spec: FeatureSpec, quantiles: list[float], params: dict[str, Any],
                 origins: list, seed: int = 0, series: pd.DataFrame | None = None,
                 baselines: tuple[str, ...] = ("seasonal_naive",)) -> tuple[pd.DataFrame, dict[str, list[float]]]:
    """Out-of-sample predictions of model and baselines per fold, and offsets from all folds.

    Returns a long table ``series, target, origin, ds, step, y, method, p..`` and the
    conformal offsets to apply to the final model. ``baselines`` may include ``mstl``,
    which needs the long target ``series``.
    """
    folds = pd.concat([_fold_predictions(examples, o, spec, quantiles, params, seed) for o in origins],
                      ignore_index=True)
    names = quantile_columns(quantiles)
    error_columns = ["series", "target"] + [f"e{i}" for i in range(len(quantiles))]
    symmetric = params.get("objective", "squarederror") != "quantile"  # a point model's errors
    calibrated = []
    for origin, fold in folds.groupby("fold"):
        others = folds[folds["fold"] != origin]
        offsets = fit_offsets((others if len(others) else fold)[error_columns], quantiles,
                              noise_scales(train_until(examples, origin), spec.season), symmetric=symmetric)
        shift = offsets_for(offsets, fold["series"], fold["target"])
        z = np.sort(fold[[f"zhat{i}" for i in range(len(quantiles))]].to_numpy() + shift, axis=1)
        values = np.clip(np.expm1(fold["anchor"].to_numpy()[:, None] + z), 0, None)
        calibrated.append(pd.DataFrame(values, columns=names, index=fold.index))
    model_rows = folds[["series", "target", "origin", "ds", "step", "y"]].copy()
    model_rows[names] = pd.concat(calibrated).loc[folds.index]
    model_rows["method"] = "xgboost"
    naive_rows = folds[["series", "target", "origin", "ds", "step", "y"]].copy()
    naive = seasonal_naive(folds)
    for name in names:
        naive_rows[name] = naive
    naive_rows["method"] = "seasonal_naive"
    offsets = fit_offsets(folds[error_columns], quantiles, noise_scales(examples, spec.season), symmetric=symmetric)
    parts = [model_rows] + ([naive_rows] if "seasonal_naive" in baselines else [])
    if "mstl" in baselines:
        if series is None:
            raise ValueError("the mstl baseline needs the target series")
        parts.append(mstl_rows(folds, series, spec, quantiles))
    table = pd.concat(parts, ignore_index=True)
    for column in ("series", "target"):
        table[column] = table[column].astype(str)
    return table, offsets


def _naive_scales(series: pd.DataFrame, season: int, origins: list) -> pd.DataFrame:
    """MASE denominators: in-sample seasonal-naive MAE per (series, target) up to each origin."""
    ordered = series.sort_values(["series", "target", "ds"])
    diffs = ordered.assign(d=ordered.groupby(["series", "target"])["y"].diff(season).abs())
    rows = []
    for origin in origins:
        before = diffs[diffs["ds"] <= origin]
        scale = before.groupby(["series", "target"])["d"].mean().rename("scale").reset_index()
        rows.append(scale.assign(origin=origin))
    out = pd.concat(rows, ignore_index=True)
    out[["series", "target"]] = out[["series", "target"]].astype(str)
    return out


def score_backtest(table: pd.DataFrame, series: pd.DataFrame, spec: FeatureSpec,
                   quantiles: list[float]) -> pd.DataFrame:
    """Metrics per (series, target, method) and pooled per (target, method) as series 'all'.

    MASE and WAPE score the median; pinball averages all quantile levels; coverage and
    Winkler score the outermost interval (P10-P90 by default). Coverage leaves out the buckets
    forecast empty that came in empty (``EMPTY_POINT``): a business-hours service's nights and
    weekends, each trivially inside, read 86% where its busy hours held 50%.

    A row whose series-target had no seasonal change before its fold (a zero MASE scale: a
    target always zero, like cache tokens of a model that never caches) has no MASE and is
    left out of the pooled MASE for every method alike; divided by a zero scale, one such
    series made a method's pooled MASE ``inf`` (and only for the methods that forecast it
    above zero). Where a series' actuals are all zero its WAPE, pinball and Winkler (each
    scaled by the actuals) are NaN, not a division by 1e-12; the pooled ones count its errors.
    """
    from tokenplan.forecasting import metrics

    names = quantile_columns(quantiles)
    median = names[int(np.argmin(np.abs(np.array(quantiles) - 0.5)))]
    lower, upper = names[0], names[-1]
    alpha = 1 - (quantiles[-1] - quantiles[0])
    keys = ["series", "target", "origin"]
    scales = table[keys].merge(_naive_scales(series, spec.season, sorted(table["origin"].unique())), on=keys,
                               how="left", validate="many_to_one")["scale"].to_numpy()
    scored = table.copy(deep=False)  # the scale beside the rows, not a merged copy of them (a GB at 1,000 series)
    scored["scale"] = np.where(scales > 0, scales, np.nan)  # a zero scale: no MASE (docstring)

    def summarise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        # The metrics of each group's rows, as numpy slices of the table sorted by group
        # (the rows keep their order within a group, so every number is the same to the
        # bit as from a DataFrame per group, which cost 30 s at 1,000 series).
        grouped = frame.groupby(keys, sort=True)
        codes = grouped.ngroup().to_numpy()
        order = np.argsort(codes, kind="stable")
        order = order[codes[order] >= 0]
        sizes = np.bincount(codes[order], minlength=grouped.ngroups)
        ends = np.cumsum(sizes)
        column = {c: frame[c].to_numpy(dtype=float)[order] for c in {"y", "scale", *names}}
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled_errors = np.abs(column["y"] - column[median]) / column["scale"]
        rows = []
        for start, end in zip(ends - sizes, ends, strict=True):
            y, low, high = (column[c][start:end] for c in ("y", lower, upper))
            counted = ~empty_called(y, column[median][start:end])
            size = np.mean(np.abs(y)) if np.any(y != 0) else np.nan  # all zero: nothing to scale by
            point = bool((low == high).all())  # a point forecast has no interval
            rows.append({
                "mase": float(pd.Series(scaled_errors[start:end]).mean()),  # a row without a scale left out
                "wape": metrics.wape(y, column[median][start:end]) if np.isfinite(size) else np.nan,
                "pinball": float(np.mean([metrics.pinball(y, column[n][start:end], q) / size
                                          for n, q in zip(names, quantiles, strict=True)])),
                "coverage": np.nan if point or not counted.any() else metrics.coverage(y[counted], low[counted],
                                                                                         high[counted]),
                "winkler": np.nan if point else metrics.winkler(y, low, high, alpha) / size,
                "n": float(end - start),
            })
        return pd.DataFrame(rows, index=grouped.size().index)

    per_series = summarise(scored, ["series", "target", "method"])
    pooled = summarise(scored, ["target", "method"])
    pooled = pooled.reset_index().assign(series="all")
    result = pd.concat([per_series.reset_index(), pooled], ignore_index=True)
    result["n"] = result["n"].astype(int)
    return result[["series", "target", "method", "mase", "wape", "pinball", "coverage", "winkler", "n"]]
