"""Intervals of period totals come from backtested errors of totals, not summed daily quantiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from tokenplan.forecasting.totals import forecast_periods, period_totals

QUANTILES = [0.1, 0.5, 0.9]


def _backtest(sigma: float, n_series: int, n_folds: int) -> pd.DataFrame:
    """Folds whose realised 30-day total is p50's total times a log-normal factor of spread ``sigma``.

    The factors are evenly spaced normal quantiles (standardised), so every sample size
    has exactly the same spread and the test compares like with like.
    """
    n = n_series * n_folds
    z = norm.ppf((np.arange(n) + 0.5) / n)
    factors = iter(np.exp(sigma * (z - z.mean()) / z.std(ddof=1)))
    rows = []
    for fold in range(n_folds):
        for s in range(n_series):
            factor = next(factors)
            for step in range(1, 31):
                rows.append({"origin": pd.Timestamp("2026-01-01") + pd.Timedelta(days=28 * fold), "series": f"m{s}",
                             "target": "requests", "step": step, "method": "xgboost", "p50": 100.0,
                             "y": 100.0 * factor})
    return pd.DataFrame(rows)


def _forecast() -> pd.DataFrame:
    timestamp = pd.date_range("2026-09-01", periods=30, freq="D", tz="UTC")
    return pd.DataFrame({"series": "m0", "target": "requests", "timestamp": timestamp, "step": np.arange(1, 31),
                         "p10": 50.0, "p50": 100.0, "p90": 150.0})


def test_period_interval_matches_the_spread_of_backtested_totals():
    totals = period_totals(_forecast(), _backtest(sigma=0.1, n_series=20, n_folds=10), QUANTILES)
    month = totals[totals["period"] == "2026-09"].iloc[0]

    assert month["p50"] == pytest_approx(3000, rel=0.03)
    # lognormal(0, 0.1): P10/P90 of the total at exp(-+1.28 * 0.1) of the median.
    assert month["p10"] / month["p50"] == pytest_approx(np.exp(-0.128), rel=0.03)
    assert month["p90"] / month["p50"] == pytest_approx(np.exp(0.128), rel=0.03)
    # Not the sum of daily quantiles (1,500 - 4,500 here).
    assert month["p90"] < 30 * 150.0 * 0.8


def test_few_folds_widen_the_interval():
    many = period_totals(_forecast(), _backtest(sigma=0.1, n_series=20, n_folds=10), QUANTILES)
    few = period_totals(_forecast(), _backtest(sigma=0.1, n_series=2, n_folds=2), QUANTILES)

    width = lambda t: float((t["p90"] / t["p10"]).iloc[0])  # noqa: E731
    assert width(few) > width(many)


def test_periods_are_calendar_months_plus_the_horizon():
    ds = pd.Series(pd.date_range("2026-10-01", periods=91, freq="D"))
    periods = forecast_periods(ds)

    assert list(periods["period"]) == ["2026-10", "2026-11", "2026-12", "horizon"]
    assert list(periods["buckets"]) == [31, 30, 30, 91]


def pytest_approx(value, rel):
    import pytest

    return pytest.approx(value, rel=rel)


def _skewed_days(log_ratio: float, days: int = 30) -> np.ndarray:
    """A fold's realised days against a P50 of 100 a day whose median day is on the P50 (no level error)
    while the total is ``exp(log_ratio)`` times the summed P50s: 16 days on it, the rest above
    (a sparse or spiky series' skew)."""
    high = (100.0 * days * np.exp(log_ratio) - 100.0 * 16) / (days - 16)
    return np.r_[np.full(16, 100.0), np.full(days - 16, high)]


def _skewed_folds(log_ratios: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    """Backtest rows: for each ``(series, target)`` one 30-day fold per log-ratio (``_skewed_days``)."""
    rows = []
    for (series, target), ratios in log_ratios.items():
        for fold, log_ratio in enumerate(ratios):
            rows.append(pd.DataFrame({"origin": pd.Timestamp("2026-01-01") + pd.Timedelta(days=28 * fold),
                                      "series": series, "target": target, "step": np.arange(1, 31),
                                      "method": "xgboost", "p50": 100.0, "y": _skewed_days(log_ratio)}))
    return pd.concat(rows, ignore_index=True)


def test_each_series_total_is_centred_on_its_own_skew_shrunk_toward_the_pooled_one():
    # Three folds: m0's totals always came in 20% above its summed P50s while its median day
    # was on its P50 (a sparse series' hourly medians sit below its mean), m1's exactly on them.
    folds = _skewed_folds({("m0", "requests"): [0.19, 0.20, 0.21], ("m1", "requests"): [0.0, 0.0, 0.0]})
    forecast = pd.concat([_forecast(), _forecast().assign(series="m1")], ignore_index=True)
    totals = period_totals(forecast, folds, QUANTILES).set_index(["series", "period"])
    # Own mean weighs 3 folds against the pooled mean's 3: 0.15 for m0, 0.05 for m1 (one pooled
    # bias, 0.1, would put both 10% high, the biased series' total too low and the other's too high).
    # Both are far beyond the folds' noise (+-0.01), so neither is shrunk toward no correction.
    assert np.log(totals.loc[("m0", "horizon"), "p50"] / 3000) == pytest_approx(0.15, rel=0.02)
    assert np.log(totals.loc[("m1", "horizon"), "p50"] / 3000) == pytest_approx(0.05, rel=0.02)


def test_a_folds_level_error_does_not_move_the_total():
    # Every day of every fold 20% above its P50: the forecast's level was off in those folds
    # (noise the spread carries), not a skew of the series. Before, the centre took it whole
    # and the total's P50 was 20% above the sum of the days' P50s.
    rows = _daily_folds(lambda fold, s: np.full(30, 100.0 * np.exp(0.2 + 0.01 * (fold - 2))), n_series=1)
    totals = period_totals(_forecast(), rows.assign(p50=100.0), QUANTILES).set_index("period")
    assert totals.loc["horizon", "p50"] == pytest_approx(3000, rel=1e-6)
    assert totals.loc["horizon", "p90"] > totals.loc["horizon", "p50"]  # the folds' spread stays


def test_a_skew_within_the_folds_noise_is_not_applied():
    # A spiky series: one fold of five held a spike day (its total 2.2 times the summed P50s), the
    # others none. The mean log-ratio (0.16) is within its standard error (0.17): the total stays
    # on the summed P50s. A skew of the same size in every fold is kept.
    spiky = period_totals(_forecast(), _skewed_folds({("m0", "requests"): [0.8, 0.0, 0.0, 0.0, 0.0]}), QUANTILES)
    steady = period_totals(_forecast(), _skewed_folds({("m0", "requests"): [0.15, 0.17, 0.16, 0.15, 0.17]}),
                           QUANTILES)
    assert spiky.set_index("period").loc["horizon", "p50"] == pytest_approx(3000, rel=1e-6)
    assert np.log(steady.set_index("period").loc["horizon", "p50"] / 3000) == pytest_approx(0.16, rel=0.02)


def test_past_the_backtested_window_a_total_stays_inside_its_days_summed_quantiles():
    # Five days backtested, with widely spread totals; a 91-day forecast whose days' P10-P90
    # is 50-150. Extrapolated as a random walk, the last month's P90 would be many times its
    # P50; bounded, it is at most 30 x 150 and its P10 at least 30 x 50.
    backtest = _backtest(sigma=0.6, n_series=1, n_folds=3)
    backtest = backtest[backtest["step"] <= 5]
    timestamp = pd.date_range("2026-10-01", periods=91, freq="D", tz="UTC")
    forecast = pd.DataFrame({"series": "m0", "target": "requests", "timestamp": timestamp,
                             "step": np.arange(1, 92), "p10": 50.0, "p50": 100.0, "p90": 150.0})

    totals = period_totals(forecast, backtest, QUANTILES).set_index("period")

    for period, days in (("2026-10", 31), ("2026-11", 30), ("2026-12", 30), ("horizon", 91)):
        row = totals.loc[period]
        assert days * 50.0 - 1e-6 <= row["p10"] <= row["p50"] <= row["p90"] <= days * 150.0 + 1e-6, period
    assert totals.loc["2026-12", "p90"] == pytest_approx(30 * 150.0, rel=1e-9)  # it would be wider unbounded


def test_inside_the_backtested_window_a_total_stays_inside_its_days_summed_quantiles_too():
    # Thirty days backtested with totals spread wider than the days' P10-P90 (95-105 a day
    # here): the month's P90 is what every day at its P90 adds up to, not more, and its P10
    # not less than every day at its P10; narrower backtested totals keep their own width.
    forecast = _forecast().assign(p10=95.0, p90=105.0)
    wide = period_totals(forecast, _backtest(sigma=0.3, n_series=20, n_folds=10), QUANTILES).iloc[0]
    narrow = period_totals(forecast.assign(p10=50.0, p90=150.0), _backtest(sigma=0.1, n_series=20, n_folds=10),
                           QUANTILES).iloc[0]

    assert wide["p90"] == pytest_approx(30 * 105.0, rel=1e-9) and wide["p10"] == pytest_approx(30 * 95.0, rel=1e-9)
    assert narrow["p90"] / narrow["p50"] == pytest_approx(np.exp(0.128), rel=0.03)


def test_a_model_whose_days_do_not_add_up_stays_out_of_its_neighbours_pool():
    # m1 is used a few days a month: the sum of its daily medians is a small fraction of
    # its total (log-ratios 3-6 across folds); m0 is steady (log-ratios within +-0.05).
    # Pooled, m1 moved m0's centre by about x2.5 and its spread to m1's; m0 keeps its own.
    rows = []
    for fold, (steady, sparse) in enumerate(((-0.05, 3.0), (0.0, 4.5), (0.05, 6.0))):
        for series, log_ratio in (("m0", steady), ("m1", sparse)):
            for step in range(1, 31):
                rows.append({"origin": pd.Timestamp("2026-01-01") + pd.Timedelta(days=28 * fold), "series": series,
                             "target": "requests", "step": step, "method": "xgboost", "p50": 100.0,
                             "y": 100.0 * np.exp(log_ratio)})
    forecast = pd.concat([_forecast(), _forecast().assign(series="m1", p10=0.0, p90=20_000.0)], ignore_index=True)
    totals = period_totals(forecast, pd.DataFrame(rows), QUANTILES).set_index(["series", "period"])
    steady = totals.loc[("m0", "horizon")]
    assert abs(np.log(steady["p50"] / 3000)) < 0.05
    assert steady["p90"] / steady["p50"] < 1.5 and steady["p10"] / steady["p50"] > 1 / 1.5
    # m1's own bias corrects its total, unshrunk, as the ratio of its folds' summed totals
    # (its usage to its medians): the mean of exp(3), exp(4.5) and exp(6).
    summed = np.mean(np.exp([3.0, 4.5, 6.0]))
    assert totals.loc[("m1", "horizon"), "p50"] == pytest_approx(3000 * summed, rel=0.01)
    # And never above the sum of its days' P90s: with a daily P90 of 150, at most 30 x 150.
    narrow = pd.concat([_forecast(), _forecast().assign(series="m1")], ignore_index=True)
    capped = period_totals(narrow, pd.DataFrame(rows), QUANTILES).set_index(["series", "period"])
    assert capped.loc[("m1", "horizon"), "p50"] == pytest_approx(30 * 150.0, rel=1e-9)


def test_each_target_of_a_series_keeps_its_own_bias():
    # One series whose token totals run 2x their sums of daily medians in every fold while
    # its requests run 1.1x: the series' shared bias (about x1.5) put both wrong; each
    # target now centres on its own (shrunk toward the pool's mean for that target: here its own).
    jitter = [0.01 * (fold - 2) for fold in range(5)]
    folds = _skewed_folds({("m0", "requests"): [np.log(1.1) + j for j in jitter],
                           ("m0", "output_tokens"): [np.log(2.0) + j for j in jitter]})
    forecast = pd.concat([_forecast(), _forecast().assign(target="output_tokens")], ignore_index=True).assign(p90=300.0)
    totals = period_totals(forecast, folds, QUANTILES).set_index(["target", "period"])
    requests = totals.loc[("requests", "horizon"), "p50"] / 3000
    tokens = totals.loc[("output_tokens", "horizon"), "p50"] / 3000
    assert requests == pytest_approx(1.1, rel=0.01) and tokens == pytest_approx(2.0, rel=0.01)


def _daily_folds(values, n_series: int = 3, n_folds: int = 5, days: int = 30) -> pd.DataFrame:
    """Backtest rows of ``n_folds`` folds of ``days`` for ``n_series`` series, every P50 1.2 a day;
    ``values(fold, series)`` gives a fold's realised days."""
    rows = []
    for fold in range(n_folds):
        origin = pd.Timestamp("2026-01-01") + pd.Timedelta(days=days * fold)
        for s in range(n_series):
            rows.append(pd.DataFrame({"origin": origin, "series": f"m{s}", "target": "requests",
                                      "step": np.arange(1, days + 1), "method": "xgboost", "p50": 1.2,
                                      "y": values(fold, s)}))
    return pd.concat(rows, ignore_index=True)


def test_past_the_window_bucket_noise_averages_out_and_a_level_error_grows():
    # About 1.2 requests a day (Poisson), backtested on 30-day folds, forecast 120 days. A
    # fold total of about 36 varies by 17% from noise alone; a 120-day total of about 144
    # by 8% (P90/P50 about 1.11). Read as a level error growing like a random walk it was
    # 1.58 (with a P50 of 144 and a P90 of 227: more than any four months of the history).
    rng = np.random.default_rng(5)
    timestamp = pd.date_range("2026-10-01", periods=120, freq="D", tz="UTC")
    forecast = pd.DataFrame({"series": "m0", "target": "requests", "timestamp": timestamp,
                             "step": np.arange(1, 121), "p10": 0.0, "p50": 1.2, "p90": 3.0})
    noisy = period_totals(forecast, _daily_folds(lambda fold, s: rng.poisson(1.2, 30).astype(float)), QUANTILES)
    horizon = noisy.set_index("period").loc["horizon"]
    assert 1.03 < horizon["p90"] / horizon["p50"] < 1.2

    # The same spread of fold totals as a level error (each fold's days all off by one
    # factor, no day-to-day noise): it grows past the window, as before.
    factors = np.exp(0.17 * rng.standard_normal((5, 3)))
    level = period_totals(forecast, _daily_folds(lambda fold, s: np.full(30, 1.2 * factors[fold, s])), QUANTILES)
    month = level.set_index("period").loc["2026-10"]
    horizon = level.set_index("period").loc["horizon"]
    assert horizon["p90"] / horizon["p50"] > 1.3
    assert horizon["p90"] / horizon["p50"] > month["p90"] / month["p50"]


def test_the_months_p50s_add_up_to_the_horizons():
    # Folds whose first half-month shows a steady skew and whose second a noisy one (one spike
    # fold of five): read off each period's steps alone, the first month kept its skew, the
    # second lost it to the noise and the quarter's was in between, so the months' P50s
    # added up to more than the horizon's. One centre for every period: they agree.
    rows = []
    for fold, spike in enumerate([0.8, 0.0, 0.0, 0.0, 0.0]):
        # Each half: 8 days on the P50 of 100, 7 above it (the half's total exp(skew) times 1,500).
        days = np.r_[[np.r_[np.full(8, 100.0), np.full(7, 100.0 * (15 * np.exp(skew) - 8) / 7)]
                      for skew in (0.3 + 0.01 * fold, spike)]].ravel()
        rows.append(pd.DataFrame({"origin": pd.Timestamp("2026-01-01") + pd.Timedelta(days=30 * fold),
                                  "series": "m0", "target": "requests", "step": np.arange(1, 31),
                                  "method": "xgboost", "p50": 100.0, "y": days}))
    timestamp = pd.date_range("2026-09-16", periods=30, freq="D", tz="UTC")
    forecast = pd.DataFrame({"series": "m0", "target": "requests", "timestamp": timestamp, "step": np.arange(1, 31),
                             "p10": 50.0, "p50": 100.0, "p90": 300.0})
    totals = period_totals(forecast, pd.concat(rows, ignore_index=True), QUANTILES).set_index("period")
    months = totals.loc[["2026-09", "2026-10"], "p50"].sum()
    assert months == pytest_approx(totals.loc["horizon", "p50"], rel=0.005)


def test_the_months_p50s_add_up_to_the_horizons_where_a_months_days_hold_its_median():
    # The same skewed folds, and a first month whose days' P90s are close to their P50s: the
    # skew lifts its total past what every day at its own P90 adds up to, so its median is held
    # there, while the quarter's (its second month's days are wide) was not: the months' P50s
    # added up to less than the horizon's. The horizon's median is the months' added.
    rows = []
    for fold in range(5):
        days = np.r_[np.full(8, 100.0), np.full(7, 100.0 * (15 * np.exp(0.3 + 0.01 * fold) - 8) / 7)]
        rows.append(pd.DataFrame({"origin": pd.Timestamp("2026-01-01") + pd.Timedelta(days=30 * fold),
                                  "series": "m0", "target": "requests", "step": np.arange(1, 31),
                                  "method": "xgboost", "p50": 100.0, "y": np.r_[days, days]}))
    timestamp = pd.date_range("2026-09-16", periods=30, freq="D", tz="UTC")
    forecast = pd.DataFrame({"series": "m0", "target": "requests", "timestamp": timestamp, "step": np.arange(1, 31),
                             "p10": 99.0, "p50": 100.0, "p90": np.where(timestamp.month == 9, 101.0, 300.0)})
    totals = period_totals(forecast, pd.concat(rows, ignore_index=True), QUANTILES).set_index("period")
    assert totals.loc["2026-09", "p50"] == pytest_approx(15 * 101.0, rel=1e-9)  # held at its days' summed P90
    assert totals.loc["2026-10", "p50"] > 1.2 * 15 * 100.0  # the skew, where the days allow it
    months = totals.loc[["2026-09", "2026-10"], "p50"].sum()
    assert totals.loc["horizon", "p50"] == pytest_approx(months, rel=1e-9)
    assert totals.loc["horizon", "p10"] <= totals.loc["horizon", "p50"] <= totals.loc["horizon", "p90"]


def test_the_quarter_interval_lies_inside_its_months_summed():
    """A quarter ahead of 30-day folds: the quarter's P10 is at least its months' P10s added up and its
    P90 at most their P90s (months that err together add up to that; less together, to a narrower
    quarter). Fitted for the quarter alone, its interval came out wider than the months' sums."""
    timestamp = pd.date_range("2026-10-01", periods=92, freq="D", tz="UTC")
    forecast = pd.DataFrame({"series": "m0", "target": "requests", "timestamp": timestamp, "step": np.arange(1, 93),
                             "p10": 60.0, "p50": 100.0, "p90": 170.0})
    rng = np.random.default_rng(0)
    for sigma in (0.05, 0.1, 0.3):
        for n_series in (2, 5, 20):
            backtest = _backtest(sigma=sigma, n_series=n_series, n_folds=4)
            backtest["y"] = backtest["y"] * rng.lognormal(0, 0.5, len(backtest))  # day-to-day noise too
            totals = period_totals(forecast, backtest, QUANTILES).set_index("period")[["p10", "p50", "p90"]]
            months, quarter = totals.drop("horizon").sum(), totals.loc["horizon"]
            assert quarter["p10"] >= months["p10"] * (1 - 1e-12), (sigma, n_series)
            assert quarter["p90"] <= months["p90"] * (1 + 1e-12), (sigma, n_series)
            assert quarter["p50"] == pytest_approx(months["p50"], rel=1e-9)


def test_past_the_window_a_total_keeps_at_least_the_daily_intervals_level_share():
    """Fold totals whose spread their days' noise explains read as no level error at all, so a
    quarter four months past 30-day folds came out narrower than each of its months (a
    21-day Console export's Haiku: +-4% on the quarter). The daily intervals past the window
    grow by the same folds' level share; with it as a floor the totals grow past the window
    too, month after month, and are never narrower than without it."""
    rng = np.random.default_rng(5)
    timestamp = pd.date_range("2026-10-01", periods=120, freq="D", tz="UTC")
    forecast = pd.DataFrame({"series": "m0", "target": "requests", "timestamp": timestamp,
                             "step": np.arange(1, 121), "p10": 0.0, "p50": 1.2, "p90": 30.0})
    backtest = _daily_folds(lambda fold, s: rng.poisson(1.2, 30).astype(float))

    def ratios(totals: pd.DataFrame) -> pd.Series:
        totals = totals.set_index("period")
        return totals["p90"] / totals["p50"]

    alone = ratios(period_totals(forecast, backtest, QUANTILES))
    floored = ratios(period_totals(forecast, backtest, QUANTILES, level_floor={"requests": 0.3}))
    assert alone["2026-12"] < alone["2026-10"] * 1.05 and alone["horizon"] < alone["2026-10"]  # no level error
    assert (floored >= alone - 1e-12).all()
    assert floored["2026-10"] < floored["2026-11"] < floored["2026-12"] < floored["2027-01"]
    assert np.log(floored["horizon"]) > 2 * np.log(alone["horizon"])
    other = ratios(period_totals(forecast, backtest, QUANTILES, level_floor={"input_tokens": 0.3}))
    pd.testing.assert_series_equal(other, alone)  # a floor for another target leaves this one alone


def _steady_folds(n_folds: int = 5, days: int = 30) -> pd.DataFrame:
    """Backtest rows of two steady series, m0 and m1, whose fold totals miss by a few percent."""
    misses = {"m0": [0.03, -0.02, 0.05, -0.04, 0.01], "m1": [-0.03, 0.04, -0.01, 0.02, -0.05]}
    return _daily_folds(lambda fold, s: np.full(days, 100.0 * np.exp(misses[f"m{s}"][fold])),
                        n_series=2, n_folds=n_folds, days=days).assign(p50=100.0)


def _fold_rows(series: str, fold: int, log_ratio: float, steps: int, days: int = 30) -> pd.DataFrame:
    """One fold's rows (of the ``_daily_folds`` calendar) for ``series``, its days ``exp(log_ratio)`` times
    their P50 of 100, over the fold's first ``steps`` steps."""
    return pd.DataFrame({"origin": pd.Timestamp("2026-01-01") + pd.Timedelta(days=days * fold), "series": series,
                         "target": "requests", "step": np.arange(1, steps + 1), "method": "xgboost",
                         "p50": 100.0, "y": 100.0 * np.exp(log_ratio)})


def _quarter(series: list[str]) -> pd.DataFrame:
    """A 92-day forecast from 2026-10-01 (past the 30-day folds after its first month), P50 100 a day."""
    timestamp = pd.date_range("2026-10-01", periods=92, freq="D", tz="UTC")
    return pd.concat([pd.DataFrame({"series": s, "target": "requests", "timestamp": timestamp,
                                    "step": np.arange(1, 93), "p10": 80.0, "p50": 100.0, "p90": 125.0})
                      for s in series], ignore_index=True)


def _steady_totals(totals: pd.DataFrame) -> pd.DataFrame:
    return totals[totals["series"].isin(["m0", "m1"])].reset_index(drop=True)


def test_a_series_launched_shortly_before_the_origin_moves_no_other_series_totals():
    # m2 started two weeks before the last fold's origin: it is backtested in that fold only,
    # and its ramp-up made its total 2.2 times the summed P50s. Pooled, its miss set every
    # series' spread (the pooled spread is a floor): the steady models' months read 2.5 times
    # wider than without it. Their totals are now those of a plan without m2.
    backtest = pd.concat([_steady_folds(), _fold_rows("m2", 4, 0.8, 30)], ignore_index=True)
    without = period_totals(_quarter(["m0", "m1"]), _steady_folds(), QUANTILES)
    forecast = _quarter(["m0", "m1", "m2"])
    forecast.loc[forecast["series"] == "m2", ["p10", "p90"]] = [20.0, 500.0]  # a new model's wide days
    launched = period_totals(forecast, backtest, QUANTILES)
    pd.testing.assert_frame_equal(_steady_totals(launched), _steady_totals(without), rtol=1e-9)
    # m2 keeps an interval of its own, as wide as the miss its one fold showed.
    new = launched.set_index(["series", "period"]).loc[("m2", "2026-10")]
    assert new["p90"] / new["p50"] > 1.4


def test_a_series_retired_during_the_backtest_moves_no_other_series_totals():
    # m2 was used through four folds and retired on the first day of the fifth: that fold's
    # total is one day, 8% of its forecast (a log-ratio of -2.5), and m2 is not forecast.
    old = [_fold_rows("m2", fold, 0.02 * (fold - 2), 30) for fold in range(4)]
    backtest = pd.concat([_steady_folds(), *old, _fold_rows("m2", 4, -2.5, 1)], ignore_index=True)
    without = period_totals(_quarter(["m0", "m1"]), _steady_folds(), QUANTILES)
    retired = period_totals(_quarter(["m0", "m1"]), backtest, QUANTILES)
    pd.testing.assert_frame_equal(retired, without, rtol=1e-9)


def test_a_later_month_is_never_relatively_narrower_than_an_earlier_one():
    # The first month's days are wide (P10-P90 50-150), the later months' narrow (95-105): held
    # inside their days' sums, the later months came out narrower than the first. They are now at
    # least as wide, relative to their P50.
    backtest = _backtest(sigma=0.3, n_series=5, n_folds=4)
    timestamp = pd.date_range("2026-09-01", periods=91, freq="D", tz="UTC")
    first = np.arange(1, 92) <= 30
    forecast = pd.DataFrame({"series": "m0", "target": "requests", "timestamp": timestamp,
                             "step": np.arange(1, 92), "p10": np.where(first, 50.0, 95.0), "p50": 100.0,
                             "p90": np.where(first, 150.0, 105.0)})
    months = period_totals(forecast, backtest, QUANTILES).set_index("period").drop("horizon")
    upper, lower = months["p90"] / months["p50"], months["p50"] / months["p10"]
    assert upper.iloc[0] > 1.2  # the backtested width, inside the first month's days' 1.5
    assert (upper.diff().dropna() >= -1e-12).all() and (lower.diff().dropna() >= -1e-12).all()


def test_totals_against_the_sum_of_the_buckets_medians_per_target():
    from tokenplan.forecasting.totals import totals_against_bucket_sums

    forecast = pd.concat([_forecast(), _forecast().assign(series="m1")], ignore_index=True)  # 3,000 each
    totals = pd.DataFrame({"series": ["m0", "m1", "m0"], "target": "requests",
                           "period": ["horizon", "horizon", "2026-09"], "p50": [4_000.0, 3_000.0, 4_000.0]})
    row = totals_against_bucket_sums(forecast, totals, "p50").iloc[0]
    assert (row["target"], row["summed"], row["total"], row["differ"], row["series"]) == ("requests", 6e3, 7e3, 1, 2)
    assert row["change"] == pytest.approx(1 / 6)
    assert row["largest_change"] == pytest.approx(1 / 3)  # m0: 4,000 against its own 3,000
    same = totals_against_bucket_sums(forecast, totals.assign(p50=3_000.0), "p50").iloc[0]
    assert same["differ"] == 0 and same["change"] == pytest.approx(0.0) and np.isnan(same["largest_change"])


def test_one_fold_whose_days_went_intermittent_does_not_lift_the_total_onto_its_days_p90s():
    """Four folds on their P50s and one where 16 of 30 days are empty: that fold's median day reads a level
    error of log1p(0) - log1p(100), so its skew reads +3.9, far beyond the other folds' 0; kept, it put the
    total's P50 on its days' summed P90 (P50 = P90 = 4,500)."""
    rows = [pd.DataFrame({"origin": pd.Timestamp("2026-01-01") + pd.Timedelta(days=28 * k), "series": "m0",
                          "target": "requests", "step": np.arange(1, 31), "method": "xgboost", "p50": 100.0,
                          "y": 100.0 if k < 4 else np.r_[np.zeros(16), np.full(14, 100.0)]}) for k in range(5)]
    forecast = pd.DataFrame({"series": "m0", "target": "requests",
                             "timestamp": pd.date_range("2026-09-01", periods=30, freq="D", tz="UTC"),
                             "step": np.arange(1, 31), "p10": 50.0, "p50": 100.0, "p90": 150.0})
    total = period_totals(forecast, pd.concat(rows, ignore_index=True), [0.1, 0.5, 0.9]).query(
        "period == 'horizon'").iloc[0]
    assert total["p50"] == pytest.approx(3000.0, rel=0.05) and total["p90"] > total["p50"] * 1.1


def test_a_young_noisy_series_carries_its_own_level_error_beside_steady_pooled_ones():
    # Two steady series backtested (their totals within +-1%); a third launched ten days ago, with no fold
    # of its own and daily P10-P90 of 30-330 around 100 (a day's noise of about 0.94 in log). Ten such days
    # pin its level to about 0.94 / sqrt(10) = 0.30 in log; before, it took the pooled +-1.3% from the
    # steady two. The steady series' totals do not move.
    backtest = _backtest(sigma=0.01, n_series=2, n_folds=5)
    young = _forecast().assign(series="young", p10=30.0, p90=330.0)
    forecast = pd.concat([_forecast(), young], ignore_index=True)
    history = pd.Series({("m0", "requests"): 200, ("young", "requests"): 10})

    totals = period_totals(forecast, backtest, QUANTILES, history_buckets=history).set_index(["series", "period"])
    pooled = period_totals(forecast, backtest, QUANTILES).set_index(["series", "period"])

    se = np.log(330 / 30) / (2 * norm.ppf(0.9)) / np.sqrt(10)
    horizon = totals.loc[("young", "horizon")]
    assert np.log(horizon["p90"] / horizon["p50"]) >= norm.ppf(0.9) * se
    assert np.log(horizon["p50"] / horizon["p10"]) >= norm.ppf(0.9) * se
    pd.testing.assert_series_equal(totals.loc[("m0", "horizon")], pooled.loc[("m0", "horizon")])


def test_a_series_observed_buckets_count_from_its_first_usage():
    from tokenplan.pipelines.training.nodes import _observed_buckets

    ds = pd.date_range("2026-11-01", periods=30, freq="D")
    young = np.r_[np.zeros(20), np.full(10, 300.0)]
    young[25] = np.nan  # an outage: not an observation
    history = pd.DataFrame({"series": np.repeat(["old", "young"], 30), "target": "requests",
                            "ds": np.tile(ds, 2), "y": np.r_[np.full(30, 5.0), young]})
    counts = _observed_buckets(history)
    assert counts[("old", "requests")] == 30
    assert counts[("young", "requests")] == 9
