"""Methods are chosen on the tuning folds only; intervals never narrow with the step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.conformal import fit_step_widths, step_bins, step_offsets
from tokenplan.forecasting.method_choice import choose_methods


def _points(role: str, winner: str, loser: str) -> pd.DataFrame:
    """One fold where ``winner`` is exact and ``loser`` is 50% off, plus an ensemble in between."""
    y = np.full(10, 100.0)
    rows = []
    for method, point in ((winner, y), (loser, 1.5 * y), ("ensemble", 1.25 * y)):
        rows.append(pd.DataFrame({"series": "m", "target": "requests", "step": np.arange(1, 11), "y": y,
                                  "point": point, "method": method, "role": role}))
    return pd.concat(rows, ignore_index=True)


def test_the_choice_ignores_the_backtest_folds():
    # mstl wins the tuning fold; xgboost wins two backtest folds by far more.
    points = pd.concat([_points("tuning", "mstl", "xgboost"), _points("backtest", "xgboost", "mstl"),
                        _points("backtest", "xgboost", "mstl")], ignore_index=True)
    assert choose_methods(points, margin=0.05) == {"m|requests": "mstl"}
    # Relabel the backtest folds as tuning: now the choice follows them (the test can fail).
    assert choose_methods(points.assign(role="tuning"), margin=0.05) == {"m|requests": "xgboost"}


def test_the_ensemble_is_kept_within_the_margin():
    points = _points("tuning", "mstl", "xgboost")
    points.loc[points["method"] == "mstl", "point"] = 110.0      # MAE 10
    points.loc[points["method"] == "ensemble", "point"] = 110.4  # MAE 10.4: within 5% of the best
    assert choose_methods(points, margin=0.05) == {"m|requests": "ensemble"}


def test_widths_never_narrow_with_the_step_and_grow_past_the_window():
    rng = np.random.default_rng(0)
    n = 4000
    steps = rng.integers(1, 29, n)
    # Constant noise, but the far steps happen to be a little calmer in this sample.
    errors = pd.DataFrame({"series": "m", "target": "requests", "step": steps,
                           "e": rng.normal(0, 0.2, n) * np.where(steps > 21, 0.8, 1.0)})
    widths = fit_step_widths(errors, [0.1, 0.5, 0.9], None, step_bins(28, 7))
    grid = pd.Series(np.arange(1, 92))
    offsets = step_offsets(widths, pd.Series(["m"] * len(grid)), pd.Series(["requests"] * len(grid)), grid)
    upper = offsets[:, 2]
    assert (np.diff(upper) >= 0).all()
    assert upper[-1] > upper[27] * 1.5  # sqrt(91/28) past the 28-step window
    assert np.allclose(offsets[:, 0], -upper) and np.allclose(offsets[:, 1], 0)


def test_noisier_series_get_wider_intervals():
    # b's history is four times as noisy and its errors four times as large: 4x the width.
    errors = pd.DataFrame({"series": ["a", "b"] * 50, "target": "requests", "step": 1,
                           "e": np.tile([0.05, -0.2], 50)})
    widths = fit_step_widths(errors, [0.1, 0.5, 0.9], {"a|requests": 0.05, "b|requests": 0.2}, [7])
    offsets = step_offsets(widths, pd.Series(["a", "b"]), pd.Series(["requests"] * 2), pd.Series([1, 1]))
    assert offsets[1, 2] == pytest.approx(4 * offsets[0, 2])


def test_a_series_own_errors_move_its_width_but_shrink_toward_the_pool():
    # Same history noise; c's backtest errors are three times a's.
    errors = pd.DataFrame({"series": ["a", "c"] * 60, "target": "requests", "step": 1,
                           "e": np.tile([0.1, 0.3], 60)})
    widths = fit_step_widths(errors, [0.1, 0.5, 0.9], None, [7])
    offsets = step_offsets(widths, pd.Series(["a", "c"]), pd.Series(["requests"] * 2), pd.Series([1, 1]))
    assert 0.1 < offsets[0, 2] < offsets[1, 2] <= 0.3 + 1e-9  # a: shrunk up toward the pooled 80% quantile
