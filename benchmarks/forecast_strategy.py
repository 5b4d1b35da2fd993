"""Multi-step strategy by backtest: direct (the project's model) vs recursive vs hybrid.

    .venv/bin/python benchmarks/forecast_strategy.py                # stated and unstated event effects
    .venv/bin/python benchmarks/forecast_strategy.py --stated-only  # the demo as shipped only

On the demo data (the simulator's 18-month history, daily buckets, 3 models x 5 targets)
and on the SAME rolling-origin folds as the training pipeline
(``tokenplan.forecasting.layout`` with the default ``training.backtest``, horizon fixed at 91:
3 non-overlapping folds, 91 days apart), it compares, on exactly the same scored rows:

1. ``direct``: the project's model, unchanged: ``tokenplan.forecasting.backtest.run_backtest`` on
   the pipeline's model input table with the ``local_linear`` trend anchor and
   ``tokenplan.forecasting.forecaster.DEFAULT_PARAMS``. No Optuna tuning (the pipeline tunes):
   cheaper, and every strategy gets the same untuned params, so none is tuned.
2. ``recursive``: one global XGBoost (same DEFAULT_PARAMS, seed and thread count, via
   the same ``QuantileForecaster`` wrapper, squared error), trained one step ahead on
   every day up to the fold origin (labels at or before it only) and iterated 91 steps,
   feeding its own predictions back into its lags. Target and features at day ``t``,
   with ``m_t`` the mean of ``y[t-28..t-1]``::

       z_t       = log1p(y_t) - log1p(m_t)                       # label
       lag_k     = log1p(y_{t-k}) - log1p(m_t),  k in 1..7, 14, 21, 28
       roll7     = log1p(mean(y_{t-7..t-1})) - log1p(m_t)
       log_level = log1p(m_t)
       calendar  : day_of_week, is_holiday (``holidays`` 'US' and holiday events),
                   campaign flag and steps_since_launch (events without a stated effect)
       categorical: series, target

   Modelling the ratio to the trailing 28-day mean gives trees a fair chance with
   growth: they never output a level outside the training range, and growth is a ratio
   above one that the iteration compounds. Stated event effects are used exactly as the
   direct model uses them (``tokenplan.forecasting.features`` docstring): the recursion runs on the
   series with stated effects divided out (the grid's ``adjusted`` values) and each
   prediction is multiplied by the stated effect at its day. Calendar and event inputs
   come from the same ``features._Grid`` the direct model reads. It lacks, versus
   direct, ``launch_after_origin`` (a one-step model has no origin;
   ``steps_since_launch`` plays its part) and the robust Theil-Sen trend anchor.
   ``recursive-g`` is the same with the level taken as the trailing mean of
   ``log1p(y)`` (a geometric mean) instead of ``log1p`` of the arithmetic mean: a check
   that the recursion's downward drift is not only the Jensen gap between the two.
3. ``hybrid``: direct for steps 1..7, then the recursive model seeded with those seven
   direct predictions in its lag window and iterated for steps 8..91.

References, not candidates: ``seasonal_naive`` (the backtest's weekly naive);
``rec1-7+dir`` (recursive for steps 1-7, direct after: chosen after seeing these folds,
so optimistic); ``1-step*`` (the recursive model one step ahead fed the ACTUAL history:
not a forecast; its gap to ``recursive`` is the cost of feeding predictions back);
``oracle`` (the simulator's expected daily traffic: the noise floor).

Scoring is the project's own: ``tokenplan.forecasting.backtest.score_backtest`` on the median (MASE
with the in-sample weekly seasonal-naive scale up to each origin, pooled per target;
WAPE), then the same scaled errors by horizon bucket (steps 1-7, 8-28, 29-91) to show
drift, per fold, and the median log(P50 / actual) as a bias check. Only ``direct`` has
intervals, so only point accuracy is compared.

It prints tables and the wall time (about 25 s per data variant on 2 cores, no
network); it asserts nothing.
"""


from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from tokenplan.forecasting.backtest import _naive_scales, run_backtest, score_backtest  # noqa: E402
from tokenplan.forecasting.features import _Grid, spec_from_params, with_trend  # noqa: E402
from tokenplan.forecasting.forecaster import DEFAULT_PARAMS, QuantileForecaster  # noqa: E402
from tokenplan.pipelines.feature_engineering.nodes import (  # noqa: E402
    build_model_input_table,
    build_target_series,
    plan_forecast_layout,
)
from tokenplan.pipelines.ingestion.nodes import build_events_calendar, build_usage_buckets  # noqa: E402
from tokenplan.simulator import simulate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LAGS = [1, 2, 3, 4, 5, 6, 7, 14, 21, 28]
WINDOW = 28  # the trailing mean the recursive target is relative to
BUCKETS = [(1, 7), (8, 28), (29, 91)]
HYBRID_DIRECT_STEPS = 7
RECURSIVE_FEATURES = ([f"lag_{k}" for k in LAGS]
                      + ["roll7", "log_level", "day_of_week", "is_holiday", "campaign", "steps_since_launch",
                         "series", "target"])
