"""Training: Optuna-tuned XGBoost, backtested against baselines, and the forecast."""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.training.nodes import (
    backtest_forecaster,
    evaluate_backtest,
    forecast_totals,
    predict_forecast,
    train_forecaster,
    tune_hyperparameters,
)


def create_pipeline(**kwargs) -> Pipeline:
    fe, tr, lay = "params:feature_engineering", "params:training", "forecast_layout"
    return Pipeline(
        [
            Node(func=tune_hyperparameters, inputs=["model_input_table", fe, tr, lay], outputs="best_params",
                 name="tune_hyperparameters"),
            Node(func=backtest_forecaster, inputs=["model_input_table", "forecast_history", fe, tr, "best_params", lay],
                 outputs=["backtest_predictions", "quantile_offsets", "model_selection", "forecast_mstl"],
                 name="backtest_forecaster"),
            Node(func=evaluate_backtest, inputs=["backtest_predictions", "forecast_history", fe, tr, lay],
                 outputs="backtest_metrics", name="evaluate_backtest"),
            Node(func=train_forecaster, inputs=["model_input_table", fe, tr, "best_params", "model_selection", lay],
                 outputs="forecaster", name="train_forecaster"),
            Node(func=predict_forecast, inputs=["forecaster", "model_input_table", "forecast_history", "quantile_offsets",
                                               "model_selection", fe, tr, lay, "forecast_mstl", "migrations"],
                 outputs=["forecast", "guard_drops"], name="predict_forecast"),
            Node(func=forecast_totals,
                 inputs=["forecast", "backtest_predictions", "quantile_offsets", tr, "migrations",
                         "forecast_history"],
                 outputs="forecast_totals", name="forecast_totals"),
        ]
    )
