"""Conformal offsets: requested coverage on held-out errors, fallback groups, and the
cross-conformal backtest intervals covering a simulated series with a known noise level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.backtest import fold_origins, run_backtest
from tokenplan.forecasting.conformal import fit_offsets, noise_scales, offsets_for
from tokenplan.forecasting.features import FeatureSpec, make_examples, origin_grid

QUANTILES = [0.1, 0.5, 0.9]


def _errors(rng: np.random.Generator, n: int, scale: float, series: str = "s", target: str = "requests",
            shift: float = 0.0) -> pd.DataFrame:
    """Errors of a point model: the same ``z - z_hat`` for every quantile column."""
    e = rng.normal(shift, scale, n)
    return pd.DataFrame({"series": series, "target": target, **{f"e{i}": e for i in range(len(QUANTILES))}})


def test_offsets_give_the_requested_coverage_on_fresh_errors():
    rng = np.random.default_rng(0)
    calibration, fresh = _errors(rng, 4000, 0.3, shift=0.1), _errors(rng, 20000, 0.3, shift=0.1)

    offsets = fit_offsets(calibration, QUANTILES)["__all__"]

    assert offsets == sorted(offsets)
    # A point model: the centre is not moved by the errors' median, the interval is symmetric.
    assert offsets[1] == 0.0
    assert offsets[0] == pytest.approx(-offsets[2])
    inside = (fresh["e0"] >= offsets[0]) & (fresh["e2"] <= offsets[2])
    assert inside.mean() == pytest.approx(0.8, abs=0.02)


def test_each_group_is_calibrated_to_its_own_width():
    rng = np.random.default_rng(1)
    narrow, wide = 0.1, 0.6
    calibration = pd.concat([_errors(rng, 2000, narrow, target="requests"),
                             _errors(rng, 2000, wide, target="output_tokens")])
    fresh = pd.concat([_errors(rng, 10000, narrow, target="requests"),
                       _errors(rng, 10000, wide, target="output_tokens")], ignore_index=True)

    offsets = fit_offsets(calibration, QUANTILES)
    shift = offsets_for(offsets, fresh["series"], fresh["target"])

    inside = (fresh["e0"] >= shift[:, 0]) & (fresh["e2"] <= shift[:, 2])
    for target, covered in inside.groupby(fresh["target"]):
        assert covered.mean() == pytest.approx(0.8, abs=0.03), target
    width = {t: offsets[t][2] - offsets[t][0] for t in ("requests", "output_tokens")}
    assert width["output_tokens"] > 4 * width["requests"]


def test_noise_scales_give_each_series_its_own_width():
    rng = np.random.default_rng(2)
    sigma = {"quiet": 0.1, "volatile": 0.6}
    calibration = pd.concat([_errors(rng, 2000, s, series=name) for name, s in sigma.items()])
    fresh = pd.concat([_errors(rng, 10000, s, series=name) for name, s in sigma.items()], ignore_index=True)
    scales = {f"{name}|requests": s for name, s in sigma.items()}

    scaled = fit_offsets(calibration, QUANTILES, scales)
    pooled = fit_offsets(calibration, QUANTILES)

    def coverage(offsets: dict) -> pd.Series:
        shift = offsets_for(offsets, fresh["series"], fresh["target"])
        return ((fresh["e0"] >= shift[:, 0]) & (fresh["e2"] <= shift[:, 2])).groupby(fresh["series"]).mean()

    for name, covered in coverage(scaled).items():
        assert covered == pytest.approx(0.8, abs=0.03), name
    # Without the scales one pooled width over-covers the quiet series and under-covers the
    # volatile one: the check above is not met by chance.
    assert coverage(pooled)["quiet"] > 0.95 and coverage(pooled)["volatile"] < 0.7


def test_small_or_unknown_groups_fall_back_to_pooled_offsets_and_typical_scale():
    rng = np.random.default_rng(3)
    errors = pd.concat([
        _errors(rng, 500, 0.2, series="big", target="requests", shift=0.3),
        _errors(rng, 30, 0.2, series="big", target="cache_read_tokens", shift=-0.3),
    ])
    scales = {"big|requests": 0.2, "big|cache_read_tokens": 0.4, "other|requests": 1.0}

    offsets = fit_offsets(errors, QUANTILES, scales, min_rows=60)

    assert "requests" in offsets
    assert "cache_read_tokens" not in offsets  # too few rows for a target of its own
    rows = offsets_for(offsets, pd.Series(["big", "big", "new-model"]),
                       pd.Series(["requests", "cache_read_tokens", "requests"]))
    np.testing.assert_allclose(rows[0], 0.2 * np.asarray(offsets["requests"]))
    np.testing.assert_allclose(rows[1], 0.4 * np.asarray(offsets["__all__"]))
    np.testing.assert_allclose(rows[2], 0.4 * np.asarray(offsets["requests"]))  # median scale


# ----------------------------------------------------------------- end to end coverage

NOISE_SIGMA = 0.2


def _simulated_daily(days: int, seed: int) -> pd.DataFrame:
    """Weekly cycle x 3%/month growth x lognormal(0, NOISE_SIGMA) noise, for three series."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    weekly = np.array([1.0, 1.1, 1.15, 1.1, 0.95, 0.5, 0.4])[ds.dayofweek]
    growth = 1.03 ** (np.arange(days) / 30.4)
    frames = []
    for k, series in enumerate(["model-a", "model-b", "model-c"]):
        mean = 2e4 * (k + 1) * weekly * growth
        frames.append(pd.DataFrame({"series": series, "target": "requests", "ds": ds,
                                    "y": mean * rng.lognormal(0.0, NOISE_SIGMA, days)}))
    return pd.concat(frames, ignore_index=True)


