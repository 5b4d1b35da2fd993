"""The ensemble unless one method clearly wins; the rule is graded out of sample; widths never narrow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.conformal import fit_step_widths, step_bins, step_offsets
from tokenplan.forecasting.method_choice import SelectionRule, _graded_choices, choose_methods

RULE = SelectionRule(min_folds=3, margin=0.05, z=1.0, min_win_share=0.66, min_series=3)


def _fold(origin: int, errors: dict[str, float], role: str = "tuning") -> pd.DataFrame:
    """One fold: each method's point is ``y * (1 + error)`` at every step."""
    y = np.full(10, 100.0)
    start = pd.Timestamp("2026-01-01") + pd.Timedelta(days=7 * origin)
    return pd.concat([pd.DataFrame({"series": "m", "target": "requests", "origin": start, "step": np.arange(1, 11),
                                    "ds": start + pd.to_timedelta(np.arange(1, 11), unit="D"), "y": y,
                                    "point": y * (1 + error), "method": method, "role": role})
                      for method, error in errors.items()], ignore_index=True)


def _folds(errors: list[dict[str, float]], roles: list[str] | None = None) -> pd.DataFrame:
    roles = roles or ["tuning"] * len(errors)
    return pd.concat([_fold(i, e, r) for i, (e, r) in enumerate(zip(errors, roles, strict=True))],
                     ignore_index=True)


def test_one_or_two_folds_keep_the_ensemble_however_large_the_win():
    points = _folds([{"mstl": 0.01, "ensemble": 0.3}] * 2)
    assert choose_methods(points, RULE) == {"m|requests": "ensemble"}
    # Three consistent folds are enough evidence (the test can fail).
    assert choose_methods(_folds([{"mstl": 0.01, "ensemble": 0.3}] * 3), RULE) == {"m|requests": "mstl"}


def test_a_win_within_the_fold_to_fold_noise_keeps_the_ensemble():
    # mstl is far ahead on two folds and behind on three: on average ahead, but noisy.
    noisy = [{"mstl": 0.02, "ensemble": 0.2}] * 2 + [{"mstl": 0.25, "ensemble": 0.2}] * 3
    assert choose_methods(_folds(noisy), RULE) == {"m|requests": "ensemble"}
    steady = [{"mstl": 0.15, "ensemble": 0.2}] * 5
    assert choose_methods(_folds(steady), RULE) == {"m|requests": "mstl"}


def test_a_method_the_guard_dropped_at_a_fold_is_not_chosen():
    points = _folds([{"mstl": 0.01, "xgboost": 0.1, "ensemble": 0.3}] * 4)
    dropped = points[~((points["method"] == "mstl") & (points["origin"] == points["origin"].max()))]
    assert choose_methods(dropped, RULE) == {"m|requests": "xgboost"}


def test_the_backtest_grades_the_rule_on_the_folds_before_each_one():
    # mstl wins every fold by far. At the first backtest fold only two folds precede it
    # (too few: the ensemble is graded there); at the later two, the rule picks mstl.
    points = _folds([{"mstl": 0.01, "ensemble": 0.3}] * 5, ["tuning"] * 2 + ["backtest"] * 3)
    chosen = _graded_choices(points, RULE, choose_methods(points, RULE))
    graded = chosen[chosen["role"] == "backtest"].groupby("origin")["point"].first()
    assert graded.tolist() == [130.0, 101.0, 101.0]
    assert choose_methods(points, RULE) == {"m|requests": "mstl"}  # the forecast uses every fold


def _fold_errors(level: float, noise: float, folds: int = 150, seed: int = 0) -> pd.DataFrame:
    """28-step folds of one series whose errors are a level per fold (spread ``level``) plus noise per step."""
    rng = np.random.default_rng(seed)
    steps = np.tile(np.arange(1, 29), folds)
    fold = np.repeat(np.arange(folds), 28)
    e = rng.normal(0, level, folds)[fold] + rng.normal(0, noise, len(fold))
    # The far steps happen to be a little calmer in this sample.
    return pd.DataFrame({"series": "m", "target": "requests", "step": steps, "origin": fold,
                         "e": e * np.where(steps > 21, 0.8, 1.0)})


