"""Spend of every level of an organisation (organisation, team, model, team x model, key) that adds up.

The bottom of the hierarchy is the plan's own series (a model used by one team through
one API key), forecast in USD per day by each series' chosen method. The plan's spend of
every other node adds its series' (``add_up``): P10, P50 and P90 each added, series
taken to move together as in every cost table of the plan, so a team, key or model has
one spend wherever it is shown (cost tables, budgets, chargeback), quantiles add up at
every level, and none is below zero (a series' quantiles are floored at 0; an ended
series is 0 and adds nothing).

The backtest (``backtest_reconciliation``) asks whether the levels' own histories know
something the series' forecasts miss: every node above the series gets a base forecast
of its own daily spend (statsforecast's AutoETS ``AAA``, damped: a damped additive trend
and an additive weekly season), and Nixtla's hierarchicalforecast reconciles them
(MinTrace OLS, MinTrace with a shrunk covariance of the in-sample residuals). Each is
scored per level against the added series' forecasts (``bottom_up``) on the backtest
folds, where the series' out-of-sample predictions already exist. The plan uses
``bottom_up`` whatever scores best: a reconciled method changes the series' own spend,
which would then disagree with the cost tables priced from the same series' forecasts.
The reconciled methods' P10-P90 come from hierarchicalforecast's ``normality`` method
(the base P10/P90 read as normal 80% intervals, carried through the reconciliation).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

__all__ = ["LEVELS", "PLAN_METHOD", "add_up", "backtest_reconciliation", "best_method", "hierarchy_history",
           "node_levels"]

logger = logging.getLogger(__name__)

ROOT = "organisation"
# Level name -> the columns that identify a node of that level (after the organisation).
LEVELS = {
    "organisation": [],
    "team": ["team"],
    "model": ["model"],
    "team_model": ["team", "model"],
    "key": ["team", "api_key"],
    "series": ["team", "api_key", "model"],
}
# The library's column name of each reconciled method -> its name in the tables.
METHODS = {"MinTrace_method-ols": "mint_ols", "MinTrace_method-mint_shrink": "mint_shrink"}
# What the plan uses: the series' own forecasts added (see the module docstring).
PLAN_METHOD = "bottom_up"
_BAND = ["p10", "p50", "p90"]
_SEASON = 7
_LEVEL = 80


def _wanted(levels: list[str]) -> list[str]:
    """The levels asked for, with the organisation and the series, which always are."""
    return [lv for lv in LEVELS if lv in levels or lv in ("organisation", "series")]


def _spec(levels: list[str]) -> list[list[str]]:
    return [[ROOT, *LEVELS[lv]] for lv in _wanted(levels)]


def _with_dimensions(frame: pd.DataFrame, dims: pd.DataFrame) -> pd.DataFrame:
    out = frame.merge(dims[["series", "team", "model", "api_key"]], on="series", how="inner")
    return out.assign(**{ROOT: ROOT})


def node_levels(tags: dict[str, np.ndarray]) -> pd.DataFrame:
    """``unique_id, level`` for every node (level names from ``LEVELS``)."""
    by_columns = {"/".join([ROOT, *cols]): name for name, cols in LEVELS.items()}
    rows = [(str(uid), by_columns[tag]) for tag, ids in tags.items() for uid in ids]
    return pd.DataFrame(rows, columns=["unique_id", "level"]).drop_duplicates("unique_id")


def add_up(bottom: pd.DataFrame, dims: pd.DataFrame, levels: list[str]) -> pd.DataFrame:
    """``unique_id, ds, level, p10, p50, p90``: every node's daily USD, its series' quantiles added.

    ``bottom``: series, ds, p10, p50, p90. Each quantile is floored at 0 first (spend is
    never negative), then added over the node's series: the sum of nonnegative parts,
    so every level's P10, P50 and P90 add up to its parent's and none is below zero.
    """
    frame = _with_dimensions(bottom, dims)
    frame[_BAND] = frame[_BAND].clip(lower=0.0)
    parts = []
    for level in _wanted(levels):
        node = pd.Series(ROOT, index=frame.index)
        for column in LEVELS[level]:  # the node names hierarchicalforecast's aggregate gives
            node = node + "/" + frame[column].astype(str)
        added = frame.groupby([node.rename("unique_id"), "ds"], sort=True)[_BAND].sum().reset_index()
        parts.append(added.assign(level=level))
    return pd.concat(parts, ignore_index=True)[["unique_id", "ds", "level", *_BAND]]


def hierarchy_history(history: pd.DataFrame, dims: pd.DataFrame, levels: list[str]):
    """(Y_df of daily USD for every node, S_df, tags) from the bottom series' daily history (series, ds, y)."""
    from hierarchicalforecast.utils import aggregate

    frame = _with_dimensions(history, dims)
    return aggregate(frame[[ROOT, "team", "model", "api_key", "ds", "y"]], _spec(levels))


