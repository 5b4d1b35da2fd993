"""Point forecasts of every candidate method from one origin, on the same rows.

The plan uses, per series and target, the ensemble unless one candidate beats it on
strong evidence (``tokenplan.forecasting.method_choice``); the backtest grades them all,
and the choosing rule, on later folds. Candidates:

- ``xgboost``: the tuned global model (``tokenplan.forecasting.forecaster``), when the history
  supports training it (``tokenplan.forecasting.layout``);
- ``seasonal_naive``: the value one season earlier in phase (raw series, no events);
- ``daily_naive`` (hourly data whose season is the week): the same hour one day earlier;
  a trending or a weekday-driven series is often better read off yesterday than off
  last week, and the median needs members that fail in different ways;
- ``seasonal_mean``: the mean of the last four same-phase values relative to the
  recent level, on the flat level anchor (stated event effects included): the
  seasonal naive with its noise averaged out;
- ``mstl``: statsforecast's MSTL on ``log1p(y)`` with the seasons each series' history
  supports and an AutoETS trend, on a short history no trend or a damped one
  (``tokenplan.forecasting.ets_trend``; AutoETS alone when there is no season);
- ``lag_xgboost``: one XGBoost across all series on each series' own lags, differenced
  at the shortest cycle, forecasting recursively (mlforecast;
  ``tokenplan.forecasting.lag_model``): the global autoregressive model beside the
  direct, anchored one; it and MSTL, which replay the history, read it with isolated
  hourly spikes clipped (``tokenplan.forecasting.spikes``);
- ``level_xgboost``, only where the history is too short to train the direct model: the
  same lag model on the levels, not differenced (the plain autoregressive XGBoost on
  the last buckets, yesterday and the hour). On a few days of hours the direct model is
  not trained and the differenced lag model replays yesterday's deviations; this one
  stands in for the direct model (six days of hours, ``benchmarks/real_traffic.py --short 6``:
  the plan's MASE 0.905 to 0.807 against the median of three's 0.878);
- ``ensemble``: the per-step median of the others that pass the plausibility guard
  (``tokenplan.forecasting.plausibility``); combinations, robust to any one member's
  failure, were the robust winners of the M4 and M5 competitions, and the median is
  robust to a member that goes wrong where a mean is not. It is the default for every
  series (``tokenplan.forecasting.method_choice``).

Every candidate passes the guard before it can be combined or chosen: one whose P50
leaves the envelope around the history's season levels at any step is dropped for that
series at that origin, and the drop is returned beside the points.

All are point forecasts; intervals come from their own out-of-sample errors
(``tokenplan.forecasting.conformal``), the same way for every method. A planner-stated event effect
(``effect`` in the events calendar) is part of the plan whichever method forecasts a
series: the seasonal naive and MSTL, which read the raw series, are multiplied by it at
the target time as XGBoost and the seasonal mean are through their anchors, after the
stated effects of past events are divided out of the history they read (else a campaign
running at the origin would count twice). Without that, an ensemble or a baseline
chosen for a series would quietly drop a planned launch.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from tokenplan.forecasting.backtest import train_until
from tokenplan.forecasting.features import FeatureSpec, feature_columns
from tokenplan.forecasting.forecaster import QuantileForecaster
from tokenplan.forecasting.lag_model import LagModelSettings, lag_model_points
from tokenplan.forecasting.plausibility import GuardSettings, guard_candidates
from tokenplan.forecasting.row_keys import series_target_codes
from tokenplan.forecasting.spikes import clip_spikes

__all__ = ["METHODS", "candidate_points", "ensemble_rows", "members_present", "series_target_codes", "start_mstl",
           "with_ensemble", "without_stated_effects"]

METHODS = ("ensemble", "xgboost", "lag_xgboost", "level_xgboost", "mstl", "seasonal_mean", "seasonal_naive",
           "daily_naive")
_KEYS = ["series", "target", "origin", "ds", "step", "y"]


def with_ensemble(points: pd.DataFrame, members: dict[str, list[str]] | None = None,
                  size: int | None = None) -> pd.DataFrame:
    """``points`` (any ``ensemble`` rows replaced) plus the ensemble: per step the median of the members'
    points (``ensemble_rows``), the ensemble's rows first."""
    table = points[points["method"] != "ensemble"]
    return pd.concat([ensemble_rows(table, members, size), table], ignore_index=True)


# Candidates that read a series the same way (last season's values, raw or averaged): two of them in a
# median of three decide it.
_FAMILY = {"seasonal_naive": "recent seasons", "seasonal_mean": "recent seasons"}