def _upper_offsets(widths: dict) -> np.ndarray:
    grid = pd.Series(np.arange(1, 92))
    offsets = step_offsets(widths, pd.Series(["m"] * len(grid)), pd.Series(["requests"] * len(grid)), grid)
    assert np.allclose(offsets[:, 0], -offsets[:, 2]) and np.allclose(offsets[:, 1], 0)
    return offsets[:, 2]


def test_widths_never_narrow_and_a_level_error_grows_past_the_window_up_to_the_widest_error_seen():
    errors = _fold_errors(level=0.2, noise=0.02)
    widths = fit_step_widths(errors, [0.1, 0.5, 0.9], None, step_bins(28, 7))
    share = widths["__level_share__"]["requests"]
    assert share > 0.95
    upper = _upper_offsets(widths)
    assert (np.diff(upper) >= 0).all()
    # Past the 28-step window a level error widens (sqrt(91/28) would be x1.8), but no
    # further than the error 95% of the backtest's errors stayed within.
    widest = np.quantile(np.abs(errors["e"]), 0.95)
    assert upper[27] * 1.3 < upper[-1] <= widest + 1e-9
    assert upper[40] == pytest.approx(min(upper[27] * np.sqrt(share * 41 / 28 + 1 - share), widest))


def test_noise_that_comes_and_goes_bucket_by_bucket_does_not_widen_past_the_window():
    """Errors of a trickle: no level error from fold to fold, only each bucket's own noise. Grown like
    a level error, its daily P90 four months out was three times its first week's."""
    widths = fit_step_widths(_fold_errors(level=0.0, noise=0.3), [0.1, 0.5, 0.9], None, step_bins(28, 7))
    assert widths["__level_share__"]["requests"] < 0.05
    upper = _upper_offsets(widths)
    assert (np.diff(upper) >= 0).all()
    assert upper[-1] <= upper[27] * 1.05
    both = fit_step_widths(_fold_errors(level=0.15, noise=0.15), [0.1, 0.5, 0.9], None, step_bins(28, 7))
    assert 0.35 < both["__level_share__"]["requests"] < 0.65  # half of each: grows, but less than a level error
    grown = _upper_offsets(both)
    assert 1.05 < grown[-1] / grown[27] < np.sqrt(91 / 28)


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


def test_a_method_that_wins_across_series_becomes_the_default_for_all_of_them():
    # On each of six series xgboost is ahead on average but wins one fold in three (alone, no
    # series would switch); across the six it is clearly ahead, so it is every series' default.
    noisy = [{"xgboost": 0.05, "ensemble": 0.2}, {"xgboost": 0.3, "ensemble": 0.2}, {"xgboost": 0.3, "ensemble": 0.2}]
    per_series = [_folds(noisy).assign(series=f"s{i}") for i in range(6)]
    assert choose_methods(per_series[0], RULE) == {"s0|requests": "ensemble"}  # one series: not enough
    both = pd.concat(per_series, ignore_index=True)
    assert set(choose_methods(both, RULE).values()) == {"xgboost"}
    # A series where the guard dropped xgboost at a fold after one it forecast keeps the ensemble.
    second = sorted(both["origin"].unique())[1]
    dropped = both[~((both["series"] == "s5") & (both["method"] == "xgboost") & (both["origin"] == second))]
    chosen = choose_methods(dropped, RULE)
    assert chosen["s5|requests"] == "ensemble" and chosen["s0|requests"] == "xgboost"