def _base_forecasts(y_df: pd.DataFrame, bottom: pd.DataFrame, s_df: pd.DataFrame, dims: pd.DataFrame,
                    h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Y_hat_df with ``plan`` and its 80% bounds for every node, in-sample fitted ``plan`` for every node).

    Bottom nodes take the plan's own daily P50/P10/P90 (``bottom``: series, ds, p10, p50,
    p90); every other node its AutoETS forecast.
    """
    hat, fitted = _fit_nodes(y_df, h)
    rename = {"AutoETS": "plan", **{f"AutoETS-{side}-{_LEVEL}": f"plan-{side}-{_LEVEL}" for side in ("lo", "hi")}}
    hat, fitted = hat.rename(columns=rename), fitted.rename(columns=rename)[["unique_id", "ds", "y", "plan"]]
    ids = _bottom_ids(s_df, dims)
    plan = bottom.assign(unique_id=bottom["series"].map(ids)).set_index(["unique_id", "ds"])
    keyed = hat.set_index(["unique_id", "ds"])
    common = keyed.index.intersection(plan.index)
    keyed.loc[common, "plan"] = plan.loc[common, "p50"]
    keyed.loc[common, f"plan-lo-{_LEVEL}"] = plan.loc[common, "p10"]
    keyed.loc[common, f"plan-hi-{_LEVEL}"] = plan.loc[common, "p90"]
    return keyed.reset_index(), fitted


_MIN_SEASONAL_DAYS = 3 * _SEASON  # days a node needs for the weekly damped AutoETS; fewer: simple smoothing


def _fit_nodes(y_df: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(AutoETS forecast with its 80% bounds, in-sample fitted values) for every node of ``y_df``.

    A node whose history repeats another's (a team with one API key is also its key, a
    team using one model its team x model) is fitted once and copied: the same history
    gives the same forecast. Many nodes are fitted on every core.
    """
    from statsforecast.models import AutoETS

    from tokenplan.forecasting.statistical_fits import forecast_many

    ordered = y_df.sort_values(["unique_id", "ds"], ignore_index=True)
    first_with: dict[tuple, str] = {}
    source = {}
    for uid, node in ordered.groupby("unique_id", sort=True):
        history = (node["ds"].to_numpy().tobytes(), node["y"].to_numpy().tobytes())
        source[uid] = first_with.setdefault(history, uid)
    distinct = ordered[ordered["unique_id"].isin(set(first_with.values()))]
    # A node with under three weeks of days cannot fit the weekly damped model (AutoETS raised "no model able to
    # be fitted" on 12-14 days, and a request log of three or four weeks with a key column failed its whole run):
    # it gets simple exponential smoothing, the same model class, so the forecasts keep one set of columns.
    short = distinct.groupby("unique_id")["ds"].transform("size") < _MIN_SEASONAL_DAYS
    parts = [forecast_many([model], "D", rows, h, level=[_LEVEL], fitted=True) for model, rows in (
        (AutoETS(season_length=_SEASON, model="AAA", damped=True), distinct[~short]),
        (AutoETS(season_length=1, model="ANN"), distinct[short])) if len(rows)]
    hat, fitted = (pd.concat([part[i] for part in parts], ignore_index=True) for i in (0, 1))
    return _copied_to_repeats(hat, source), _copied_to_repeats(fitted, source)