def members_present(ranking: list[str], present: set[str], size: int | None = None) -> list[str]:
    """The first ``size`` methods of ``ranking`` (best first) that are ``present`` (all of them: ``None``).

    A member the guard dropped at this origin is replaced by the next in the ranking, so
    that targets of the same shape combine the same number of members: with the third
    member dropped, a median of two is their mean, and one target's forecast sat between
    the old and the new level while its neighbours followed the new one.

    At most one of a family (``_FAMILY``: the seasonal naive and the seasonal mean, both last seasons'
    values) is combined, the next in the ranking taking the other's place, unless too few others are
    present. Both among the best three, they decided the median: on four weeks of Taylor's electricity
    demand summed to days the ensemble was exactly the seasonal naive wherever MSTL carried a trend the
    seasonal mean lagged. Measured (2026-12-06): the real series summed to days, 28 days a week ahead
    (``real_traffic.py --daily 28``), 0.988 to 0.940 (the median of three 0.992; Taylor 0.973 to 0.793,
    AMZN 0.914 to 1.046); the real-traffic protocol 0.898 to 0.896; M4 hourly 0.844 both ways; M4 summed
    to days 0.605 to 0.606 (the whole file) and 0.747 both ways (15 days).
    """
    kept = [method for method in ranking if method in present]
    if size is None:
        return kept
    chosen: list[str] = []
    for method in kept:  # one of a family, then the next in the ranking
        if not any(_FAMILY.get(method, method) == _FAMILY.get(other, other) for other in chosen):
            chosen.append(method)
    return (chosen + [m for m in kept if m not in chosen])[:size]


def ensemble_rows(table: pd.DataFrame, members: dict[str, list[str]] | None = None,
                  size: int | None = None) -> pd.DataFrame:
    """One ``ensemble`` row per ``series, target, ds`` of ``table`` (no ensemble rows), in the order
    of their first rows there: per step the median of the members' points (two middle ones averaged,
    ``_middle_mean``).

    ``members`` maps ``series|target`` to the methods to combine, best first
    (``tokenplan.forecasting.method_choice`` ranks them on earlier folds); with ``size``, the
    first ``size`` of them present at this origin (``members_present``). A series not in it,
    or none of whose members is present at this origin (the guard dropped them), combines
    every candidate.
    """
    if members:
        codes, keys = series_target_codes(table)
        methods, names = pd.factorize(table["method"])
        seen = np.zeros((len(keys), len(names)), dtype=bool)
        seen[codes, methods] = True
        allowed_for = np.ones((len(keys), len(names)), dtype=bool)
        for k, key in enumerate(keys):
            if key in members:
                chosen = set(members_present(members[key], set(names[seen[k]]), size))
                allowed_for[k] = [name in chosen for name in names]
        allowed = allowed_for[codes, methods]
        any_allowed = np.bincount(codes[allowed], minlength=len(keys)) > 0
        allowed |= ~any_allowed[codes]
    else:
        allowed = np.ones(len(table), bool)
    keys = ["series", "target", "ds"]
    ensemble = _middle_mean(table.loc[allowed, keys + ["point"]], keys)
    base = table.drop(columns=["method", "point"]).drop_duplicates(keys)
    combined = base.merge(ensemble.rename("ensemble_point").reset_index(), on=keys, how="left")
    return combined.assign(method="ensemble", point=combined["ensemble_point"]).drop(columns="ensemble_point")


def _middle_mean(points: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per ``keys``, the median of ``point``: the middle one of an odd count, the mean of the two middle
    ones of an even count.

    Ranked in log1p as before (the same order), but two middle points are averaged as counts: their
    mean in log1p is a geometric mean of ``1 + point``, and beside a member forecasting an empty day (the
    seasonal naive of a key used every other day) it read 35 requests between 0 and 1,250.
    """
    grouped = points.groupby(keys, sort=False, observed=True)["point"]
    rank = grouped.rank(method="first").to_numpy() - 1
    count = grouped.transform("size").to_numpy()
    middle = (rank == (count - 1) // 2) | (rank == count // 2)
    return points[middle].groupby(keys, sort=False, observed=True)["point"].mean()


def _as_text(column: pd.Series) -> pd.Series:
    """``column.astype(str)``, a categorical's rows sharing one string per category (``astype(str)``
    makes a string per row: hundreds of megabytes a fold at 1,000 series)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.rename_categories(column.cat.categories.astype(str)).astype(object)
    return column.astype(str)


def without_stated_effects(series: pd.DataFrame, examples: pd.DataFrame) -> pd.DataFrame:
    """``series`` with the stated effects of past events divided out (read off the examples,
    where every labelled time carries its ``stated_effect``); times no example covers keep y."""
    if "stated_effect" not in examples or not (examples["stated_effect"] != 0).any():
        return series
    offsets = (examples.astype({"series": str, "target": str})
               .groupby(["series", "target", "ds"])["stated_effect"].first().rename("offset").reset_index())
    merged = series.astype({"series": str, "target": str}).merge(offsets, on=["series", "target", "ds"], how="left")
    return merged.assign(y=merged["y"] * np.exp(-merged["offset"].fillna(0.0))).drop(columns="offset")


