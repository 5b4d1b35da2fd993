"""Growth is forecast: on a series growing 8% a month, the quarter total is within 10%."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.synthetic import NO_EVENTS
from tokenplan.forecasting.backtest import fold_origins, tuning_origins
from tokenplan.forecasting.features import FeatureSpec, feature_columns, make_examples, origin_grid
from tokenplan.forecasting.forecaster import QuantileForecaster
from tokenplan.forecasting.tuning import tune

MONTHLY_GROWTH = 0.08
HISTORY_DAYS, HORIZON = 420, 91


def _growing_series(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """History with noise, and the noise-free expectation of the next quarter."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2025-01-01", periods=HISTORY_DAYS + HORIZON, freq="D")
    weekly = np.array([1.0, 1.15, 1.2, 1.1, 1.0, 0.5, 0.4])[ds.dayofweek]
    expected = 5e4 * (1 + MONTHLY_GROWTH) ** (np.arange(len(ds)) / 30.44) * weekly
    observed = expected * rng.lognormal(-0.02, 0.2, len(ds))
    history = pd.DataFrame({"series": "claude-x", "target": "requests", "ds": ds[:HISTORY_DAYS],
                            "y": observed[:HISTORY_DAYS]})
    return history, expected[HISTORY_DAYS:]


def _quarter_total(history: pd.DataFrame, trend: str) -> float:
    spec = FeatureSpec(horizon=HORIZON, holiday_country=None, trend=trend)
    examples = make_examples(history, NO_EVENTS, origin_grid(history, spec, every=7), spec)
    model = QuantileForecaster(feature_columns(spec), [0.1, 0.5, 0.9], {"num_boost_round": 150}).fit(examples)
    future = examples[examples["origin"] == examples["origin"].max()]
    return float(model.predict(future)["p50"].sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quarter_total_of_a_growing_series_is_within_ten_percent(seed):
    history, truth = _growing_series(seed)

    total = _quarter_total(history, "local_linear")

    assert abs(total / truth.sum() - 1) < 0.10


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_auto_trend_is_chosen_in_tuning_before_the_backtest_windows(tmp_path):
    history, _ = _growing_series(0)
    spec = FeatureSpec(horizon=HORIZON, holiday_country=None, trend="auto")
    examples = make_examples(history, NO_EVENTS, origin_grid(history, spec, every=7), spec)
    backtest = fold_origins(examples, spec, n_folds=1, step=HORIZON)
    origins = tuning_origins(examples, spec, backtest, n_folds=2, step=28)
    assert max(origins) + pd.Timedelta(days=HORIZON) <= min(backtest)

    best = tune(examples, spec, [0.1, 0.5, 0.9], origins, f"sqlite:///{tmp_path / 'trend.db'}", "trend",
                n_trials=8, timeout_seconds=None, seed=0, fixed_params={"num_boost_round": 50})

    # Both anchors were tried; on 8%-a-month growth the flat one loses.
    assert set(best["trend_losses"]) == {"local_linear", "level"}
    assert best["trend"] == "local_linear"
    losses = {trend: entry["best_loss"] for trend, entry in best["trend_losses"].items()}
    assert losses["local_linear"] < losses["level"]
    assert sum(entry["trials"] for entry in best["trend_losses"].values()) == 8