def test_a_method_that_could_not_be_fitted_on_the_first_fold_is_judged_where_it_forecast():
    # MSTL needs more history than the first fold had; on the three folds after it, it halves
    # the ensemble's error every time. Required at every fold, it could never be chosen.
    late = [{"ensemble": 0.3}] + [{"mstl": 0.1, "ensemble": 0.3}] * 3
    assert choose_methods(_folds(late), RULE) == {"m|requests": "mstl"}
    # Two folds it forecast are not enough evidence, however large the win.
    two = [{"ensemble": 0.3}] * 2 + [{"mstl": 0.1, "ensemble": 0.3}] * 2
    assert choose_methods(_folds(two), RULE) == {"m|requests": "ensemble"}
    # Dropped by the guard after its first fold: not a late start, the ensemble stays.
    gap = [{"ensemble": 0.3}, {"mstl": 0.1, "ensemble": 0.3}, {"ensemble": 0.3}] + [{"mstl": 0.1, "ensemble": 0.3}] * 3
    assert choose_methods(_folds(gap), RULE) == {"m|requests": "ensemble"}


def test_the_ensemble_combines_the_members_that_did_best_on_the_folds_before():
    from tokenplan.forecasting.candidates import with_ensemble
    from tokenplan.forecasting.method_choice import ensemble_members_by_evidence

    errors = {"xgboost": 0.05, "mstl": 0.1, "daily_naive": 0.15, "seasonal_naive": 0.6, "seasonal_mean": 0.8}
    points = _folds([errors] * 3)
    third = points["origin"].max()
    assert ensemble_members_by_evidence(points, 3) == {"m|requests": ["xgboost", "mstl", "daily_naive"]}
    assert ensemble_members_by_evidence(points, 3, before=points["origin"].min()) == {}  # no fold before the first
    # At the third fold: the median of the three best (mstl's 110), not of all five (115).
    fold = with_ensemble(points[points["origin"] == third],
                         ensemble_members_by_evidence(points, 3, before=third))
    assert fold.loc[fold["method"] == "ensemble", "point"].round(6).unique().tolist() == [110.0]
    plain = with_ensemble(points[points["origin"] == third])
    assert plain.loc[plain["method"] == "ensemble", "point"].round(6).unique().tolist() == [115.0]
    # A member the guard dropped at this origin is left out; with none present, every candidate combines.
    without = points[(points["origin"] == third) & ~points["method"].isin(["xgboost", "mstl", "daily_naive"])]
    combined = with_ensemble(without, {"m|requests": ["xgboost", "mstl", "daily_naive"]}).query("method == 'ensemble'")
    assert combined["point"].to_numpy() == pytest.approx(170.0)  # a median of two: their mean


def test_a_median_of_two_is_their_mean_in_counts_not_in_log1p():
    # A key used every other day: the seasonal naive repeats last week's empty day, the seasonal mean
    # reads the level. Their mean in log1p, a geometric mean of 1 + point, read 35 between 0 and 1,250;
    # a plan adding such days put the quarter at a tenth of what the key uses.
    from tokenplan.forecasting.candidates import with_ensemble

    points = pd.DataFrame({"series": "m", "target": "requests", "ds": pd.Timestamp("2026-12-01"),
                           "method": ["seasonal_naive", "seasonal_mean"], "point": [0.0, 1250.0]})
    assert with_ensemble(points).query("method == 'ensemble'")["point"].tolist() == [625.0]
    # An odd count keeps its middle member exactly.
    three = pd.concat([points, points.iloc[:1].assign(method="mstl", point=40.0)], ignore_index=True)
    assert with_ensemble(three).query("method == 'ensemble'")["point"].tolist() == [40.0]


