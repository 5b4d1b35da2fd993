"""QuantileForecaster: calibrated quantiles never cross, are never negative, and map back to y."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.conformal import fit_offsets, offsets_for
from tokenplan.forecasting.features import FeatureSpec, feature_columns, make_examples, origin_grid
from tokenplan.forecasting.forecaster import QuantileForecaster, quantile_columns

QUANTILES = [0.1, 0.5, 0.9]
FAST = {"num_boost_round": 30, "learning_rate": 0.2, "max_depth": 3, "min_child_weight": 2.0}
SPEC = FeatureSpec(horizon=14, holiday_country=None)


@pytest.fixture(scope="module")
def examples() -> pd.DataFrame:
    """Small counts (mean ~1.5 a day), so low quantiles reach zero, plus a larger series."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2025-01-01", periods=220, freq="D")
    weekly = np.array([1.0, 1.2, 1.2, 1.1, 1.0, 0.3, 0.2])[ds.dayofweek]
    series = pd.concat([
        pd.DataFrame({"series": "tiny", "target": "requests", "ds": ds, "y": rng.poisson(1.5 * weekly).astype(float)}),
        pd.DataFrame({"series": "big", "target": "requests", "ds": ds, "y": 1e4 * weekly * rng.lognormal(0, 0.3, 220)}),
    ], ignore_index=True)
    events = pd.DataFrame({"start": pd.Series(dtype="datetime64[ns, UTC]"),
                           "end": pd.Series(dtype="datetime64[ns, UTC]"), "name": [], "kind": [], "scope": []})
    return make_examples(series, events, origin_grid(series, SPEC, every=7), SPEC)


def _crossing_offsets() -> dict[str, list[float]]:
    """Offsets that would put P10 above P90 if quantiles were not sorted after calibration."""
    return {"__all__": [1.5, 0.0, -1.5], "requests": [1.0, -3.0, -1.0]}


@pytest.mark.parametrize("objective", ["squarederror", "quantile"])
def test_calibrated_quantiles_never_cross_and_are_non_negative(examples, objective):
    model = QuantileForecaster(feature_columns(SPEC), QUANTILES, {**FAST, "objective": objective}).fit(examples)

    predicted = model.predict(examples, _crossing_offsets())

    names = quantile_columns(QUANTILES)
    assert list(predicted.columns) == names == ["p10", "p50", "p90"]
    assert predicted.index.equals(examples.index)
    values = predicted.to_numpy()
    assert np.isfinite(values).all()
    assert (np.diff(values, axis=1) >= 0).all()
    assert (values >= 0).all()
    assert (values == 0).any()  # the clip at zero was exercised on the tiny series


def test_predictions_map_z_back_through_the_anchor(examples):
    model = QuantileForecaster(feature_columns(SPEC), QUANTILES, FAST).fit(examples)
    big = examples[examples["series"] == "big"]

    z = model.predict_z(big)
    predicted = model.predict(big)

    assert z.shape == (len(big), len(QUANTILES))
    # Uncalibrated point model: every level is the same centre.
    np.testing.assert_allclose(z[:, 0], z[:, 2])
    expected = np.expm1(big["anchor"].to_numpy() + z[:, 1])
    np.testing.assert_allclose(predicted["p50"].to_numpy(), expected, rtol=1e-5)


def test_offsets_shift_each_row_by_its_own_calibration(examples):
    model = QuantileForecaster(feature_columns(SPEC), QUANTILES, FAST).fit(examples)
    errors = pd.DataFrame({"series": "big", "target": "requests",
                           **{f"e{i}": np.linspace(-1, 1, 101) for i in range(len(QUANTILES))}})
    offsets = fit_offsets(errors, QUANTILES, scales={"big|requests": 0.5, "tiny|requests": 0.1})

    predicted = model.predict(examples, offsets)

    shift = offsets_for(offsets, examples["series"], examples["target"])
    expected = np.expm1(examples["anchor"].to_numpy()[:, None] + model.predict_z(examples) + shift)
    np.testing.assert_allclose(predicted.to_numpy(), np.clip(expected, 0, None), rtol=1e-5, atol=1e-6)
    big = (examples["series"] == "big").to_numpy()
    log_width = np.log1p(predicted.loc[big, "p90"]) - np.log1p(predicted.loc[big, "p10"])
    np.testing.assert_allclose(log_width, 0.5 * (offsets["__all__"][2] - offsets["__all__"][0]), rtol=1e-4)


def test_fit_ignores_unlabelled_rows_and_rejects_no_labels(examples):
    unlabelled = examples.assign(z=np.nan)

    with pytest.raises(ValueError, match="no labelled examples"):
        QuantileForecaster(feature_columns(SPEC), QUANTILES, FAST).fit(unlabelled)

    with_future = pd.concat([examples, unlabelled.iloc[:50]], ignore_index=True)
    model = QuantileForecaster(feature_columns(SPEC), QUANTILES, FAST).fit(with_future)
    assert model.booster_.num_boosted_rounds() == FAST["num_boost_round"]


def test_same_seed_gives_identical_forecasts(examples):
    params = {**FAST, "subsample": 0.7}
    first = QuantileForecaster(feature_columns(SPEC), QUANTILES, params, seed=3).fit(examples).predict(examples)
    second = QuantileForecaster(feature_columns(SPEC), QUANTILES, params, seed=3).fit(examples).predict(examples)

    pd.testing.assert_frame_equal(first, second)