def test_cross_conformal_intervals_cover_a_known_noise_level():
    spec = FeatureSpec(horizon=28, holiday_country=None)
    series = _simulated_daily(days=560, seed=3)
    no_events = pd.DataFrame({"start": pd.Series(dtype="datetime64[ns, UTC]"),
                              "end": pd.Series(dtype="datetime64[ns, UTC]"),
                              "name": [], "kind": [], "scope": []})
    examples = make_examples(series, no_events, origin_grid(series, spec, every=7), spec)
    origins = fold_origins(examples, spec, n_folds=5, step=28)
    params = {"num_boost_round": 60, "learning_rate": 0.1, "max_depth": 3, "min_child_weight": 5.0}

    table, offsets = run_backtest(examples, spec, QUANTILES, params, origins, seed=0)

    model = table[table["method"] == "xgboost"]
    assert len(model) == 5 * 3 * spec.horizon
    assert set(model["origin"]) == set(origins)
    assert (model["ds"] > model["origin"]).all()
    assert (model[["p10", "p50", "p90"]].diff(axis=1).iloc[:, 1:] >= 0).all().all()
    coverage = ((model["y"] >= model["p10"]) & (model["y"] <= model["p90"])).mean()
    assert 0.65 <= coverage <= 0.92, coverage
    below_median = (model["y"] < model["p50"]).mean()
    assert 0.35 <= below_median <= 0.65, below_median
    # The final P10-P90 width in log space reflects the noise: about 2 * 1.2816 * sigma.
    lower, _, upper = offsets_for(offsets, pd.Series(["model-b"]), pd.Series(["requests"]))[0]
    assert 0.7 <= (upper - lower) / (2 * 1.2816 * NOISE_SIGMA) <= 1.6, upper - lower
    # Week-over-week log changes of iid lognormal noise have std sigma * sqrt(2).
    for key, scale in noise_scales(examples, spec.season).items():
        assert scale == pytest.approx(NOISE_SIGMA * np.sqrt(2), rel=0.2), key


def test_quantile_model_offsets_calibrate_each_level():
    rng = np.random.default_rng(4)
    def errors(n):
        e = rng.normal(0.1, 0.3, n)
        return pd.DataFrame({"series": "s", "target": "requests", "e0": e + 0.4, "e1": e, "e2": e - 0.4})
    calibration, fresh = errors(4000), errors(20000)

    offsets = fit_offsets(calibration, QUANTILES, symmetric=False)["__all__"]

    for i, q in enumerate(QUANTILES):
        assert np.mean(fresh[f"e{i}"] <= offsets[i]) == pytest.approx(q, abs=0.02)


