"""Training nodes: tune, backtest every candidate, choose per series, fit the final model, forecast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.backtest import score_backtest
from tokenplan.forecasting.candidates import candidate_points, members_present
from tokenplan.forecasting.conformal import level_shares
from tokenplan.forecasting.ended_series import ended_series
from tokenplan.forecasting.features import feature_columns, spec_from_params, with_trend
from tokenplan.forecasting.forecaster import NoModel, QuantileForecaster, quantile_columns
from tokenplan.forecasting.candidates import with_ensemble
from tokenplan.forecasting.method_choice import (
    SelectionRule,
    apply_intervals,
    backtest_candidates,
    ensemble_ranking,
)
from tokenplan.forecasting.lag_model import LagModelSettings
from tokenplan.forecasting.migrations import join_migrations, split_migrations
from tokenplan.forecasting.plausibility import GuardSettings, cap_upper_quantiles, capped_summary, concat_drops
from tokenplan.forecasting.token_ratios import reconcile_token_ratios
from tokenplan.forecasting.totals import period_totals
from tokenplan.forecasting.tuning import study_name, tune, tuning_sample


def _ensure_sqlite_folder(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def _default_trend(spec) -> str:
    return "local_linear" if spec.trend == "auto" else spec.trend


def tune_hyperparameters(model_input_table: pd.DataFrame, fe_params: dict[str, Any], params: dict[str, Any],
                         forecast_layout: dict[str, Any]) -> dict[str, Any]:
    """Best XGBoost params from an Optuna study on the layout's tuning folds (before any backtest window).

    A history too short to train the model (``forecast_layout['model']`` false) is not tuned.
    Above ``training.tuning.max_rows`` training rows, the study tunes on a seeded sample of
    whole series-targets (``tokenplan.forecasting.tuning.tuning_sample``), stated in ``tuned_on``.
    """
    spec = spec_from_params(fe_params, forecast_layout)
    if not forecast_layout["model"]:
        return {"trend": _default_trend(spec), "skipped": "history too short to train the model"}
    tuning = params["tuning"]
    origins = [pd.Timestamp(o) for o in forecast_layout["tuning_origins"]]
    _ensure_sqlite_folder(tuning["storage_url"])
    examples, drawn = tuning_sample(model_input_table, origins, tuning.get("max_rows"), params["seed"])
    name = study_name(tuning["study_prefix"], examples, spec, origins, params["objective"])
    best = tune(examples, spec, params["quantiles"], origins, tuning["storage_url"], name,
                tuning["n_trials"], tuning.get("timeout_seconds"), seed=params["seed"],
                fixed_params={"objective": params["objective"]}, max_step=forecast_layout["window"])
    return {**best, "tuned_on": drawn} if drawn else best


def _model_params(best_params: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    tuned = {k: v for k, v in best_params.items()
             if k not in ("study_name", "best_value", "n_trials", "trend", "trend_losses", "skipped", "tuned_on")}
    return {**tuned, "objective": params["objective"]}


def backtest_forecaster(model_input_table: pd.DataFrame, target_series: pd.DataFrame, fe_params: dict[str, Any],
                        params: dict[str, Any], best_params: dict[str, Any],
                        forecast_layout: dict[str, Any]) -> tuple[pd.DataFrame, dict, dict, pd.DataFrame]:
    """Every candidate's out-of-sample predictions, each method's interval offsets, the choice per series,
    and MSTL's points at the forecast origin (for ``predict_forecast``).

    The trend anchor is the one tuning chose; the method per series is the ensemble
    unless one method beats it on strong evidence over every fold
    (``tokenplan.forecasting.method_choice``); the backtest folds grade that rule out of
    sample. The guard's drops per fold are kept in the selection (``guard_drops``). MSTL at
    the forecast origin is fitted here, on the workers, while the choice and the calibration
    keep one core busy (about a minute at 1,000 series that the forecast no longer waits).
    """
    spec = spec_from_params(fe_params, forecast_layout)
    trend = best_params.get("trend", _default_trend(spec))
    xgb_params = _model_params(best_params, params) if forecast_layout["model"] else None
    rule = SelectionRule.from_params(params.get("selection"))
    guard = GuardSettings.from_params(params.get("guard"))
    table, chosen, widths, drops, forecast_mstl, ranking, borrowed = backtest_candidates(
        with_trend(model_input_table, trend), target_series, spec, forecast_layout, params["quantiles"], xgb_params,
        seed=params["seed"], rule=rule, guard=guard, lags=LagModelSettings.from_params(params.get("lag_model")))
    selection = {"trend": trend, "chosen_on": "all folds", "tuning_pinball": best_params.get("trend_losses", {}),
                 "model_trained": bool(forecast_layout["model"]), "methods": chosen,
                 "ensemble_members": {key: members_present(methods, set(methods), rule.ensemble_size)
                                      for key, methods in ranking.items()},
                 "ensemble_ranking": ranking, "borrowed_evidence": borrowed,
                 "rule": vars(rule), "guard": vars(guard),
                 "single_method_allowed": rule.allows_single(forecast_layout["window"], forecast_layout["horizon"]),
                 "guard_drops": drops.astype({"origin": str}).to_dict(orient="records"),
                 "level_shares": {method: shares for method, offsets in widths.items()
                                  if method in {"ensemble", *chosen.values()} and (shares := level_shares(offsets))}}
    return table, widths, selection, forecast_mstl


def evaluate_backtest(backtest_predictions: pd.DataFrame, target_series: pd.DataFrame,
                      fe_params: dict[str, Any], params: dict[str, Any],
                      forecast_layout: dict[str, Any]) -> pd.DataFrame:
    """MASE, WAPE, pinball, coverage and Winkler per series, target and method, on the backtest folds only."""
    graded = backtest_predictions[backtest_predictions["role"] == "backtest"]
    return score_backtest(graded, target_series, spec_from_params(fe_params, forecast_layout), params["quantiles"])


def train_forecaster(model_input_table: pd.DataFrame, fe_params: dict[str, Any], params: dict[str, Any],
                     best_params: dict[str, Any], model_selection: dict[str, Any],
                     forecast_layout: dict[str, Any]) -> QuantileForecaster | NoModel:
    """The final model, fit on every labelled example with the chosen trend anchor (NoModel: not trainable)."""
    if not forecast_layout["model"]:
        return NoModel("history too short to train the model before the tuning folds")
    spec = spec_from_params(fe_params, forecast_layout)
    model = QuantileForecaster(feature_columns(spec), params["quantiles"], _model_params(best_params, params),
                               seed=params["seed"])
    return model.fit(with_trend(model_input_table, model_selection["trend"]))


def predict_forecast(forecaster: QuantileForecaster | NoModel, model_input_table: pd.DataFrame,
                     target_series: pd.DataFrame, quantile_offsets: dict[str, dict],
                     model_selection: dict[str, Any], fe_params: dict[str, Any], params: dict[str, Any],
                     forecast_layout: dict[str, Any],
                     forecast_mstl: pd.DataFrame | None = None,
                     migrations: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The forecast table and the guard's drops (folds and the final origin).

    Forecast: ``series, target, timestamp`` (bucket start, UTC), one column per quantile,
    every step after the last origin from each series' chosen method (the ensemble where
    the guard dropped it at this origin), with intervals calibrated on that method's fold
    errors and the upper quantiles capped at the guard's P90 envelope (``attrs["capped"]``: the series-targets
    it lowered, ``capped_summary``); ``step`` (buckets after the origin), ``origin`` (the history's last bucket,
    recorded even where the outage check left it missing) and ``method`` follow.
    Drops: one row per candidate the guard dropped, with ``role`` tuning, backtest or final.
    ``forecast_mstl``: MSTL's points at this origin from ``backtest_forecaster`` (None: fitted here).
    ``migrations``: a traffic forecast as one series is split between its models by their shares
    (``tokenplan.forecasting.migrations``).
    A series without usage in the history's last ``feature_engineering.ended_days`` is not forecast
    (``attrs["ended"]``: each one's last day of usage; ``tokenplan.forecasting.ended_series``).
    """
    spec = spec_from_params(fe_params, forecast_layout)
    guard = GuardSettings.from_params(params.get("guard"))
    examples = with_trend(model_input_table, model_selection["trend"])
    origin = examples["origin"].max()
    model = forecaster if isinstance(forecaster, QuantileForecaster) else None
    points, drops = candidate_points(examples, target_series, origin, spec, forecast_layout["seasons"], model,
                                     labelled_only=False, guard=guard,
                                     lags=LagModelSettings.from_params(params.get("lag_model")),
                                     mstl=None if forecast_mstl is None else lambda: forecast_mstl)
    points = with_ensemble(points[~np.isfinite(points["y"])], *ensemble_ranking(model_selection))
    keys = points["series"] + "|" + points["target"]
    complete = _complete_methods(points, keys)
    wanted = keys.map(model_selection["methods"]).fillna("ensemble")
    wanted = wanted.where([(k, m) in complete for k, m in zip(keys, wanted, strict=True)], "ensemble")
    rows = points[points["method"] == wanted]
    parts = [apply_intervals(group, quantile_offsets[method], params["quantiles"])
             for method, group in rows.groupby("method")]
    names = quantile_columns(params["quantiles"])
    # One growth path for a model's requests and tokens where their forecasts disagree (token_ratios).
    pooled, reconciled = reconcile_token_ratios(pd.concat(parts, ignore_index=True).rename(columns={"ds": "timestamp"}),
                                                target_series, names)
    out = cap_upper_quantiles(pooled.rename(columns={"timestamp": "ds"}), target_series, origin, spec,
                              params["quantiles"], guard).rename(columns={"ds": "timestamp"})
    ended = ended_series(target_series, int(fe_params.get("ended_days", 0)))
    capped = [c for c in capped_summary(pooled, out, names[-1]) if c["series"] not in ended]
    for column in ("timestamp", "origin"):
        out[column] = pd.to_datetime(out[column]).dt.tz_localize("UTC")
    out = out.sort_values(["series", "target", "timestamp"]).reset_index(drop=True)
    out = out.loc[~out["series"].isin(list(ended)), ["series", "target", "timestamp", *names, "step", "origin",
                                                      "method"]].reset_index(drop=True)
    out = split_migrations(out, migrations, names).sort_values(
        ["series", "target", "timestamp"], ignore_index=True)
    # Parquet keeps attrs: the report says what was pooled and what was left out as ended.
    out.attrs = {"token_ratios": reconciled, "ended": {s: str(d.date()) for s, d in ended.items()}, "capped": capped}
    folds = pd.DataFrame(model_selection.get("guard_drops", []))
    final = drops.assign(role="final").astype({"origin": str})
    return out, concat_drops([folds, final], final)


