"""Where the folds could not fit what the forecast fits, the forecast's widths come from the folds and the
series like the forecast's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.forecasting.conformal import StepErrors, recency_weights, step_offsets
from tokenplan.forecasting.forecast_calibration import folds_like_forecast
from tokenplan.forecasting.method_choice import _forecast_widths
from tokenplan.forecasting.row_keys import RowKeys

QUANTILES = [0.1, 0.5, 0.9]
# Two weeks of days from 1 October: 2-day folds with 7 to 13 days of history before each.
ORIGINS = pd.date_range("2026-10-07", periods=4, freq="2D")


def test_a_fold_is_like_the_forecast_once_its_history_supports_the_forecasts_seasons():
    # Day totals need two weeks for the weekly season: 22 days' folds at 13, 16 and 19 days of history.
    days = pd.date_range("2026-10-01", periods=22, freq="D")
    series = pd.concat([pd.DataFrame({"series": "old", "target": "requests", "ds": days, "y": 1.0}),
                        pd.DataFrame({"series": "new", "target": "requests", "ds": days[12:], "y": 1.0})])
    folds = pd.DataFrame({"series": ["old"] * 3 + ["new"], "target": "requests",
                          "origin": [days[12], days[15], days[18], days[15]]})
    like = folds_like_forecast(folds, series, "D", [7], days[-1])
    # A model adopted ten days before the end has no weekly season at the forecast either: its fold is like it.
    assert like.tolist() == [False, True, True, True]


def _two_populations(seed: int, origins: pd.DatetimeIndex = ORIGINS) -> pd.DataFrame:
    """Fold errors (log1p) of two weeks of days, every series' noise scale 1. Thirty smooth, trending series
    (MSTL's users: the ensemble of a fold without the week missed their trend by 5-20 noise units) and thirty
    noisy ones that keep the ensemble (its errors there standard normal)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(60):
        smooth = i < 30
        for origin in origins:
            for step in (1, 2):
                ensemble = rng.uniform(5, 20) * rng.choice([-1, 1]) if smooth else rng.normal()
                rows += [(f"s{i:02d}", origin, step, "ensemble", ensemble),
                         (f"s{i:02d}", origin, step, "mstl", rng.normal(0, 3 if smooth else 1.5))]
    return pd.DataFrame(rows, columns=["series", "origin", "step", "method", "e"]).assign(target="requests")


def _coverage_of_fresh_noisy_days(widths: dict, seed: int) -> float:
    """Share of new standard-normal errors (the noisy series' process) inside their P10-P90."""
    names = pd.Series([f"s{i:02d}" for i in range(30, 60)])
    upper = step_offsets(widths, names, pd.Series(["requests"] * 30), pd.Series([1] * 30))[:, 2]
    fresh = np.random.default_rng(seed).normal(size=(2000, 30))
    return float((np.abs(fresh) <= upper).mean())


def test_on_two_weeks_of_days_the_ensembles_width_comes_from_the_series_that_keep_it():
    """The known answer: the noisy series' errors are standard normal, so a calibrated P10-P90 holds 80%
    of their new days. Pooled with the trending series' ensemble errors, as every method's were, the
    noisy series' P10-P90 held nearly all of them (on M4 summed to 15 days, 99%)."""
    errors = _two_populations(seed=3)
    methods, names = pd.factorize(errors["method"], sort=True)
    keys = RowKeys.of(errors)
    table = StepErrors(errors["e"].to_numpy(), errors["step"].to_numpy(), keys, None, [2],
                       recency_weights(errors["origin"]), pd.factorize(errors["origin"], sort=True)[0])
    chosen = {f"s{i:02d}|requests": "mstl" if i < 30 else "ensemble" for i in range(60)}
    everything = table.widths(QUANTILES, rows=np.flatnonzero(methods == list(names).index("ensemble")))
    before = _coverage_of_fresh_noisy_days(everything, seed=4)
    no_fold_like_it = np.zeros(len(errors), bool)  # no fold has the two weeks the forecast's week needs
    now = _forecast_widths(table, QUANTILES, methods, names, no_fold_like_it, chosen)
    assert before > 0.97
    assert 0.74 <= _coverage_of_fresh_noisy_days(now["ensemble"], seed=4) <= 0.86
    # MSTL's users are all of MSTL's forecast here: nothing else moved.
    assert set(now) == {"ensemble", "mstl"}


def test_where_some_folds_are_like_the_forecast_each_series_width_comes_from_those():
    """Three weeks of days: the last folds have the week, the first did not and erred twice as much."""
    origins = pd.DatetimeIndex(["2026-10-07", "2026-10-10", "2026-10-13", "2026-10-16", "2026-10-19"])
    errors = _two_populations(seed=5, origins=origins)
    early = errors["origin"] < origins[3]
    errors.loc[early, "e"] *= 2
    days = pd.date_range("2026-10-03", "2026-10-22", freq="D")
    series = pd.concat([pd.DataFrame({"series": n, "target": "requests", "ds": days, "y": 1.0})
                        for n in errors["series"].unique()], ignore_index=True)
    like = folds_like_forecast(errors, series, "D", [7], pd.Timestamp("2026-10-22"))
    assert like.tolist() == (~early).tolist()
    methods, names = pd.factorize(errors["method"], sort=True)
    table = StepErrors(errors["e"].to_numpy(), errors["step"].to_numpy(), RowKeys.of(errors), None, [2],
                       recency_weights(errors["origin"]), pd.factorize(errors["origin"], sort=True)[0])
    chosen = {f"s{i:02d}|requests": "mstl" if i < 30 else "ensemble" for i in range(60)}
    now = _forecast_widths(table, QUANTILES, methods, names, like, chosen)
    assert 0.74 <= _coverage_of_fresh_noisy_days(now["ensemble"], seed=6) <= 0.86
    # Read off every fold, the weaker early folds widen it: the series' users alone are not enough.
    every_fold = _forecast_widths(table, QUANTILES, methods, names, np.zeros(len(errors), bool), chosen)
    assert _coverage_of_fresh_noisy_days(every_fold["ensemble"], seed=6) > 0.88


def test_a_single_models_export_is_read_as_everywhere_else():
    """One model's three weeks of days have six errors at folds like the forecast: two folds' level errors
    are no width, and its widths are those of every fold, as before."""
    origins = pd.DatetimeIndex(["2026-10-07", "2026-10-10", "2026-10-13", "2026-10-16", "2026-10-19"])
    errors = _two_populations(seed=7, origins=origins)
    errors = errors[errors["series"] == "s40"].reset_index(drop=True)
    methods, names = pd.factorize(errors["method"], sort=True)
    table = StepErrors(errors["e"].to_numpy(), errors["step"].to_numpy(), RowKeys.of(errors), None, [2],
                       recency_weights(errors["origin"]), pd.factorize(errors["origin"], sort=True)[0])
    like = (errors["origin"] >= origins[3]).to_numpy()
    now = _forecast_widths(table, QUANTILES, methods, names, like, {"s40|requests": "ensemble"})
    for name in names:
        assert now[name] == table.widths(QUANTILES, rows=np.flatnonzero(methods == list(names).index(name)))