def _step_errors_table(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 6000
    return pd.DataFrame({
        "series": rng.choice([f"team-{i}" for i in range(40)], n),
        "target": rng.choice(["requests", "input_tokens", "output_tokens"], n),
        "step": rng.integers(1, 29, n),
        "e": rng.standard_t(3, n) * 0.2,
    })


def test_widths_of_a_part_are_those_of_that_part_alone():
    """The backtest fits every fold's widths on parts of one keyed table (``StepErrors``): each
    must be exactly ``fit_step_widths`` of those rows, keys, order and values."""
    from tokenplan.forecasting.conformal import StepErrors, fit_step_widths
    from tokenplan.forecasting.row_keys import RowKeys

    errors = _step_errors_table()
    scales = {f"team-{i}|requests": 0.1 + i / 40 for i in range(30)}  # some keys without a scale
    edges = [7, 14, 21, 28]
    keyed = StepErrors(errors["e"].to_numpy(), errors["step"].to_numpy(), RowKeys.of(errors), scales, edges)
    rng = np.random.default_rng(0)
    for part in (np.arange(len(errors)), np.flatnonzero(rng.random(len(errors)) < 0.3),
                 np.flatnonzero(errors["target"].ne("requests").to_numpy() & (rng.random(len(errors)) < 0.5))):
        alone = fit_step_widths(errors.iloc[part].reset_index(drop=True), [0.1, 0.5, 0.9], scales, edges)
        assert keyed.widths([0.1, 0.5, 0.9], rows=part) == alone
        assert list(keyed.widths([0.1, 0.5, 0.9], rows=part)) == list(alone)


def test_step_offsets_read_the_same_with_keys_given():
    from tokenplan.forecasting.conformal import fit_step_widths, step_offsets
    from tokenplan.forecasting.row_keys import RowKeys

    errors = _step_errors_table()
    widths = fit_step_widths(errors[errors["series"] != "team-3"], [0.1, 0.5, 0.9], {"team-1|requests": 0.3},
                             [7, 14, 21, 28])
    rows = _step_errors_table(seed=9).assign(step=lambda f: f["step"] * 2)  # steps past the backtested window too
    plain = step_offsets(widths, rows["series"], rows["target"], rows["step"])
    keyed = step_offsets(widths, None, None, rows["step"], keys=RowKeys.of(rows))
    np.testing.assert_array_equal(plain, keyed)
    assert np.isfinite(plain).all() and (plain[:, 0] < 0).all() and (plain[:, 2] > 0).all()


def test_weighted_segment_quantiles_with_equal_weights_are_numpys():
    from tokenplan.forecasting.conformal import _segment_quantiles

    rng = np.random.default_rng(3)
    values = rng.exponential(size=400)
    segment = rng.integers(0, 7, 400)  # segment 7 of 8 is empty
    levels = np.array([0.8, 0.0, 0.8, 1.0])
    out, counts = _segment_quantiles(values, segment, 8, levels)
    for k in range(7):
        np.testing.assert_allclose(out[k], np.quantile(values[segment == k], levels))
    assert np.isnan(out[7]).all() and counts[7] == 0
    single, _ = _segment_quantiles(np.array([2.5]), np.array([0]), 1, levels)
    np.testing.assert_array_equal(single[0], [2.5] * 4)


def test_intervals_follow_the_latest_folds_when_the_errors_drift():
    """Errors twice as wide in the last two of five folds, and the next window as wide: the
    recency-weighted 80% width covers clearly more of the next window than equal weights
    (the calm early folds holding the quantile down), and never more than 80%."""
    from tokenplan.forecasting.conformal import fit_step_widths

    rng = np.random.default_rng(11)
    sigma = [1.0, 1.0, 1.0, 2.0, 2.0]
    errors = pd.DataFrame({
        "series": "a", "target": "requests", "step": np.tile(np.arange(1, 401), 5),
        "origin": np.repeat(pd.date_range("2026-01-01", periods=5, freq="W"), 400),
        "e": np.concatenate([rng.normal(0, s, 400) for s in sigma]),
    })
    weighted = fit_step_widths(errors, [0.1, 0.5, 0.9], None, [400])["a|requests"][0][2]
    equal = fit_step_widths(errors.drop(columns="origin"), [0.1, 0.5, 0.9], None, [400])["a|requests"][0][2]
    nxt = np.abs(rng.normal(0, 2.0, 20_000))
    assert np.mean(nxt <= equal) + 0.05 < np.mean(nxt <= weighted) <= 0.80


def test_a_steady_day_gets_narrower_intervals_than_noisy_nights(tmp_path):
    """Four weeks of hours, nights noisy (20 requests an hour, Poisson) and the day steady (2,000 an hour,
    1% noise): the scale of an hour's errors is its series' times its hour's (``phase_scales``). With one
    scale per series every hour read the same P90/P10, the day's wide by the night's noise."""
    from tests.training_run import run_training

    hours = pd.date_range("2026-10-05", periods=28 * 24, freq="h")
    rng = np.random.default_rng(5)
    day = (hours.hour >= 8) & (hours.hour < 20)
    y = np.where(day, np.round(2000 * rng.lognormal(0, 0.01, len(hours))), rng.poisson(20, len(hours)))
    series = pd.DataFrame({"series": "m", "target": "requests", "ds": hours, "y": y.astype(float)})

    forecast = run_training(series, tmp_path, fe={"freq": "h", "horizon": 48}).forecast

    log_width = np.log(forecast["p90"] / forecast["p10"])
    by_day = pd.DatetimeIndex(forecast["timestamp"]).hour.isin(range(8, 20))
    assert log_width[by_day].median() < 0.5 * log_width[~by_day].median()
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()


def test_phase_multipliers_follow_each_hours_noise_shrunk_bounded_and_averaging_one():
    from tokenplan.forecasting.conformal import phase_scales

    rng = np.random.default_rng(6)
    ds = pd.date_range("2026-10-05", periods=6 * 168, freq="h")
    noisy = ds.hour < 6
    change = np.where(noisy, rng.normal(0, 0.4, len(ds)), rng.normal(0, 0.05, len(ds)))
    examples = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "step": 1.0, "z": 0.0,
                             "y": np.expm1(5 + change), "last_same_phase": 0.0, "log_level": 5.0})
    few = examples[ds >= ds[-1] - pd.Timedelta(days=1)]  # one change per hour: no evidence of a shape

    many = np.asarray(phase_scales(examples, 168, "h")["scales"]["m|requests"])

    assert len(many) == 48  # the hours of a weekday, then of a weekend day
    noisy_phase = np.isin(np.arange(48) % 24, range(6))
    assert many.mean() == pytest.approx(1.0)
    assert many[noisy_phase].min() > 1.5 * many[~noisy_phase].max()  # a weekend hour has fewer changes: shrunk more
    assert many.max() / many.min() <= 16 + 1e-9
    assert phase_scales(few, 168, "h") == {}  # a series with no shape has its one scale
    # By weekday the noisy hours are on every day alike: no shape; without a weekly season, no weekdays.
    assert phase_scales(examples, 168, "D") == {} and phase_scales(examples, 1, "D") == {}