RECURSIVE, RECURSIVE_LOG = "recursive", "recursive-g"
METHODS = ["direct", RECURSIVE, RECURSIVE_LOG, "hybrid", "seasonal_naive"]
ONE_STEP = "1-step*"  # diagnostic: recursive model fed the actuals
SPLICE = "rec1-7+dir"  # recursive steps 1-7, direct after (post hoc)
ORACLE = "oracle"  # the simulator's expected traffic
SHOWN = [*METHODS, SPLICE, ONE_STEP, ORACLE]


def _params(stage: str) -> dict:
    return yaml.safe_load((ROOT / "conf" / "base" / f"parameters_{stage}.yml").read_text())[stage]


def _trailing_mean(buffer: np.ndarray, t: int, length: int) -> np.ndarray:
    """Mean of ``buffer[:, t-length : t]`` ignoring NaN; NaN if under half observed."""
    window = buffer[:, t - length:t]
    observed = np.isfinite(window).sum(axis=1)
    total = np.nansum(window, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(observed * 2 >= length, total / np.maximum(observed, 1), np.nan)


class RecursiveFeatures:
    """One-step-ahead rows for every key at time index ``t`` of a ``features._Grid``.

    The same function builds training rows (``buffer`` = observed history) and forecast
    rows (``buffer`` = history followed by the model's own predictions), so training and
    iteration cannot drift apart.
    """

    def __init__(self, grid: _Grid, memory: int, log_mean: bool = False):
        self.grid = grid
        self.log_mean = log_mean
        self.keys = grid.keys
        self.series = pd.Categorical(grid.keys["series"], categories=sorted(grid.keys["series"].unique()))
        self.target = pd.Categorical(grid.keys["target"], categories=sorted(grid.keys["target"].unique()))
        self.dow = grid.times.dayofweek.to_numpy().astype(float)
        launch = grid.launch_index
        steps = np.arange(len(grid.times))[None, :] - launch
        self.since_launch = np.where(launch >= 0, np.minimum(steps, memory), memory).astype(float)

    def rows(self, buffer: np.ndarray, t: int) -> pd.DataFrame:
        if self.log_mean:  # the level is the trailing mean of log1p(y) (a geometric mean)
            logs = np.log1p(buffer[:, t - WINDOW:t])
            log_level = _trailing_mean(logs, WINDOW, WINDOW)
            roll7 = _trailing_mean(logs, WINDOW, 7)
        else:  # the level is log1p of the trailing arithmetic mean (as specified)
            log_level = np.log1p(_trailing_mean(buffer, t, WINDOW))
            roll7 = np.log1p(_trailing_mean(buffer, t, 7))
        with np.errstate(invalid="ignore"):
            columns = {f"lag_{k}": np.log1p(buffer[:, t - k]) - log_level for k in LAGS}
            columns["roll7"] = roll7 - log_level
            columns["z"] = np.log1p(buffer[:, t]) - log_level
        n = len(log_level)
        columns |= {
            "log_level": log_level,
            "day_of_week": np.full(n, self.dow[t]),
            "is_holiday": np.full(n, self.grid.holiday[t]),
            "campaign": self.grid.campaign[:, t],
            "steps_since_launch": self.since_launch[:, t],
            "series": self.series,
            "target": self.target,
            "t": np.full(n, t),
            "key": np.arange(n),
        }
        return pd.DataFrame(columns)


def recursive_fold(features: RecursiveFeatures, origin: int, horizon: int, seed: int,
                   seeds: dict[int, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None, QuantileForecaster]:
    """Fit one step ahead on labels at or before grid index ``origin``, iterate ``horizon`` steps.

    Returns the recursive forecast, the hybrid forecast (None without ``seeds``) and the
    model. Forecasts are (keys, horizon) on the raw scale (stated effects multiplied back
    in). ``seeds`` maps step -> direct P50 per key (raw scale) for the hybrid's first steps.
    """
    grid = features.grid
    history = grid.adjusted.copy()
    history[:, origin + 1:] = np.nan  # nothing after the origin is ever read
    train = pd.concat([features.rows(history, t) for t in range(WINDOW, origin + 1)], ignore_index=True)
    train = train[np.isfinite(train["z"]) & np.isfinite(train["log_level"])]
    model = QuantileForecaster(RECURSIVE_FEATURES, [0.5], DEFAULT_PARAMS, seed=seed).fit(train)
    effect = np.exp(grid.offset)

    def iterate(seeded: dict[int, np.ndarray]) -> np.ndarray:
        buffer = history.copy()
        out = np.full((buffer.shape[0], horizon), np.nan)
        for step in range(1, horizon + 1):
            t = origin + step
            if step in seeded:
                adjusted = seeded[step] / effect[:, t]
            else:
                rows = features.rows(buffer, t)
                z = model.predict_z(rows)[:, 0]
                adjusted = np.clip(np.expm1(rows["log_level"].to_numpy() + z), 0.0, None)
            buffer[:, t] = adjusted
            out[:, step - 1] = adjusted * effect[:, t]
        return out

    return iterate({}), (iterate(seeds) if seeds else None), model


def _bucket(step: pd.Series) -> pd.Series:
    labels = pd.Series("", index=step.index)
    for low, high in BUCKETS:
        labels[(step >= low) & (step <= high)] = f"{low}-{high}"
    return labels


def run(stated_effects: bool) -> dict:
    started = time.monotonic()
    catalog = yaml.safe_load((ROOT / "conf" / "base" / "catalog_01_raw.yml").read_text())
    simulation = simulate(catalog["_demo"]["config"])
    raw_events = simulation.events if stated_effects else simulation.events.drop(columns="effect")
    # The strategy comparison as it was measured: 91 steps ahead, origins every 7 days,
    # three non-overlapping 91-day folds (fold origins included in the example grid).
    fe = {**_params("feature_engineering"), "horizon": 91, "origin_every": 7}
    tr = _params("training")
    series = build_target_series(build_usage_buckets(simulation.usage, _params("ingestion")), fe)
    events = build_events_calendar(raw_events, _params("ingestion"))
    layout = plan_forecast_layout(series, fe, tr)
    examples = with_trend(build_model_input_table(series, events, fe, layout), "local_linear")
    spec = spec_from_params(fe, layout)
    origins = [pd.Timestamp(o) for o in layout["backtest_origins"]]
    prepared = time.monotonic()

    # 1. Direct: the project's own backtest, default params, local_linear anchor.
    table, _ = run_backtest(examples, spec, tr["quantiles"], dict(DEFAULT_PARAMS, objective=tr["objective"]),
                            origins, seed=tr["seed"], baselines=("seasonal_naive",))
    table["method"] = table["method"].replace({"xgboost": "direct"})
    direct_seconds = time.monotonic() - prepared

    # 2./3. Recursive (both level definitions) and hybrid on the same folds and rows.
    grid = _Grid(series, events, spec, series["ds"].max())
    memory = spec.launch_memory_weeks * spec.season
    variants = {RECURSIVE: RecursiveFeatures(grid, memory), RECURSIVE_LOG: RecursiveFeatures(grid, memory, True)}
    keys = grid.keys.assign(key=np.arange(len(grid.keys)))
    direct = table[table["method"] == "direct"]
    frames = []

    def point_rows(fold: pd.DataFrame, forecast: np.ndarray, name: str) -> pd.DataFrame:
        rows = fold[["series", "target", "origin", "ds", "step", "y", "key"]].copy()
        point = forecast[rows["key"].to_numpy(), rows["step"].to_numpy().astype(int) - 1]
        return rows.drop(columns="key").assign(p10=point, p50=point, p90=point, method=name)

    for origin in origins:
        o = grid.index[pd.Timestamp(origin)]
        fold = direct[direct["origin"] == origin].merge(keys, on=["series", "target"])
        seeds = {step: fold[fold["step"] == step].set_index("key")["p50"].reindex(range(len(keys))).to_numpy()
                 for step in range(1, HYBRID_DIRECT_STEPS + 1)}
        for name, features in variants.items():
            recursive, hybrid, model = recursive_fold(features, o, spec.horizon, tr["seed"],
                                                      seeds if name == RECURSIVE else None)
            frames.append(point_rows(fold, recursive, name))
            if name != RECURSIVE:
                continue
            frames.append(point_rows(fold, hybrid, "hybrid"))
            # Diagnostic, not a forecast: the recursive model one step ahead at each target
            # time of the fold, fed the ACTUAL history instead of its own predictions. The
            # gap between this and `recursive` is the cost of feeding predictions back.
            teacher = np.full((len(keys), spec.horizon), np.nan)
            for step in range(1, spec.horizon + 1):
                rows = features.rows(grid.adjusted, o + step)
                z = model.predict_z(rows)[:, 0]
                teacher[:, step - 1] = (np.clip(np.expm1(rows["log_level"].to_numpy() + z), 0.0, None)
                                        * np.exp(grid.offset[:, o + step]))
            frames.append(point_rows(fold, teacher, ONE_STEP))
    # Splice (chosen after seeing the bucket table, so optimistic): recursive for the
    # first week, direct after. Oracle: the simulator's expected daily traffic, the best
    # forecast any model could make (the noise floor of these metrics).
    recursive_rows = pd.concat([f for f in frames if f["method"].iat[0] == RECURSIVE])
    splice = pd.concat([recursive_rows[recursive_rows["step"] <= HYBRID_DIRECT_STEPS],
                        direct[direct["step"] > HYBRID_DIRECT_STEPS]]).assign(method=SPLICE)
    truth = simulation.truth.assign(ds=lambda t: t["timestamp"].dt.tz_convert(None).dt.floor("D"))
    expected = truth.groupby(["model", "target", "ds"])["expected"].sum().rename("point").reset_index()
    oracle = direct[["series", "target", "origin", "ds", "step", "y"]].merge(
        expected.rename(columns={"model": "series"}), on=["series", "target", "ds"], how="left")
    oracle = oracle.assign(p10=oracle["point"], p50=oracle["point"], p90=oracle["point"], method=ORACLE)
    table = pd.concat([table, *frames, splice, oracle.drop(columns="point")], ignore_index=True)
    seconds = time.monotonic() - started
    return {"table": table, "series": series, "spec": spec, "quantiles": tr["quantiles"], "origins": origins,
            "seconds": seconds, "direct_seconds": direct_seconds,
            "recursive_seconds": seconds - direct_seconds - (prepared - started)}


def report(result: dict, label: str) -> None:
    table, series, spec = result["table"], result["series"], result["spec"]
    scores = score_backtest(table, series, spec, result["quantiles"])
    pooled = scores[scores["series"] == "all"]
    print(f"\n##### Demo, {label} #####")
    print(f"folds (origins): {[str(pd.Timestamp(o).date()) for o in result['origins']]}, horizon {spec.horizon} "
          f"days, {table[table['method'] == 'direct'].shape[0]} scored rows per method")
    print("\n=== MASE (P50) per target, pooled over series and folds; lower is better ===")
    mase = pooled.pivot(index="target", columns="method", values="mase")[SHOWN]
    mase.loc["mean over targets"] = mase.mean()
    print(mase.round(3).to_string())
    print(f"(references: {SPLICE} = recursive steps 1-7 + direct after, picked after seeing these folds; "
          f"{ONE_STEP} = recursive model one step ahead fed the actuals, not a forecast; "
          f"{ORACLE} = simulator's expected traffic, the noise floor)")
    print("\n=== WAPE (P50) per target ===")
    wape = pooled.pivot(index="target", columns="method", values="wape")[SHOWN]
    wape.loc["mean over targets"] = wape.mean()
    print(wape.round(3).to_string())

    scaled = table.merge(_naive_scales(series, spec.season, sorted(table["origin"].unique())),
                         on=["series", "target", "origin"], how="left")
    scaled["err"] = np.abs(scaled["y"] - scaled["p50"]) / scaled["scale"]
    scaled["bucket"] = _bucket(scaled["step"])
    order = [f"{low}-{high}" for low, high in BUCKETS]
    print("\n=== MASE by horizon bucket (steps), all targets pooled ===")
    by_bucket = scaled.pivot_table(index="bucket", columns="method", values="err", aggfunc="mean")
    print(by_bucket.reindex(order)[SHOWN].round(3).to_string())
    print("\n=== MASE by horizon bucket per target ===")
    per_target = scaled.pivot_table(index="target", columns=["bucket", "method"], values="err", aggfunc="mean")
    per_target = per_target.reindex(columns=pd.MultiIndex.from_product([order, ["direct", RECURSIVE, "hybrid"]]))
    print(per_target.round(3).to_string())
    print("\n=== MASE per fold (origin), all targets pooled ===")
    by_fold = scaled.assign(origin=scaled["origin"].dt.date).pivot_table(index="origin", columns="method",
                                                                          values="err", aggfunc="mean")
    print(by_fold[SHOWN].round(3).to_string())
    bias = scaled.assign(logratio=np.log(scaled["p50"].clip(lower=1) / scaled["y"].clip(lower=1)))
    print("\n=== Median log(P50 / actual) by bucket (bias: > 0 over-forecasts) ===")
    print(bias.pivot_table(index="bucket", columns="method", values="logratio", aggfunc="median")
          .reindex(order)[SHOWN].round(3).to_string())
    print(f"\ntime: {result['seconds']:.0f} s (direct backtest {result['direct_seconds']:.0f} s, "
          f"recursive + hybrid {result['recursive_seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stated-only", action="store_true",
                        help="skip the run with the events' `effect` column dropped (sizes learned from the past)")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"params (every XGBoost here, untuned): {DEFAULT_PARAMS}")
    report(run(stated_effects=True), "stated event effects (as shipped)")
    if not args.stated_only:
        report(run(stated_effects=False), "event effects unknown (effect column dropped)")
    print(f"\nwall time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