def _copied_to_repeats(frame: pd.DataFrame, source: dict[str, str]) -> pd.DataFrame:
    """``frame``'s rows for every node of ``source`` (node -> the node fitted for it), by node and day."""
    nodes = pd.DataFrame({"unique_id": list(source), "fitted_as": list(source.values())})
    out = nodes.merge(frame.rename(columns={"unique_id": "fitted_as"}), on="fitted_as").drop(columns="fitted_as")
    return out.sort_values(["unique_id", "ds"], ignore_index=True)


def _bottom_ids(s_df: pd.DataFrame, dims: pd.DataFrame) -> dict[str, str]:
    """Series id -> its bottom node id (``organisation/team/key/model``)."""
    return {row.series: "/".join([ROOT, row.team, row.api_key, row.model]) for row in dims.itertuples()
            if "/".join([ROOT, row.team, row.api_key, row.model]) in s_df.columns}


def _lean_normality():
    """hierarchicalforecast's ``Normality`` intervals, keeping only what the levels need.

    The library's sampler builds every step's reconciled node x node covariance
    ``SP (R ∘ σσᵀ) (SP)ᵀ`` with two dense products and keeps them all for sampling; the
    intervals read only its diagonal. At 1,000 series (2,400 nodes, 92 steps) that was
    4 GB per method and an hour of products. Here the diagonal alone is computed, with
    the same formula: ``(SP)² σ²`` where the correlation is the identity (bottom-up,
    MinTrace OLS), else ``rowsum(S (P D R) ∘ S (P D))`` with ``D = diag(σ)`` (see
    ``_correlated_variances``).
    """
    from hierarchicalforecast.probabilistic_methods import Normality
    from scipy import sparse

    class LeanNormality(Normality):
        def __init__(self, S, P, y_hat, sigmah, W=None, seed: int = 0, **_):
            self.S, self.P, self.y_hat, self.W, self.sigmah, self.seed = S, P, y_hat, W, sigmah, seed
            summing = sparse.csr_matrix(S)  # 0/1, a few ones a row: sparse products cost almost nothing
            dense_p = P.toarray() if sparse.issparse(P) else np.asarray(P)
            dense_w = W.toarray() if sparse.issparse(W) else np.asarray(W)
            diagonal = not np.count_nonzero(dense_w - np.diag(np.diag(dense_w)))
            if diagonal:
                sp_squared = np.asarray(summing @ dense_p) ** 2
                variances = [np.sqrt(np.maximum(sp_squared @ sigma**2, 0)) for sigma in np.asarray(sigmah).T]
                self.sigmah_rec = np.stack(variances, axis=1)
            else:
                variance = _correlated_variances(summing, dense_p, np.asarray(sigmah, dtype=float), dense_w)
                self.sigmah_rec = np.sqrt(np.maximum(variance, 0))
            self.cov_rec = None  # not kept: sampling is not used

    return LeanNormality