def test_a_weekends_daytime_keeps_its_own_noise_beside_steady_weekday_office_hours():
    """Office hours steady on weekdays, as noisy as the nights at weekends: by the hour of the day alone the weekend's
    daytime took the office hours' narrow multiplier (31% inside P10-P90 on a business-hours shape); by the hour of
    a weekday or of a weekend day, it keeps its own. Without a weekly season there is no weekend to tell apart."""
    from tokenplan.forecasting.conformal import phase_of, phase_scales

    rng = np.random.default_rng(8)
    ds = pd.date_range("2026-10-05", periods=8 * 168, freq="h")
    office = (ds.hour >= 9) & (ds.hour < 17)
    steady = office & (ds.dayofweek < 5)
    change = np.where(steady, rng.normal(0, 0.05, len(ds)), rng.normal(0, 0.4, len(ds)))
    examples = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "step": 1.0, "z": 0.0,
                             "y": np.expm1(5 + change), "last_same_phase": 0.0, "log_level": 5.0})
    m = np.asarray(phase_scales(examples, 168, "h")["scales"]["m|requests"])
    weekday_office, weekend_office = m[9:17], m[24 + 9:24 + 17]
    assert weekend_office.min() > 1.5 * weekday_office.max()
    assert list(phase_of(pd.Series(pd.to_datetime(["2026-10-10 10:00", "2026-10-12 10:00"])), "h")) == [34, 10]
    assert len(phase_scales(examples, 24, "h")["scales"]["m|requests"]) == 24


@pytest.mark.parametrize(("freq", "season", "periods"), [("h", 168, 8 * 168), ("D", 7, 56)])
def test_phases_with_one_noise_share_their_series_scale(freq, season, periods):
    """Every hour (weekday) with the same noise: what the phases' spreads differ by is sampling alone, and each
    phase reads 1. A fixed ``n / (n + 10)`` weighing gave eight weeks of days weekday multipliers 0.49 to 0.90."""
    from tokenplan.forecasting.conformal import phase_scales

    for seed in range(5):
        rng = np.random.default_rng(seed)
        ds = pd.date_range("2026-10-05", periods=periods, freq=freq)
        examples = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "step": 1.0, "z": 0.0,
                                 "y": np.expm1(5 + rng.laplace(0, 0.2, periods)), "last_same_phase": 0.0,
                                 "log_level": 5.0})
        assert phase_scales(examples, season, freq) == {}


