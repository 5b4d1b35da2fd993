"""Rolling-origin folds: where they sit, and that a fold's model never trains on its future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.backtest import fold_origins, train_until, tuning_origins
from tokenplan.forecasting.features import FeatureSpec, feature_columns, make_examples, origin_grid
from tokenplan.forecasting.forecaster import QuantileForecaster

SPEC = FeatureSpec(horizon=14, holiday_country=None)
NO_EVENTS = pd.DataFrame({"start": pd.Series(dtype="datetime64[ns, UTC]"),
                          "end": pd.Series(dtype="datetime64[ns, UTC]"), "name": [], "kind": [], "scope": []})


def _series(y: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"series": "m", "target": "requests",
                         "ds": pd.date_range("2025-01-01", periods=len(y), freq="D"), "y": y})


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return _series(1e3 * rng.lognormal(0, 0.2, 200))


def _examples(series: pd.DataFrame) -> pd.DataFrame:
    return make_examples(series, NO_EVENTS, origin_grid(series, SPEC, every=7), SPEC)


def test_folds_end_at_the_last_origin_with_a_full_horizon_of_actuals(series):
    examples = _examples(series)
    last_day = series["ds"].max()

    origins = fold_origins(examples, SPEC, n_folds=3, step=14)
    tuning = tuning_origins(examples, SPEC, origins, n_folds=2, step=7)

    assert origins[-1] == last_day - pd.Timedelta(days=SPEC.horizon)
    assert list(np.diff(origins)) == [pd.Timedelta(days=14)] * 2
    # A tuning fold's whole validation window ends where the first backtest fold starts.
    assert tuning[-1] + pd.Timedelta(days=SPEC.horizon) == origins[0]
    assert list(np.diff(tuning)) == [pd.Timedelta(days=7)]
    with pytest.raises(ValueError, match="multiple of"):
        fold_origins(examples, SPEC, n_folds=2, step=10)
    # A tuning fold at the very first origin would have nothing to train on.
    first = examples["origin"].min()
    with pytest.raises(ValueError, match="history too short"):
        tuning_origins(examples, SPEC, [first + pd.Timedelta(days=SPEC.horizon)], n_folds=1, step=7)


def test_a_fold_model_is_blind_to_labels_after_its_origin(series):
    examples = _examples(series)
    origin = fold_origins(examples, SPEC, n_folds=2, step=14)[0]
    garbage = series.copy()
    after = garbage["ds"] > origin
    garbage.loc[after, "y"] = np.random.default_rng(1).choice([0.0, 1e9], size=int(after.sum()))
    dirty = _examples(garbage)

    train, dirty_train = train_until(examples, origin), train_until(dirty, origin)

    assert train["ds"].max() <= origin and np.isfinite(train["z"]).all()
    pd.testing.assert_frame_equal(train.reset_index(drop=True), dirty_train.reset_index(drop=True))
    test = examples[examples["origin"] == origin]
    params = {"num_boost_round": 20}
    clean_z = QuantileForecaster(feature_columns(SPEC), [0.5], params).fit(train).predict_z(test)
    dirty_z = QuantileForecaster(feature_columns(SPEC), [0.5], params).fit(dirty_train).predict_z(test)
    np.testing.assert_array_equal(clean_z, dirty_z)


def test_a_fold_fit_copies_only_the_features_and_label_and_fits_the_same_model(series):
    from tokenplan.forecasting.candidates import fit_for_origin

    examples = _examples(series)
    origin = fold_origins(examples, SPEC, n_folds=2, step=14)[0]
    slim = train_until(examples, origin, feature_columns(SPEC))
    whole = train_until(examples, origin)

    # At 1,000 series every column of millions of training rows was copied at each fit.
    assert list(slim.columns) == [*feature_columns(SPEC), "z"]
    assert slim.index.equals(whole.index)
    test = examples[examples["origin"] == origin]
    params = {"num_boost_round": 20}
    np.testing.assert_array_equal(fit_for_origin(examples, origin, SPEC, [0.5], params, seed=0).predict_z(test),
                                  QuantileForecaster(feature_columns(SPEC), [0.5], params).fit(whole).predict_z(test))
