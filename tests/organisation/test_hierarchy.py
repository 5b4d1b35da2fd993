"""Spend per level: the plan's series added (every quantile adds up, none negative), and the reconciled methods
the backtest compares it with (every parent's P50 the sum of its children's)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.organisation import hierarchy
from tokenplan.organisation.hierarchy import add_up, backtest_reconciliation, best_method

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


def _reconciled(history: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """Every node's base forecast and its MinTrace reconciliations (``unique_id, ds, method, p10..p90, level``)."""
    y_df, s_df, tags = hierarchy.hierarchy_history(history, _dims(), LEVELS)
    y_hat, fitted = hierarchy._base_forecasts(y_df, plan, s_df, _dims(), plan["ds"].nunique())
    out = hierarchy._long(hierarchy._reconcile(y_hat, fitted, s_df, tags))
    return out.merge(hierarchy.node_levels(tags), on="unique_id")


@pytest.fixture(scope="module")
def reconciled() -> pd.DataFrame:
    history = _history(120)
    plan = _plan(history, pd.Timestamp("2026-05-01"), 28)
    return pd.concat([_reconciled(history, plan), add_up(plan, _dims(), LEVELS).assign(method="bottom_up")],
                     ignore_index=True)


def _node_sum(out: pd.DataFrame, level: str, parent_of) -> pd.Series:
    rows = out[out["level"] == level]
    return rows.groupby([rows["unique_id"].map(parent_of), "ds"])["value"].sum()


@pytest.mark.parametrize(("method", "q"), [("bottom_up", "p10"), ("bottom_up", "p50"), ("bottom_up", "p90"),
                                           ("mint_ols", "p50"), ("mint_shrink", "p50")])
def test_children_add_up_to_parents(reconciled, method, q):
    out = reconciled[reconciled["method"] == method].rename(columns={q: "value"})
    value = out.set_index(["unique_id", "ds"])["value"]

    def parent(uid: str, keep: int) -> str:
        return "/".join(uid.split("/")[:keep])

    # series organisation/team/key/model -> key organisation/team/key -> team -> organisation
    checks = [("series", lambda u: parent(u, 3)), ("key", lambda u: parent(u, 2)), ("team", lambda u: parent(u, 1)),
              ("model", lambda u: "organisation"), ("team_model", lambda u: parent(u, 2))]
    for level, parent_of in checks:
        summed = _node_sum(out, level, parent_of)
        np.testing.assert_allclose(summed.to_numpy(), value.loc[summed.index].to_numpy(), rtol=1e-6,
                                   err_msg=f"{method} {q}: {level} does not add up")


def test_bottom_up_keeps_the_plans_own_series_forecasts(reconciled):
    bottom = reconciled[(reconciled["method"] == "bottom_up") & (reconciled["level"] == "series")]
    history = _history(120)
    expected = history.groupby("series")["y"].mean()
    got = bottom.groupby("unique_id")[["p10", "p50", "p90"]].first()
    for series, value in expected.items():
        model, team, key = series.split("/")
        node = f"organisation/{team}/{key}/{model}"
        assert got.loc[node].tolist() == pytest.approx([0.8 * value, value, 1.2 * value])


def test_the_nodes_added_are_the_librarys_nodes():
    history = _history(60)
    y_df, _, _ = hierarchy.hierarchy_history(history, _dims(), LEVELS)
    added = add_up(_plan(history, pd.Timestamp("2026-03-02"), 7), _dims(), LEVELS)
    assert set(added["unique_id"]) == set(y_df["unique_id"])
    levels = hierarchy.node_levels(hierarchy.hierarchy_history(history, _dims(), LEVELS)[2])
    assert added.drop_duplicates("unique_id").merge(levels, on="unique_id", suffixes=("", "_lib")).eval(
        "level == level_lib").all()


