"""Backtest scores per series, target and method: the same numbers as the metrics on each group's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting import metrics
from tokenplan.forecasting.backtest import _naive_scales, score_backtest
from tokenplan.forecasting.features import FeatureSpec

QUANTILES = [0.1, 0.5, 0.9]


def _table(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random backtest table (interval and point methods, a series without history, one that starts late) and its
    series."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2026-01-01", periods=120, freq="D")
    names = [f"s{i}" for i in range(6)]
    series = pd.concat([pd.DataFrame({"series": s, "target": t, "ds": days,
                                      "y": (0.0 if s == "s5" else rng.gamma(2, 50, len(days)))})
                        for s in names[:-1] for t in ("requests", "output_tokens")], ignore_index=True)
    series = series[(series["series"] != "s4") | (series["ds"] >= days[70])]  # no scale at the first origin
    rows = []
    for origin in days[[60, 80, 100]]:
        for s in names:
            for t in ("requests", "output_tokens"):
                for method in ("xgboost", "seasonal_naive", "mstl"):
                    steps = int(rng.integers(5, 20))
                    p50 = rng.gamma(2, 50, steps)
                    spread = 0 if method == "seasonal_naive" else rng.gamma(2, 10, steps)
                    rows.append(pd.DataFrame({"series": s, "target": t, "origin": origin,
                                              "ds": origin + pd.to_timedelta(np.arange(1, steps + 1), "D"),
                                              "y": rng.gamma(2, 50, steps), "method": method,
                                              "p10": p50 - spread, "p50": p50, "p90": p50 + spread}))
    return pd.concat(rows, ignore_index=True), series


def _reference(table: pd.DataFrame, series: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The scores computed the plain way: the metrics on a DataFrame per group."""
    scored = table.merge(_naive_scales(series, spec.season, sorted(table["origin"].unique())),
                         on=["series", "target", "origin"], how="left")
    scored["scale"] = scored["scale"].where(scored["scale"] > 0)  # no seasonal change: no MASE

    def summarise(group: pd.DataFrame) -> pd.Series:
        y = group["y"].to_numpy()
        point = bool((group["p10"] == group["p90"]).all())
        size = np.mean(np.abs(y)) if np.any(y != 0) else np.nan  # actuals all zero: nothing to scale by
        return pd.Series({
            "mase": float(np.mean(np.abs(y - group["p50"]) / group["scale"])),
            "wape": metrics.wape(y, group["p50"].to_numpy()) if np.isfinite(size) else np.nan,
            "pinball": float(np.mean([metrics.pinball(y, group[n].to_numpy(), q) / size
                                      for n, q in zip(["p10", "p50", "p90"], QUANTILES, strict=True)])),
            "coverage": np.nan if point else metrics.coverage(y, group["p10"].to_numpy(), group["p90"].to_numpy()),
            "winkler": np.nan if point else metrics.winkler(y, group["p10"].to_numpy(), group["p90"].to_numpy(),
                                                            1 - (QUANTILES[-1] - QUANTILES[0])) / size,
            "n": len(group),
        })

    per_series = scored.groupby(["series", "target", "method"]).apply(summarise, include_groups=False)
    pooled = scored.groupby(["target", "method"]).apply(summarise, include_groups=False).reset_index()
    result = pd.concat([per_series.reset_index(), pooled.assign(series="all")], ignore_index=True)
    result["n"] = result["n"].astype(int)
    return result[["series", "target", "method", "mase", "wape", "pinball", "coverage", "winkler", "n"]]


@pytest.mark.parametrize("seed", range(5))
def test_the_scores_equal_the_metrics_on_each_groups_rows(seed):
    table, series = _table(seed)
    table = table.sample(frac=1, random_state=seed).reset_index(drop=True)  # groups interleaved
    spec = FeatureSpec(horizon=20)
    got = score_backtest(table, series, spec, QUANTILES)
    expected = _reference(table, series, spec)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.loc[got["method"] == "seasonal_naive", "coverage"].isna().all()  # a point forecast: no coverage
    assert got.loc[got["series"] == "s5", "mase"].isna().all()  # no history, no scale: no MASE


def test_coverage_leaves_out_empty_buckets_forecast_empty():
    """Nights of a business-hours service, forecast empty and empty, are not counted inside the interval:
    the busy hours' coverage is what the table shows."""
    days = pd.date_range("2026-01-01", periods=60, freq="D")
    series = pd.DataFrame({"series": "s", "target": "requests", "ds": days, "y": np.tile([300.0, 0.0], 30)})
    origin = days[39]
    ds = origin + pd.to_timedelta(np.arange(1, 21), "D")
    busy = np.arange(20) % 2 == 1
    y = np.where(busy, np.where(np.arange(20) % 4 == 1, 300.0, 400.0), 0.0)  # half the busy days above P90
    p50 = np.where(busy, 300.0, 0.0)
    table = pd.DataFrame({"series": "s", "target": "requests", "origin": origin, "ds": ds, "y": y, "method": "xgboost",
                          "p10": p50 * 0.9, "p50": p50, "p90": p50 * 1.1 + 0.01})

    got = score_backtest(table, series, FeatureSpec(horizon=20), QUANTILES)

    assert got.loc[got["series"] == "s", "coverage"].iloc[0] == pytest.approx(0.5)  # not 0.75
    assert got.loc[got["series"] == "s", "n"].iloc[0] == 20


def test_a_target_that_never_moved_is_left_out_of_the_pooled_mase_for_every_method():
    """Cache tokens of a model that never caches: a zero MASE scale. Forecast above zero by one method and at zero
    by another, it made the first's pooled MASE inf and dropped out of the second's; now it is out of both, and its
    own WAPE is undefined rather than 1e10, while the pooled WAPE counts its errors."""
    days = pd.date_range("2026-01-01", periods=60, freq="D")
    rng = np.random.default_rng(0)
    series = pd.concat([pd.DataFrame({"series": "busy", "target": "cache_read_tokens", "ds": days,
                                      "y": rng.gamma(4, 100, len(days))}),
                        pd.DataFrame({"series": "never", "target": "cache_read_tokens", "ds": days, "y": 0.0})],
                       ignore_index=True)
    origin, ds = days[39], days[39] + pd.to_timedelta(np.arange(1, 15), "D")
    rows = []
    for name, y in (("busy", rng.gamma(4, 100, 14)), ("never", np.zeros(14))):
        for method, guess in (("xgboost", 5.0), ("mstl", 0.0)):
            p50 = np.full(14, 400.0) if name == "busy" else np.full(14, guess)
            rows.append(pd.DataFrame({"series": name, "target": "cache_read_tokens", "origin": origin, "ds": ds,
                                      "y": y, "method": method, "p10": 0.5 * p50, "p50": p50, "p90": 2 * p50}))
    got = score_backtest(pd.concat(rows, ignore_index=True), series, FeatureSpec(horizon=14), QUANTILES)
    got = got.set_index(["series", "method"])
    for method in ("xgboost", "mstl"):
        assert got.loc[("all", method), "mase"] == pytest.approx(got.loc[("busy", method), "mase"])
        assert np.isnan(got.loc[("never", method), "mase"]) and np.isnan(got.loc[("never", method), "wape"])
        assert np.isnan(got.loc[("never", method), "pinball"])
    busy_y = rows[0]["y"].sum()
    assert got.loc[("all", "xgboost"), "wape"] == pytest.approx((np.abs(rows[0]["y"] - 400).sum() + 14 * 5) / busy_y)