def _correlated_variances(summing, dense_p: np.ndarray, sigmah: np.ndarray, dense_w: np.ndarray,
                          steps_per_product: int = 8) -> np.ndarray:
    """Node x step reconciled variances ``rowsum(S (P D R) ∘ S (P D))``, ``D = diag(σ)`` of each step, R = W's correlation.

    The correlation is split once as ``R = c I + F Fᵀ``: ``R = V diag(w) Vᵀ`` with ``c``
    its smallest eigenvalue and ``F = V sqrt(w - c)`` over the eigenvalues above ``c``.
    A shrunk covariance (MinTrace ``mint_shrink``: a diagonal plus the covariance of a
    few hundred in-sample days) has one smallest eigenvalue repeated for all but a few
    hundred directions, so F has a few hundred columns instead of one per node and each
    step costs ``P D F`` instead of ``P D R``: the variance is ``c rowsum((S P D)²) +
    rowsum((S P D F)²)``. Directions within ``1e-10 c`` of ``c`` are left out, so each
    variance moves by at most ``1e-10 c`` times ``rowsum((S P D)²)``, which is at most a
    ``1e-10`` part of it. Several steps share one matrix product.
    """
    std = np.sqrt(np.diag(dense_w))
    values, vectors = np.linalg.eigh(dense_w / np.outer(std, std))
    floor = values[0]
    kept = values - floor > 1e-10 * abs(floor)
    factor = vectors[:, kept] * np.sqrt(values[kept] - floor)
    variance = floor * (np.asarray(summing @ dense_p) ** 2 @ sigmah**2)
    nodes, rank = factor.shape
    for start in range(0, sigmah.shape[1], steps_per_product):
        sigmas = sigmah[:, start:start + steps_per_product]
        scaled = np.empty((nodes, sigmas.shape[1] * rank))
        for k in range(sigmas.shape[1]):
            np.multiply(sigmas[:, k:k + 1], factor, out=scaled[:, k * rank:(k + 1) * rank])
        projected = np.asarray(summing @ (dense_p @ scaled))
        variance[:, start:start + sigmas.shape[1]] += np.square(projected).reshape(len(projected), -1, rank).sum(axis=2)
    return variance


def _reconcile(y_hat: pd.DataFrame, fitted: pd.DataFrame, s_df: pd.DataFrame, tags) -> pd.DataFrame:
    from hierarchicalforecast import methods
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import MinTrace

    reconciler = HierarchicalReconciliation([MinTrace(method="ols"), MinTrace(method="mint_shrink")])
    library = methods.Normality
    methods.Normality = _lean_normality()  # the sampler the methods build (see _lean_normality)
    try:
        return reconciler.reconcile(Y_hat_df=y_hat, S_df=s_df, tags=tags, Y_df=fitted, level=[_LEVEL],
                                    intervals_method="normality")
    finally:
        methods.Normality = library


def _long(reconciled: pd.DataFrame) -> pd.DataFrame:
    """``unique_id, ds, method, p10, p50, p90`` for the base forecast and each reconciled method."""
    parts = [reconciled[["unique_id", "ds"]].assign(method="base", p10=reconciled[f"plan-lo-{_LEVEL}"],
                                                    p50=reconciled["plan"], p90=reconciled[f"plan-hi-{_LEVEL}"])]
    for column, name in METHODS.items():
        parts.append(reconciled[["unique_id", "ds"]].assign(
            method=name, p10=reconciled[f"plan/{column}-lo-{_LEVEL}"], p50=reconciled[f"plan/{column}"],
            p90=reconciled[f"plan/{column}-hi-{_LEVEL}"]))
    return pd.concat(parts, ignore_index=True)


def _days_every_series_has(fold: pd.DataFrame) -> list:
    """The fold's days that every series it forecasts has: a series whose window stops a day before the others'
    would otherwise be scored at nothing (``_every_series``) on a day it spent on."""
    counts = fold.groupby("ds")["series"].nunique()
    return sorted(counts.index[counts == fold["series"].nunique()])


def _every_series(fold: pd.DataFrame, series: list[str], days: list) -> pd.DataFrame:
    """``fold``'s P10-P90 for every one of ``series`` and ``days``, 0 where it has none.

    A series the fold has no forecast for (not started yet at the origin, or ended) is
    planned at nothing, as the plan's own spend is (``price_spend_plan``); left out, it
    would not be scored at that fold while the reconciled methods, which forecast it from
    its history, were.
    """
    grid = pd.MultiIndex.from_product([series, days], names=["series", "ds"])
    return fold.set_index(["series", "ds"])[_BAND].reindex(grid, fill_value=0.0).reset_index()