def start_mstl(examples: pd.DataFrame, series: pd.DataFrame, origin: pd.Timestamp, spec: FeatureSpec,
               seasons: list[int], guard: GuardSettings | None = None,
               history: pd.DataFrame | None = None) -> Callable[[], pd.DataFrame]:
    """MSTL's points at ``origin`` (``series, target, ds, point``), its fits started on the run's workers now:
    the returned function waits for them. ``history``: ``series`` without the stated effects, if at hand."""
    from tokenplan.forecasting.baselines import mstl_later

    guard = guard or GuardSettings()
    undamped = guard.undamped_trend_seasons * spec.season if guard.undamped_trend_seasons else None
    history = without_stated_effects(series, examples) if history is None else history
    history = clip_spikes(history, spec.freq, guard.spike_ratio, origin)
    pending = mstl_later(history, origin, spec.horizon, spec.freq, [0.5], seasons=seasons, undamped_steps=undamped)
    return lambda: pending().rename(columns={"p50": "point"})[["series", "target", "ds", "point"]]


def candidate_points(examples: pd.DataFrame, series: pd.DataFrame, origin: pd.Timestamp, spec: FeatureSpec,
                     seasons: list[int], model: QuantileForecaster | None, labelled_only: bool = True,
                     guard: GuardSettings | None = None, lags: LagModelSettings | None = None,
                     mstl: Callable[[], pd.DataFrame] | None = None,
                     history: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every candidate's points at ``origin``, and the candidates the guard dropped.

    Points: long table ``series, target, origin, ds, step, y, stated_effect, method, point``. ``model``
    is the XGBoost model fitted on data before ``origin`` (None: not a candidate).
    ``labelled_only`` keeps only rows with a known ``y`` (backtest folds); the guard
    always judges the whole horizon. ``lags``: the lag model's settings (default: on). Drops: ``tokenplan.forecasting.plausibility.guard_candidates``.
    ``mstl``: MSTL's points at this origin already started (``start_mstl``); else they are
    started here, and fitted on the workers while this process forecasts the others.
    ``history``: ``without_stated_effects(series, examples)``, if at hand.
    """
    guard = guard or GuardSettings()
    history = without_stated_effects(series, examples) if history is None else history
    mstl = mstl or start_mstl(examples, series, origin, spec, seasons, guard, history)
    rows = examples[examples["origin"] == origin]
    base = rows[_KEYS].assign(series=_as_text(rows["series"]), target=_as_text(rows["target"])).reset_index(drop=True)
    points = {
        "seasonal_naive": rows["seasonal_naive_adjusted"].to_numpy(),
        "seasonal_mean": np.expm1(rows["anchor_level"].to_numpy() + np.nan_to_num(rows["seasonal_index"].to_numpy())),
    }
    if spec.freq == "h" and spec.season > 24 and "daily_naive_adjusted" in rows:
        points["daily_naive"] = rows["daily_naive_adjusted"].to_numpy()
    if model is not None:
        points["xgboost"] = np.expm1(rows["anchor"].to_numpy() + model.predict_z(rows)[:, 0])
    keys = ["series", "target", "ds"]
    lag_history = clip_spikes(history, spec.freq, guard.spike_ratio, origin)
    lag_points = lag_model_points(lag_history, origin, spec.horizon, spec.freq, seasons, lags)
    points["mstl"] = base.merge(mstl(), on=keys, how="left")["point"].to_numpy(dtype=float)
    if len(lag_points):
        points["lag_xgboost"] = base.merge(lag_points, on=keys, how="left")["point"].to_numpy(dtype=float)
    if model is None and (lags is None or lags.enabled):
        level_points = lag_model_points(lag_history, origin, spec.horizon, spec.freq, seasons, lags, differenced=False)
        if len(level_points):
            points["level_xgboost"] = base.merge(level_points, on=keys, how="left")["point"].to_numpy(dtype=float)
    stated = np.exp(rows["stated_effect"].to_numpy()) if "stated_effect" in rows else 1.0
    for raw in ("seasonal_naive", "daily_naive", "mstl", "lag_xgboost", "level_xgboost"):
        if raw in points:
            points[raw] = points[raw] * stated
    base = base.assign(stated_effect=rows["stated_effect"].to_numpy() if "stated_effect" in rows else 0.0)
    frames = [base.assign(method=name, point=np.clip(values, 0, None)) for name, values in points.items()]
    table = pd.concat(frames, ignore_index=True)
    table = table[np.isfinite(table["point"])]
    table, drops = guard_candidates(table, series, origin, spec.season, spec.freq, guard)
    table = with_ensemble(table)
    if labelled_only:
        table = table[np.isfinite(table["y"])]
    return table.reset_index(drop=True), drops


def fit_for_origin(examples: pd.DataFrame, origin: pd.Timestamp, spec: FeatureSpec, quantiles: list[float],
                   params: dict[str, Any], seed: int) -> QuantileForecaster:
    """The XGBoost model fitted on examples whose target time is at or before ``origin``."""
    features = feature_columns(spec)
    return QuantileForecaster(features, quantiles, params, seed=seed).fit(train_until(examples, origin, features))
