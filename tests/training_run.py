"""Run the training stage's nodes in process on a small long table (no Kedro session)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from tests.synthetic import NO_EVENTS
from tokenplan.pipelines.feature_engineering.nodes import build_model_input_table, plan_forecast_layout
from tokenplan.pipelines.training import nodes as training

FE = {"freq": "D", "horizon": "quarter", "targets": ["requests"], "min_observed_fraction": 1.0,
      "origin_every": None, "trend": "auto", "trend_damping": 1.0, "level_weeks": 4, "trend_weeks": 12,
      "holiday_country": None}
TRAINING = {"quantiles": [0.1, 0.5, 0.9], "seed": 0, "objective": "squarederror", "min_train_seasons": 2,
            "selection": {"min_folds": 3, "margin": 0.05, "z": 1.0, "min_win_share": 0.66, "min_series": 3, "ensemble_size": 3}, "backtest": {"folds": 3},
            "tuning": {"folds": 2, "step_days": 28, "n_trials": 2, "timeout_seconds": None, "study_prefix": "t"}}


@dataclass
class TrainingRun:
    """What the training stage produced: the forecast, the guard's drops, the choice, the folds."""

    forecast: pd.DataFrame
    drops: pd.DataFrame
    selection: dict
    backtest: pd.DataFrame
    layout: dict


def run_training(series: pd.DataFrame, tmp_path, fe: dict | None = None, training_params: dict | None = None,
                 events: pd.DataFrame | Callable[[dict], pd.DataFrame] = NO_EVENTS) -> TrainingRun:
    """Layout, examples, tuning, backtest, final model and forecast for ``series`` (``series, target, ds, y``).

    ``events``: the calendar, or a function of the layout that returns it.
    """
    fe = {**FE, **(fe or {})}
    params = {**TRAINING, **(training_params or {})}
    params["tuning"] = {**params["tuning"], "storage_url": f"sqlite:///{tmp_path}/optuna.db"}
    layout = plan_forecast_layout(series, fe, params)
    calendar = events(layout) if callable(events) else events
    examples = build_model_input_table(series, calendar, fe, layout)
    best = training.tune_hyperparameters(examples, fe, params, layout)
    table, widths, selection, origin_mstl = training.backtest_forecaster(examples, series, fe, params, best, layout)
    model = training.train_forecaster(examples, fe, params, best, selection, layout)
    forecast, drops = training.predict_forecast(model, examples, series, widths, selection, fe, params, layout,
                                               origin_mstl)
    return TrainingRun(forecast, drops, selection, table, layout)