def test_a_negative_series_quantile_counts_as_zero():
    history = _history(30)
    plan = _plan(history, pd.Timestamp("2026-02-01"), 3)
    plan.loc[plan["series"] == "m1/a/k1", ["p10", "p50"]] = [-5.0, -1.0]
    added = add_up(plan, _dims(), LEVELS)
    assert (added[["p10", "p50", "p90"]] >= 0).all().all()
    team = added[added["unique_id"] == "organisation/a"]["p10"].iloc[0]
    expected = plan[plan["series"].str.contains("/a/") & (plan["series"] != "m1/a/k1")].groupby("ds")["p10"].sum()
    assert team == pytest.approx(expected.iloc[0])


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

    history = _history(120, seed=4)
    plan = _plan(history, pd.Timestamp("2026-05-01"), 21)
    lean = _reconciled(history, plan)
    monkeypatch.setattr(hierarchy, "_lean_normality", lambda: methods.Normality)
    library = _reconciled(history, plan)
    assert set(lean["method"]) == {"base", "mint_ols", "mint_shrink"}
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


def test_a_series_without_a_backtest_forecast_is_scored_at_nothing_like_the_plan():
    # A key that ended (or had not started) has no out-of-sample forecast at a fold; the plan spends nothing on it,
    # so bottom-up scores it at 0 on the same nodes and days as the reconciled methods, not by leaving it out.
    history = _history(150)
    gone = "m2/c/k4"
    history.loc[(history["series"] == gone) & (history["ds"] > "2026-03-20"), "y"] = 0.0
    folds = []
    for origin in (pd.Timestamp("2026-04-01"), pd.Timestamp("2026-04-29")):
        plan = _plan(history[history["ds"] <= origin], origin + pd.Timedelta(days=1), 14)
        folds.append(plan[plan["series"] != gone].assign(origin=origin))
    scores = backtest_reconciliation(history, pd.concat(folds, ignore_index=True), _dims(), LEVELS)
    nodes = scores.pivot_table(index="level", columns="method", values="nodes")
    assert (nodes["bottom_up"] == nodes["mint_shrink"]).all()
    assert nodes.loc["series", "bottom_up"] == len(SERIES)


def test_a_fold_whose_series_share_no_day_is_skipped_not_handed_to_the_reconciler():
    # A team moved a key's traffic to another model and back: the outage check left one model's days of the
    # second fold out and the other had stopped, so no day of that fold has every series.
    history = _history(150)
    first, second = pd.Timestamp("2026-04-01"), pd.Timestamp("2026-04-29")
    one = _plan(history[history["ds"] <= first], first + pd.Timedelta(days=1), 14).assign(origin=first)
    two = _plan(history[history["ds"] <= second], second + pd.Timedelta(days=1), 14).assign(origin=second)
    moved = "m1/a/k1"
    two = two[(two["series"] != moved) | (two["ds"] > second + pd.Timedelta(days=7))]
    two = two[(two["series"] == moved) | (two["ds"] <= second + pd.Timedelta(days=7))]

    scores = backtest_reconciliation(history, pd.concat([one, two], ignore_index=True), _dims(), LEVELS)

    assert (scores["folds"] == 1).all() and set(scores["method"]) >= {"bottom_up", "base"}
    only_two = backtest_reconciliation(history, two, _dims(), LEVELS)
    assert only_two.empty and list(only_two.columns) == ["level", "method", "mase", "coverage", "nodes", "folds"]


def test_a_fold_with_two_weeks_of_history_is_scored_not_a_crash():
    # A request log of three weeks with a key column: the earliest fold's nodes have 13 days, too few for the
    # weekly damped AutoETS ("no model able to be fitted" ended the whole run).
    history = _history(28)
    origin = pd.Timestamp("2026-01-13")
    fold = _plan(history[history["ds"] <= origin], origin + pd.Timedelta(days=1), 7).assign(origin=origin)

    scores = backtest_reconciliation(history, fold, _dims(), LEVELS)

    assert (scores["folds"] == 1).all() and scores["mase"].notna().any()
    assert set(scores["method"]) >= {"base", "bottom_up"}