def test_a_level_error_is_every_phases_so_a_steady_phase_keeps_its_share_of_it():
    """Errors that are a fold's level alone (every bucket of a fold missed by the same amount) give a steady phase
    no narrower a scale than a noisy one; errors that come and go bucket by bucket keep the phases' multipliers."""
    from tokenplan.forecasting.conformal import _phase_multipliers, with_level_shares
    from tokenplan.forecasting.row_keys import RowKeys

    rng = np.random.default_rng(3)
    folds, n = 6, 168
    fold = np.repeat(np.arange(folds), n)
    keys = RowKeys.of(pd.DataFrame({"series": ["m"] * (folds * n), "target": "requests"}))
    phase = np.tile(np.arange(n) % 24, folds)
    phases = {"freq": "h", "scales": {"m|requests": [0.25] * 12 + [1.75] * 12}}

    level = with_level_shares(phases, np.repeat(rng.normal(0, 0.3, folds), n), keys, fold)
    noise = with_level_shares(phases, rng.normal(0, 0.3, folds * n), keys, fold)

    assert level["level"]["requests"] == pytest.approx(1.0)
    assert noise["level"]["requests"] < 0.05
    assert _phase_multipliers(keys, level, phase) == pytest.approx(np.ones(folds * n))
    steady, noisy = _phase_multipliers(keys, noise, phase)[:2 * 12:12]
    assert steady < 0.3 and noisy > 1.7


def _season_examples(series: str, target: str, changes: np.ndarray, end: str = "2026-12-03") -> pd.DataFrame:
    """One labelled example per day ending on ``end``, whose log change from a week earlier is ``changes``."""
    ds = pd.date_range(end=end, periods=len(changes), freq="D")
    return pd.DataFrame({"series": series, "target": target, "ds": ds, "step": 1.0, "z": 0.0,
                         "y": np.expm1(7 + np.asarray(changes, dtype=float)), "last_same_phase": 0.0,
                         "log_level": 7.0})


def test_a_young_series_gets_at_least_its_targets_pooled_scale_beside_established_ones():
    """A flat service launched 8 days before the end has one week-over-week change: its spread read 0, floored at
    0.001, and its quarter read +-0.1% beside an established model's +-22%. Too few changes to read its own noise
    (under a season of them), it borrows its target's pooled scale; a young ramp keeps its own wider one, and the
    established series keep theirs."""
    from tokenplan.forecasting.conformal import phase_scales

    rng = np.random.default_rng(11)
    established = pd.concat([_season_examples(name, target, rng.laplace(0, sigma, 26 * 7))
                             for name, sigma in (("a", 0.05), ("b", 0.1), ("c", 0.3))
                             for target in ("requests", "output_tokens")]
                            + [_season_examples("d", "output_tokens", rng.laplace(0, 1.0, 26 * 7))])
    young = pd.concat([_season_examples("flat", target, [0.002]) for target in ("requests", "output_tokens")]
                      + [_season_examples("ramp", "requests", [1.0, 2.0, 3.0])])
    before = noise_scales(established, 7)

    scales = noise_scales(pd.concat([established, young]), 7)

    assert {k: scales[k] for k in before} == before  # established series: unchanged
    for target in ("requests", "output_tokens"):
        pooled = np.median([v for k, v in before.items() if k.endswith(f"|{target}")])
        assert scales[f"flat|{target}"] == pytest.approx(pooled)
    assert scales["flat|output_tokens"] > scales["flat|requests"]  # its target's pool, not every target's
    assert scales["ramp|requests"] > 2 * scales["flat|requests"]  # its own spread, wider than the pool's, stands
    # Eight weeks of changes are the series' own, however steady.
    steady = _season_examples("steady", "requests", rng.normal(0, 0.001, 8 * 7))
    assert noise_scales(pd.concat([established, steady]), 7)["steady|requests"] < 0.01
    # A young series has no phases of its own to share its noise among.
    assert "ramp|requests" not in phase_scales(pd.concat([established, young]), 7, "D").get("scales", {})