def test_a_member_the_guard_dropped_at_the_origin_gives_way_to_the_next_in_the_ranking():
    """Ranked in full, the ensemble keeps three members where the guard drops one: a median of the
    two left is their mean, which put one target between an old and a new level."""
    from tokenplan.forecasting.candidates import members_present, with_ensemble

    errors = {"xgboost": 0.05, "mstl": 0.1, "daily_naive": 0.15, "seasonal_naive": 0.6, "seasonal_mean": 0.8}
    fold = _folds([errors])
    ranking = {"m|requests": ["xgboost", "mstl", "daily_naive", "seasonal_naive", "seasonal_mean"]}
    full = with_ensemble(fold, ranking, size=3).query("method == 'ensemble'")
    assert full["point"].round(6).unique().tolist() == [110.0]  # xgboost 105, mstl 110, daily_naive 115
    without = fold[fold["method"] != "mstl"]
    kept = with_ensemble(without, ranking, size=3).query("method == 'ensemble'")
    assert kept["point"].round(6).unique().tolist() == [115.0]  # xgboost, daily_naive, seasonal_naive (160)
    truncated = with_ensemble(without, {"m|requests": ranking["m|requests"][:3]}).query("method == 'ensemble'")
    assert truncated["point"].to_numpy() == pytest.approx(110.0)  # xgboost 105 and daily_naive 115
    assert members_present(ranking["m|requests"], {"mstl", "seasonal_mean", "daily_naive"}, 2) == \
        ["mstl", "daily_naive"]


def test_a_member_the_guard_dropped_counts_that_folds_worst_error_not_an_exclusion():
    """A drop after folds the method forecast (the guard's verdict) is that fold's worst error:
    the best method on every other fold still enters the median, on its penalty."""
    from tokenplan.forecasting.method_choice import ensemble_members_by_evidence

    errors = {"mstl": 0.02, "lag_xgboost": 0.01, "seasonal_naive": 0.2, "seasonal_mean": 0.25, "daily_naive": 0.3}
    points = _folds([errors] * 5)
    origins = sorted(points["origin"].unique())
    # lag_xgboost dropped at the third and fourth folds: (0.01 x 3 + 0.3 x 2) / 5 = 0.126.
    thin = points[~((points["method"] == "lag_xgboost") & points["origin"].isin(origins[2:4]))]
    assert ensemble_members_by_evidence(thin, 3) == {"m|requests": ["mstl", "lag_xgboost", "seasonal_naive"]}


def test_a_member_the_history_could_not_fit_at_the_first_folds_ranks_by_its_own_record():
    """A lag model first fitted at the last of five folds (a week of hours: no row to train on
    before) is taken to do at the first four as it did, against the methods present at every
    fold, where it could: here the best. Counted as the worst error there, it stayed out."""
    from tokenplan.forecasting.method_choice import ensemble_members_by_evidence

    errors = {"mstl": 0.02, "lag_xgboost": 0.01, "seasonal_naive": 0.2, "seasonal_mean": 0.21, "daily_naive": 0.3}
    points = _folds([errors] * 5)
    origins = sorted(points["origin"].unique())
    late = points[~((points["method"] == "lag_xgboost") & (points["origin"] < origins[4]))]
    assert ensemble_members_by_evidence(late, 3) == {"m|requests": ["lag_xgboost", "mstl", "seasonal_naive"]}
    # Worse than every other method where it could be fit: last, as before.
    worse = late.assign(point=np.where(late["method"] == "lag_xgboost", late["y"] * 1.5, late["point"]))
    assert "lag_xgboost" not in ensemble_members_by_evidence(worse, 3)["m|requests"]


