"""Reconciled spend per level: every parent's P50 is the sum of its children's, for every method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.organisation.hierarchy import backtest_reconciliation, best_method, reconcile_plan

LEVELS = ["team", "model", "team_model", "key"]
SERIES = [("a", "k1", "m1"), ("a", "k1", "m2"), ("a", "k2", "m1"), ("b", "k3", "m1"), ("b", "k3", "m2"),
          ("c", "k4", "m2")]


def _dims() -> pd.DataFrame:
    return pd.DataFrame([{"series": f"{m}/{t}/{k}", "model": m, "team": t, "api_key": k} for t, k, m in SERIES])


def _history(days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2026-01-01", periods=days, freq="D")
    weekly = 1 + 0.3 * (ds.dayofweek < 5)
    return pd.concat([pd.DataFrame({"series": s, "ds": ds, "y": (20 + 10 * i) * weekly * rng.gamma(20, 1 / 20, days)})
                      for i, s in enumerate(_dims()["series"])], ignore_index=True)


def _plan(history: pd.DataFrame, start: pd.Timestamp, h: int) -> pd.DataFrame:
    level = history.groupby("series")["y"].mean()
    ds = pd.date_range(start, periods=h, freq="D")
    rows = [pd.DataFrame({"series": s, "ds": ds, "p50": v, "p10": 0.8 * v, "p90": 1.2 * v}) for s, v in level.items()]
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def reconciled() -> pd.DataFrame:
    history = _history(120)
    out, _ = reconcile_plan(history, _plan(history, pd.Timestamp("2026-05-01"), 28), _dims(), LEVELS)
    return out


def _node_sum(out: pd.DataFrame, level: str, parent_of) -> pd.Series:
    rows = out[out["level"] == level]
    return rows.groupby([rows["unique_id"].map(parent_of), "ds"])["p50"].sum()


@pytest.mark.parametrize("method", ["bottom_up", "mint_ols", "mint_shrink"])
def test_children_add_up_to_parents_at_p50(reconciled, method):
    out = reconciled[reconciled["method"] == method]
    p50 = out.set_index(["unique_id", "ds"])["p50"]

    def parent(uid: str, keep: int) -> str:
        return "/".join(uid.split("/")[:keep])

    # series organisation/team/key/model -> key organisation/team/key -> team -> organisation
    checks = [("series", lambda u: parent(u, 3)), ("key", lambda u: parent(u, 2)), ("team", lambda u: parent(u, 1)),
              ("model", lambda u: "organisation"), ("team_model", lambda u: parent(u, 2))]
    for level, parent_of in checks:
        summed = _node_sum(out, level, parent_of)
        np.testing.assert_allclose(summed.to_numpy(), p50.loc[summed.index].to_numpy(), rtol=1e-6,
                                   err_msg=f"{method}: {level} does not add up")


def test_bottom_up_keeps_the_plans_own_series_forecasts(reconciled):
    bottom = reconciled[(reconciled["method"] == "bottom_up") & (reconciled["level"] == "series")]
    history = _history(120)
    expected = history.groupby("series")["y"].mean()
    got = bottom.groupby("unique_id")["p50"].first()
    for series, value in expected.items():
        model, team, key = series.split("/")
        assert got[f"organisation/{team}/{key}/{model}"] == pytest.approx(value)


def test_reconciliation_methods_are_scored_per_level_on_the_folds():
    history = _history(150)
    folds = []
    for origin in (pd.Timestamp("2026-04-01"), pd.Timestamp("2026-04-29")):
        plan = _plan(history[history["ds"] <= origin], origin + pd.Timedelta(days=1), 14)
        folds.append(plan.assign(origin=origin))
    scores = backtest_reconciliation(history, pd.concat(folds, ignore_index=True), _dims(), LEVELS)
    assert set(scores["level"]) == {"organisation", "team", "model", "team_model", "key", "series"}
    assert set(scores["method"]) == {"base", "bottom_up", "mint_ols", "mint_shrink"}
    assert scores["mase"].between(0, 10).all() and scores["coverage"].between(0, 1).all()
    assert (scores["folds"] == 2).all()
    assert best_method(scores) in {"bottom_up", "mint_ols", "mint_shrink"}


def test_nodes_with_the_same_history_are_fitted_once_and_get_the_same_forecast(monkeypatch):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    from tokenplan.organisation import hierarchy

    # Team b has one key (k3) and team c one key and one model: their key and team x model
    # nodes repeat the team's or the series' history.
    y_df, _, _ = hierarchy.hierarchy_history(_history(90), _dims(), LEVELS)
    fitted_ids = []
    forecast = StatsForecast.forecast

    def spy(self, *args, df, **kwargs):
        fitted_ids.append(df["unique_id"].nunique())
        return forecast(self, *args, df=df, **kwargs)

    monkeypatch.setattr(StatsForecast, "forecast", spy)
    hat, fitted = hierarchy._fit_nodes(y_df, 14)
    distinct = y_df.groupby("unique_id")["y"].apply(lambda y: y.to_numpy().tobytes()).nunique()
    assert fitted_ids == [distinct] and distinct < y_df["unique_id"].nunique()

    monkeypatch.setattr(StatsForecast, "forecast", forecast)
    every = StatsForecast(models=[AutoETS(season_length=7, model="AAA", damped=True)], freq="D", n_jobs=1)
    expected_hat = every.forecast(df=y_df, h=14, level=[80], fitted=True)
    expected_fitted = every.forecast_fitted_values()
    pd.testing.assert_frame_equal(hat, expected_hat.reset_index(drop=True), check_dtype=False)
    pd.testing.assert_frame_equal(fitted, expected_fitted.reset_index(drop=True), check_dtype=False)


def test_the_lean_intervals_are_the_librarys(monkeypatch):
    # The reconciled P10/P90 computed from the covariance diagonal alone equal those of
    # hierarchicalforecast's own Normality sampler (which builds every full covariance).
    from hierarchicalforecast import methods

    from tokenplan.organisation import hierarchy

    history = _history(120, seed=4)
    plan = _plan(history, pd.Timestamp("2026-05-01"), 21)
    lean, _ = reconcile_plan(history, plan, _dims(), LEVELS)
    monkeypatch.setattr(hierarchy, "_lean_normality", lambda: methods.Normality)
    library, _ = reconcile_plan(history, plan, _dims(), LEVELS)
    assert set(lean["method"]) == {"base", "bottom_up", "mint_ols", "mint_shrink"}
    pd.testing.assert_frame_equal(lean, library, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("days", [30, 200])  # a shrunk covariance of few days (low rank) and of many (full rank)
def test_the_factored_variances_equal_the_dense_formula(days):
    # Each step's reconciled variance rowsum(S (P D R) ∘ S (P D)), computed through the
    # factored correlation, equals the dense product on a random hierarchy and a
    # mint_shrink-shaped covariance (a shrunk diagonal plus in-sample residual covariance).
    from scipy import sparse

    from tokenplan.organisation.hierarchy import _correlated_variances

    rng = np.random.default_rng(days)
    bottom, steps = 40, 13
    groups = [rng.choice(bottom, size=rng.integers(2, 10), replace=False) for _ in range(25)]
    summing = np.vstack([np.ones(bottom)] + [np.isin(np.arange(bottom), g).astype(float) for g in groups]
                        + [np.eye(bottom)])
    nodes = len(summing)
    residuals = rng.normal(size=(days, nodes)) * rng.gamma(2, 1, nodes)
    sample = np.cov(residuals, rowvar=False)
    shrink = 0.3
    w = shrink * np.diag(np.diag(sample)) + (1 - shrink) * sample
    projection = rng.normal(size=(bottom, nodes)) / nodes
    sigmah = rng.gamma(2, 1, (nodes, steps))
    std = np.sqrt(np.diag(w))
    correlation = w / np.outer(std, std)
    expected = np.stack([np.einsum("ij,ij->i", summing @ (projection * s) @ correlation, summing @ (projection * s))
                         for s in sigmah.T], axis=1)
    got = _correlated_variances(sparse.csr_matrix(summing), projection, sigmah, w, steps_per_product=4)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)