def _complete_methods(points: pd.DataFrame, keys: pd.Series) -> set[tuple[str, str]]:
    """``(series|target, method)`` pairs with a finite point at every step the series is forecast: a
    method chosen for a series but missing a step there gives way to the ensemble, rather than leave
    that step out of the plan."""
    finite = np.isfinite(points["point"].to_numpy(dtype=float))
    counts = pd.Series(1, index=points.index)[finite].groupby(
        [keys[finite], points["method"][finite]], observed=True).size()
    steps = points.groupby(keys)["step"].nunique()
    return {(key, method) for (key, method), n in counts.items() if n == steps[key]}


def _observed_buckets(history: pd.DataFrame | None) -> pd.Series | None:
    """Per ``series, target``: its history's buckets with a value from its first non-zero one on."""
    if history is None or history.empty:
        return None
    ordered = history.sort_values("ds")
    started = ordered.groupby(["series", "target"])["y"].transform(lambda y: y.fillna(0).gt(0).cummax())
    return history[started.astype(bool) & history["y"].notna()].groupby(["series", "target"]).size()


def forecast_totals(forecast: pd.DataFrame, backtest_predictions: pd.DataFrame, quantile_offsets: dict[str, dict],
                    params: dict[str, Any], migrations: pd.DataFrame | None = None,
                    forecast_history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Monthly and whole-horizon totals with intervals from out-of-sample errors of the chosen methods' totals.

    Every fold counts, the tuning folds too. Their errors are a little optimistic (the
    method was chosen there) and two tuning folds may overlap; but with the backtest folds
    alone (3 folds x 3 series on the demo) the spread came out too narrow: the demo's
    realised quarter totals fell inside P10-P90 for 13 of 15 instead of 15 of 15.
    Past the backtested window a total's level error is at least the share the chosen
    methods' daily intervals grow by (``level_shares`` of ``quantile_offsets["chosen"]``), so a
    total does not assume less level error than the days it adds up.
    A migrated traffic's totals are its own (its models' forecasts joined), split as its days are.
    A series too young for a backtest fold adds its level's standard error from its observed buckets in
    ``forecast_history`` to the pooled spread (``period_totals``).
    """
    names = quantile_columns(params["quantiles"])
    totals = period_totals(join_migrations(forecast, migrations, names),
                           backtest_predictions[backtest_predictions["method"] == "chosen"],
                           params["quantiles"], method="chosen",
                           level_floor=level_shares(quantile_offsets.get("chosen", {})),
                           history_buckets=_observed_buckets(forecast_history))
    return split_migrations(totals, migrations, names)