def _many_series(n_series: int, targets: int = 4, folds: int = 5, steps: int = 4) -> pd.DataFrame:
    """A fold table of ``n_series`` x ``targets`` series-targets, each method a different noise level."""
    rng = np.random.default_rng(0)
    methods = ["ensemble", "xgboost", "lag_xgboost", "mstl", "seasonal_mean", "seasonal_naive"]
    keys = pd.MultiIndex.from_product([[f"team{i:04d}/key" for i in range(n_series)],
                                       [f"target{t}" for t in range(targets)],
                                       pd.date_range("2026-01-05", periods=folds, freq="28D"),
                                       np.arange(1, steps + 1), methods],
                                      names=["series", "target", "origin", "step", "method"])
    points = keys.to_frame(index=False)
    points["ds"] = points["origin"] + pd.to_timedelta(points["step"], unit="D")
    points["y"] = np.repeat(rng.gamma(2.0, 100.0, len(points) // len(methods)), len(methods))
    noise = np.exp(rng.normal(0, 0.3, (n_series * targets, len(methods))))
    scale = np.repeat(noise, folds * steps, axis=0).ravel()
    points["point"] = points["y"] * np.exp(rng.normal(0, 0.2, len(points)) * scale)
    points["role"] = np.where(points["origin"] < points["origin"].min() + pd.Timedelta(days=56), "tuning", "backtest")
    return points


def test_the_choice_at_a_thousand_series_takes_seconds():
    import time

    from tokenplan.forecasting.method_choice import _evidence_ensembles

    points = _many_series(1000, targets=1)
    started = time.perf_counter()
    points, errors = _evidence_ensembles(points, 3)
    chosen = choose_methods(points, SelectionRule())
    graded = _graded_choices(points, SelectionRule(), chosen, errors)
    # A pandas group per series and per fold took over 30 s here (1,000 series-targets,
    # five folds): the backtest spent minutes choosing at 1,000 series.
    assert time.perf_counter() - started < 15
    assert len(chosen) == 1000 and set(graded["method"]) == {"chosen"}
    # The precomputed fold errors give what the table gives.
    assert chosen == choose_methods(points, SelectionRule())
    pd.testing.assert_frame_equal(graded, _graded_choices(points, SelectionRule(), chosen))


def _fold_tables_as_candidates_give_them(points: pd.DataFrame) -> pd.DataFrame:
    """``points`` as the backtest holds them: per fold the ensemble's rows first, then the candidates'."""
    from tokenplan.forecasting.candidates import with_ensemble

    folds = [with_ensemble(fold) for _, fold in points.groupby("origin", sort=True)]
    table = pd.concat(folds, ignore_index=True)
    role = table.pop("role")
    table.insert(table.columns.get_loc("method"), "role", role)
    return table


def test_each_folds_ensemble_is_rebuilt_in_place_as_a_fresh_combination_would_be():
    from tokenplan.forecasting.candidates import members_present, with_ensemble
    from tokenplan.forecasting.method_choice import _candidate_errors, _evidence_ensembles, _members, fold_errors

    points = _fold_tables_as_candidates_give_them(_many_series(4, targets=2).query("method != 'ensemble'"))
    got, errors = _evidence_ensembles(points, 2)
    # The reference: each fold's table rebuilt by with_ensemble from the members chosen on the folds before it.
    candidates = _candidate_errors(fold_errors(points, (points["method"] != "ensemble").to_numpy()))

    def members(origin) -> dict[str, list[str]]:
        ranking = _members(_candidate_errors(candidates, origin), None)
        return {k: members_present(v, set(v), 2) for k, v in ranking.items()}

    expected = pd.concat([with_ensemble(fold, members(origin))
                          for origin, fold in points.groupby("origin", sort=True)], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    assert not got.loc[got["method"] == "ensemble", "point"].equals(points.loc[points["method"] == "ensemble", "point"])
    assert "ensemble" in errors.columns
    # A fold whose ensemble rows are not one per series, target and time is refused, not misaligned.
    with pytest.raises(ValueError, match="ensemble rows"):
        _evidence_ensembles(points.drop(index=points.index[points["method"] == "ensemble"][:1]), 2)


def test_the_forecast_reads_mstl_points_from_the_backtest_as_if_it_had_fitted_them(tmp_path):
    from tests.synthetic import NO_EVENTS
    from tests.training_run import FE, TRAINING
    from tokenplan.forecasting.candidates import start_mstl
    from tokenplan.pipelines.feature_engineering.nodes import build_model_input_table, plan_forecast_layout
    from tokenplan.pipelines.training import nodes as training
    from tokenplan.pipelines.training.nodes import spec_from_params

    rng = np.random.default_rng(1)
    days = pd.date_range("2025-01-01", periods=240, freq="D")
    weekly = 1 + 0.3 * np.sin(2 * np.pi * np.arange(len(days)) / 7)
    series = pd.concat([pd.DataFrame({"series": name, "target": "requests", "ds": days,
                                      "y": np.round(level * weekly * rng.lognormal(0, 0.1, len(days)))})
                        for name, level in (("a", 500.0), ("b", 80.0))], ignore_index=True)
    params = {**TRAINING, "tuning": {**TRAINING["tuning"], "storage_url": f"sqlite:///{tmp_path}/optuna.db"}}
    layout = plan_forecast_layout(series, FE, params)
    examples = build_model_input_table(series, NO_EVENTS, FE, layout)
    best = training.tune_hyperparameters(examples, FE, params, layout)
    _, widths, selection, origin_mstl = training.backtest_forecaster(examples, series, FE, params, best, layout)
    # MSTL at the forecast origin, fitted during the backtest, is what the forecast would fit itself.
    spec = spec_from_params(FE, layout)
    own = start_mstl(examples, series, examples["origin"].max(), spec, layout["seasons"])()
    pd.testing.assert_frame_equal(origin_mstl, own)
    assert len(origin_mstl) == 2 * layout["horizon"] and origin_mstl["point"].notna().all()
    model = training.train_forecaster(examples, FE, params, best, selection, layout)
    given, _ = training.predict_forecast(model, examples, series, widths, selection, FE, params, layout, origin_mstl)
    fitted, _ = training.predict_forecast(model, examples, series, widths, selection, FE, params, layout)
    pd.testing.assert_frame_equal(given, fitted)


def test_the_backtest_weights_each_folds_errors_by_its_rank_in_time():
    """The widths the backtest calibrates come from recency-weighted errors: the same as
    ``fit_step_widths`` on the errors with their origins, and wider than equal weights
    where the latest folds erred most."""
    from tokenplan.forecasting.method_choice import fold_step_errors
    from tokenplan.forecasting.row_keys import RowKeys

    points = _folds([{"xgboost": e} for e in (0.01, -0.02, 0.01, 0.2, -0.25)])
    rng = np.random.default_rng(5)
    points["y"] = points["y"] * rng.lognormal(0, 0.02, len(points))
    origins, _ = pd.factorize(points["origin"], sort=True)
    errors, labelled = fold_step_errors(points, RowKeys.of(points), origins, None, [10])
    assert len(labelled) == len(points)
    np.testing.assert_array_equal(errors.weight, origins + 1.0)
    table = points.assign(e=np.log1p(points["y"]) - np.log1p(points["point"]))
    weighted = errors.widths([0.1, 0.5, 0.9])
    assert weighted == fit_step_widths(table, [0.1, 0.5, 0.9], None, [10])
    equal = fit_step_widths(table.drop(columns="origin"), [0.1, 0.5, 0.9], None, [10])
    assert weighted["m|requests"][0][2] > equal["m|requests"][0][2] * 1.2


def test_on_four_days_of_hours_a_method_fitted_at_the_last_fold_only_can_join_the_forecasts_median(tmp_path):
    """Four days of growing hourly traffic: the lag models have no row to train on before the last
    fold, so they have no intervals at any fold and no rows in the backtest table. The forecast's
    members still come from every fold's points, as each fold's ensemble's do; read from the
    calibrated table, the median combined the three methods that trail the growth."""
    from tests.training_run import run_training

    hours = pd.date_range("2026-10-28", periods=96, freq="h")
    rng = np.random.default_rng(0)
    daily = 1 + 0.5 * np.sin(2 * np.pi * hours.hour / 24)
    growth = 1 + 0.08 * np.arange(96) / 24
    series = pd.concat([pd.DataFrame({"series": name, "target": "requests", "ds": hours,
                                      "y": np.round(level * daily * growth * rng.lognormal(0, 0.03, 96))})
                        for name, level in (("a", 400.0), ("b", 90.0), ("c", 150.0))], ignore_index=True)
    run = run_training(series, tmp_path, fe={"freq": "h", "horizon": 24})
    assert "lag_xgboost" not in set(run.backtest["method"])
    members = run.selection["ensemble_members"]
    assert set(members) == {"a|requests", "b|requests", "c|requests"}
    assert all("lag_xgboost" in m for m in members.values())


def test_noise_that_swings_slowly_grows_past_the_window_like_a_level_error():
    """Errors that drift within each fold (an AR(1) at 0.9 a step) are no bucket-by-bucket noise: the window
    is too short to read the swing as a fold's level, and past it the swing goes on."""
    rng = np.random.default_rng(1)
    folds, steps = 150, 28
    e = np.zeros((folds, steps))
    for s in range(steps):
        e[:, s] = (0.9 * e[:, s - 1] if s else 0) + rng.normal(0, 0.1, folds)
    errors = pd.DataFrame({"series": "m", "target": "requests", "step": np.tile(np.arange(1, steps + 1), folds),
                           "origin": np.repeat(np.arange(folds), steps), "e": e.ravel()})
    widths = fit_step_widths(errors, [0.1, 0.5, 0.9], None, step_bins(28, 7))
    assert widths["__level_share__"]["requests"] > 0.85
    iid = fit_step_widths(errors.assign(e=rng.permutation(errors["e"].to_numpy())), [0.1, 0.5, 0.9], None,
                          step_bins(28, 7))
    assert iid["__level_share__"]["requests"] < 0.1  # the same values in no order: noise


def test_the_ensemble_combines_one_of_the_seasonal_naive_and_the_seasonal_mean():
    """Both last seasons' values: among the best three they decided the median (four weeks of Taylor's days: the
    ensemble was the seasonal naive wherever MSTL carried a trend); the next in the ranking takes the place."""
    from tokenplan.forecasting.candidates import members_present

    ranking = ["mstl", "seasonal_mean", "seasonal_naive", "lag_xgboost", "level_xgboost"]
    assert members_present(ranking, set(ranking), 3) == ["mstl", "seasonal_mean", "lag_xgboost"]
    # Too few others present: the family's second member still fills the median.
    assert members_present(ranking, {"mstl", "seasonal_mean", "seasonal_naive"}, 3) == \
        ["mstl", "seasonal_mean", "seasonal_naive"]
    assert members_present(ranking, set(ranking)) == ranking  # every candidate, ranked


def test_empty_hours_forecast_empty_do_not_narrow_the_busy_hours_intervals():
    """Nights and weekends at zero, forecast at zero, are most of a business-hours service's errors, all
    near zero: counted, they held the 80% quantile to a third of the busy hours' own. A sparse model's
    empty days, forecast at a fraction of a request, keep their errors."""
    from tokenplan.forecasting.method_choice import fold_step_errors
    from tokenplan.forecasting.row_keys import RowKeys

    rng = np.random.default_rng(3)
    ds = pd.date_range("2026-11-01", periods=3 * 168, freq="h")
    busy = (ds.hour >= 13) & (ds.hour < 22) & (ds.dayofweek < 5)
    y = np.where(busy, rng.poisson(300, len(ds)), 0).astype(float)
    points = pd.DataFrame({"series": "m", "target": "requests", "origin": np.repeat(ds[::168], 168), "ds": ds,
                           "step": np.tile(np.arange(1, 169), 3), "y": y, "method": "xgboost",
                           "point": np.where(busy, 282.0, 0.0)})
    origins, _ = pd.factorize(points["origin"], sort=True)
    errors, labelled = fold_step_errors(points, RowKeys.of(points), origins, None, [168])

    assert set(labelled) == set(np.flatnonzero(busy))
    p90 = np.expm1(np.log1p(282.0) + errors.widths([0.1, 0.5, 0.9])["m|requests"][0][2])
    inside = (y[busy] <= p90) & (y[busy] >= np.expm1(np.log1p(282.0) - (np.log1p(p90) - np.log1p(282.0))))
    assert 0.7 <= inside.mean() <= 0.9

    sparse = points.assign(point=0.3)  # a model used now and then: its empty buckets are errors too
    _, kept = fold_step_errors(sparse, RowKeys.of(sparse), origins, None, [168])
    assert len(kept) == len(points)


def test_a_series_with_no_fold_as_long_as_its_forecast_takes_its_targets_evidence_from_the_others():
    """One layout serves a file, drawn from its longest history: a model used for the file's last 22 days has its
    folds 1, 8 and 15 days into its history, where what wins (a day or a week of hours) says little about its
    forecast from 22 days. It takes the method and ensemble ranking its target's other series show on folds like
    their forecasts; a file whose every series is that short (no such fold anywhere) keeps its own evidence."""
    from tokenplan.forecasting.method_choice import _borrowed_evidence, _Folds, _choose, _members

    origins = pd.date_range("2026-04-05", periods=4, freq="7D")
    rows, like = [], []
    for series in ("long1", "long2", "long3", "short"):
        for k, origin in enumerate(origins):
            if series == "short" and k == 0:
                continue  # not yet used at the first fold
            ensemble = 100.0 + k
            if series == "short":  # repeating the last day wins on its young folds
                errors = {"ensemble": ensemble, "mstl": 1.5 * ensemble, "seasonal_naive": 0.3 * ensemble,
                          "xgboost": 1.2 * ensemble}
            else:
                errors = {"ensemble": ensemble, "mstl": 0.5 * ensemble, "seasonal_naive": 2.0 * ensemble,
                          "xgboost": 0.9 * ensemble}
            rows.append({"series": series, "target": "requests", "origin": origin, **errors})
            like.append(series != "short" and k > 0)
    table = pd.DataFrame(rows).set_index(["series", "target", "origin"])
    like = np.array(like)
    candidates = table.drop(columns="ensemble")
    ranking, chosen = _members(candidates, None), _choose(_Folds(table), RULE)
    assert chosen["short|requests"] == "seasonal_naive" and ranking["short|requests"][0] == "seasonal_naive"

    ranking, chosen, borrowed = _borrowed_evidence(table, like, ranking, chosen, RULE, single=True)
    assert borrowed == ["short|requests"]
    assert chosen["short|requests"] == "mstl"
    assert ranking["short|requests"] == ["mstl", "xgboost", "seasonal_naive"]
    assert chosen["long1|requests"] == "mstl" and ranking["long1|requests"][0] == "mstl"
    # The ensemble alone where one method may not replace it (folds too short for the horizon).
    _, ensemble_only, _ = _borrowed_evidence(table, like, ranking, {}, RULE, single=False)
    assert ensemble_only["short|requests"] == "ensemble"

    # Every series that short (no fold like its forecast anywhere): its own evidence stands.
    alone = table.loc[["short"]]
    own_ranking, own_chosen = _members(alone.drop(columns="ensemble"), None), _choose(_Folds(alone), RULE)
    assert _borrowed_evidence(alone, np.zeros(len(alone), bool), own_ranking, own_chosen, RULE, True) == (
        own_ranking, own_chosen, [])
    # A series with one fold like its forecast is judged on its own folds.
    some = like.copy()
    some[-1] = True
    _, kept, _ = _borrowed_evidence(table, some, _members(candidates, None), _choose(_Folds(table), RULE), RULE, True)
    assert kept["short|requests"] == "seasonal_naive"