def _mase_scale(y_df: pd.DataFrame) -> pd.Series:
    """Per node: in-sample MAE of the weekly seasonal naive forecast (MASE's denominator)."""
    ordered = y_df.sort_values(["unique_id", "ds"])
    diff = ordered.groupby("unique_id")["y"].diff(_SEASON).abs()
    return diff.groupby(ordered["unique_id"]).mean()


def backtest_reconciliation(history: pd.DataFrame, folds: pd.DataFrame, dims: pd.DataFrame,
                            levels: list[str]) -> pd.DataFrame:
    """Per level and method: MASE and P10-P90 coverage on the backtest folds.

    Methods: ``base`` (each node's own forecast, not adding up), ``bottom_up`` (the series'
    forecasts added, as the plan's spend is: ``add_up``) and each MinTrace reconciliation.

    ``history``: the bottom series' whole daily USD history (series, ds, y); ``folds``:
    the bottom series' out-of-sample daily USD per fold (origin, series, ds, p10, p50, p90).
    """
    y_all, s_df, tags = hierarchy_history(history, dims, levels)
    nodes = node_levels(tags)
    scored = []
    for origin, fold in folds.groupby("origin"):
        cut = pd.Timestamp(origin)
        train = y_all[y_all["ds"] <= cut]
        days = _days_every_series_has(fold)
        if not days:  # no day every series has (one's days masked as an outage, another's ended): nothing to score
            continue
        y_hat, fitted = _base_forecasts(train, fold, s_df, dims, fold["ds"].nunique())
        y_hat = y_hat[y_hat["ds"].isin(days)]
        planned = _every_series(fold, list(_bottom_ids(s_df, dims)), days)
        added = add_up(planned, dims, levels).drop(columns="level").assign(method=PLAN_METHOD)
        out = pd.concat([_long(_reconcile(y_hat, fitted, s_df, tags)), added], ignore_index=True)
        actual = y_all[y_all["ds"].isin(days)][["unique_id", "ds", "y"]]
        graded = out.merge(actual, on=["unique_id", "ds"]).merge(nodes, on="unique_id")
        graded["abs_error"] = (graded["y"] - graded["p50"]).abs()
        graded["covered"] = graded["y"].between(graded["p10"], graded["p90"])
        scale = _mase_scale(train).replace(0, np.nan)
        per_node = graded.groupby(["level", "method", "unique_id"], as_index=False).agg(
            mae=("abs_error", "mean"), coverage=("covered", "mean"))
        per_node["mase"] = per_node["mae"] / per_node["unique_id"].map(scale)
        scored.append(per_node.assign(origin=cut))
    if not scored:
        return pd.DataFrame(columns=["level", "method", "mase", "coverage", "nodes", "folds"])
    table = pd.concat(scored, ignore_index=True)
    out = table.groupby(["level", "method"], as_index=False).agg(
        mase=("mase", "mean"), coverage=("coverage", "mean"), nodes=("unique_id", "nunique"),
        folds=("origin", "nunique"))
    order = {name: i for i, name in enumerate(LEVELS)}
    return out.sort_values(["level", "method"], key=lambda c: c.map(order) if c.name == "level" else c,
                           ignore_index=True)


def best_method(scores: pd.DataFrame) -> str:
    """The method that adds up with the lowest mean MASE over the levels (each level weighs the same).

    The plan uses ``PLAN_METHOD`` whichever this is; the report says when a MinTrace
    reconciliation scored better on the backtest folds.
    """
    reconciled = scores[scores["method"] != "base"]
    return str(reconciled.groupby("method")["mase"].mean().idxmin())
