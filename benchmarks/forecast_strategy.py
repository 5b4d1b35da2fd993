"""Multi-step strategy by backtest: direct (the project's model) vs recursive vs hybrid.

    .venv/bin/python benchmarks/forecast_strategy.py              # demo, stated event effects
    .venv/bin/python benchmarks/forecast_strategy.py --unstated   # also without the `effect` column

On the demo data (the simulator's 18-month history, daily buckets, 15 series x target
keys) and on the SAME rolling-origin folds as the training pipeline
(``tokenplan.backtest.fold_origins`` with the default ``training.backtest``: 3 folds, 91
days apart, horizon 91), it compares:

1. ``direct``: the project's model, unchanged: ``tokenplan.backtest.run_backtest`` on
   the pipeline's model input table with the ``local_linear`` trend anchor and
   ``tokenplan.forecaster.DEFAULT_PARAMS`` (no Optuna tuning: cheaper, and the other
   strategies get the same untuned params, so neither side is tuned).
2. ``recursive``: one global XGBoost (same DEFAULT_PARAMS, seed and thread count via the
   same ``QuantileForecaster`` wrapper, squared error), trained one step ahead on every
   day up to the fold origin and iterated 91 steps, feeding its own predictions back
   into its lags. Target and features at time ``t`` (``m_t`` = mean of
   ``y[t-28..t-1]``)::

       r_t      = log1p(y_t) - log1p(m_t)                     # label
       lag_k    = log1p(y_{t-k}) - log1p(m_t),  k in 1..7, 14, 21, 28
       roll7    = log1p(mean(y_{t-7..t-1})) - log1p(m_t)
       log_level = log1p(m_t)
       calendar: day_of_week, is_holiday (``holidays`` 'US' plus holiday events),
                 campaign flag and steps_since_launch of events without a stated effect
       categorical: series, target

   Modelling the ratio to the trailing 28-day mean gives trees a chance with growth:
   they never have to output a level outside the training range, and growth shows up
   as a ratio above one that the recursion compounds. Stated event effects are handled
   exactly as the direct model handles them (``tokenplan.features`` docstring): the
   recursion runs on the series with past stated effects divided out (the grid's
   ``adjusted`` values) and each prediction is multiplied by the stated effect at its
   target time. Calendar and event inputs are read from the same ``features._Grid``
   the direct model uses. What it lacks versus direct: ``launch_after_origin`` (there
   is no origin in a one-step model; ``steps_since_launch`` plays its part) and the
   direct model's robust Theil-Sen trend anchor.
3. ``hybrid``: direct for steps 1..7, then the recursive model seeded with those seven
   direct predictions in its lag window and iterated for steps 8..91.

Also shown: the weekly seasonal naive the backtest builds (the usual MASE yardstick).
All point forecasts are scored on the median (P50) with the project's own
``tokenplan.backtest.score_backtest`` (MASE with the in-sample weekly seasonal-naive
scale up to each origin, pooled per target; WAPE), and by horizon bucket (steps 1-7,
8-28, 29-91) with the same scaled errors, to show drift. Only ``direct`` has
intervals, so only MASE and WAPE are compared.

It prints tables and the wall time; it asserts nothing. No network; about a minute on
2 cores per data variant.
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

from tokenplan.backtest import _naive_scales, fold_origins, run_backtest, score_backtest  # noqa: E402
from tokenplan.features import _Grid, spec_from_params, with_trend  # noqa: E402
from tokenplan.forecaster import DEFAULT_PARAMS, QuantileForecaster  # noqa: E402
from tokenplan.pipelines.feature_engineering.nodes import build_model_input_table, build_target_series  # noqa: E402
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
METHODS = ["direct", "recursive", "hybrid", "seasonal_naive"]


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

    def __init__(self, grid: _Grid, memory: int):
        self.grid = grid
        self.keys = grid.keys
        self.series = pd.Categorical(grid.keys["series"], categories=sorted(grid.keys["series"].unique()))
        self.target = pd.Categorical(grid.keys["target"], categories=sorted(grid.keys["target"].unique()))
        self.dow = grid.times.dayofweek.to_numpy().astype(float)
        launch = grid.launch_index
        steps = np.arange(len(grid.times))[None, :] - launch
        self.since_launch = np.where(launch >= 0, np.minimum(steps, memory), memory).astype(float)

    def rows(self, buffer: np.ndarray, t: int) -> pd.DataFrame:
        mean = _trailing_mean(buffer, t, WINDOW)
        log_level = np.log1p(mean)
        with np.errstate(invalid="ignore"):
            columns = {f"lag_{k}": np.log1p(buffer[:, t - k]) - log_level for k in LAGS}
            columns["roll7"] = np.log1p(_trailing_mean(buffer, t, 7)) - log_level
            columns["z"] = np.log1p(buffer[:, t]) - log_level
        n = len(mean)
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
                   seeds: dict[int, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, QuantileForecaster]:
    """Fit on labels at or before ``origin``; iterate ``horizon`` steps. Returns (recursive, hybrid) forecasts.

    Forecasts are (keys, horizon) on the raw scale (stated effects multiplied back in).
    ``seeds`` maps step -> direct P50 (keys,) on the raw scale for the hybrid's first steps.
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

    return iterate({}), iterate(seeds or {}), model


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
    fe, tr = _params("feature_engineering"), _params("training")
    series = build_target_series(build_usage_buckets(simulation.usage, _params("ingestion")), fe)
    events = build_events_calendar(raw_events, _params("ingestion"))
    examples = with_trend(build_model_input_table(series, events, fe), "local_linear")
    spec = spec_from_params(fe)
    origins = fold_origins(examples, spec, tr["backtest"]["folds"], tr["backtest"]["step"])
    prepared = time.monotonic()

    # 1. Direct: the project's own backtest, default params, local_linear anchor.
    table, _ = run_backtest(examples, spec, tr["quantiles"], dict(DEFAULT_PARAMS, objective=tr["objective"]),
                            origins, seed=tr["seed"], baselines=("seasonal_naive",))
    table["method"] = table["method"].replace({"xgboost": "direct"})
    direct_seconds = time.monotonic() - prepared

    # 2./3. Recursive and hybrid on the same folds, on the same rows.
    grid = _Grid(series, events, spec, series["ds"].max())
    features = RecursiveFeatures(grid, spec.launch_memory_weeks * spec.season)
    keys = grid.keys.assign(key=np.arange(len(grid.keys)))
    direct = table[table["method"] == "direct"]
    frames, one_step = [], []
    for origin in origins:
        o = grid.index[pd.Timestamp(origin)]
        fold = direct[direct["origin"] == origin].merge(keys, on=["series", "target"])
        seeds = {}
        for step in range(1, HYBRID_DIRECT_STEPS + 1):
            at = fold[fold["step"] == step].set_index("key")["p50"].reindex(range(len(keys)))
            seeds[step] = at.to_numpy()
        recursive, hybrid, _ = recursive_fold(features, o, spec.horizon, tr["seed"], seeds)
        for name, forecast in (("recursive", recursive), ("hybrid", hybrid)):
            rows = fold[["series", "target", "origin", "ds", "step", "y", "key"]].copy()
            point = forecast[rows["key"].to_numpy(), rows["step"].to_numpy().astype(int) - 1]
            for column in ("p10", "p50", "p90"):
                rows[column] = point
            frames.append(rows.drop(columns="key").assign(method=name))
        # Sanity check: one-step-ahead accuracy of the recursive model at each step of
        # the fold when fed the ACTUAL history (teacher forcing), not its own forecasts.
        rows = fold[["series", "target", "origin", "ds", "step", "y", "key"]].copy()
        actual = grid.adjusted
        rows_tf = pd.concat([features.rows(actual, o + s) for s in range(1, spec.horizon + 1)], ignore_index=True)
        model = _refit_cache.get(o)
        if model is not None:
            z = model.predict_z(rows_tf)[:, 0]
            rows_tf["p50"] = np.expm1(rows_tf["log_level"] + z) * np.exp(grid.offset[rows_tf["key"], rows_tf["t"]])
            one_step.append(rows_tf)
    table = pd.concat([table, *frames], ignore_index=True)
    seconds = time.monotonic() - started
    return {"table": table, "series": series, "spec": spec, "quantiles": tr["quantiles"], "origins": origins,
            "seconds": seconds, "direct_seconds": direct_seconds,
            "recursive_seconds": seconds - direct_seconds - (prepared - started)}


_refit_cache: dict = {}


def report(result: dict, label: str) -> None:
    table, series, spec = result["table"], result["series"], result["spec"]
    scores = score_backtest(table, series, spec, result["quantiles"])
    pooled = scores[scores["series"] == "all"]
    print(f"\n##### Demo, {label} #####")
    print(f"folds (origins): {[str(pd.Timestamp(o).date()) for o in result['origins']]}, horizon {spec.horizon} "
          f"days, {table[table['method'] == 'direct'].shape[0]} scored rows per method")
    print("\n=== MASE (P50) per target, pooled over series and folds; lower is better ===")
    mase = pooled.pivot(index="target", columns="method", values="mase")[METHODS]
    mase.loc["mean over targets"] = mase.mean()
    print(mase.round(3).to_string())
    print("\n=== WAPE (P50) per target ===")
    wape = pooled.pivot(index="target", columns="method", values="wape")[METHODS]
    wape.loc["mean over targets"] = wape.mean()
    print(wape.round(3).to_string())

    scaled = table.merge(_naive_scales(series, spec.season, sorted(table["origin"].unique())),
                         on=["series", "target", "origin"], how="left")
    scaled["err"] = np.abs(scaled["y"] - scaled["p50"]) / scaled["scale"]
    scaled["bucket"] = _bucket(scaled["step"])
    order = [f"{low}-{high}" for low, high in BUCKETS]
    print("\n=== MASE by horizon bucket (steps), all targets pooled ===")
    by_bucket = scaled.pivot_table(index="bucket", columns="method", values="err", aggfunc="mean")
    print(by_bucket.reindex(order)[METHODS].round(3).to_string())
    print("\n=== MASE by horizon bucket per target ===")
    per_target = scaled.pivot_table(index="target", columns=["bucket", "method"], values="err", aggfunc="mean")
    per_target = per_target.reindex(columns=pd.MultiIndex.from_product([order, METHODS]))
    print(per_target.round(3).to_string())
    print("\n=== MASE per fold (origin), all targets pooled ===")
    by_fold = scaled.assign(origin=scaled["origin"].dt.date).pivot_table(index="origin", columns="method",
                                                                          values="err", aggfunc="mean")
    print(by_fold[METHODS].round(3).to_string())
    bias = scaled.assign(logratio=np.log(scaled["p50"].clip(lower=1) / scaled["y"].clip(lower=1)))
    print("\n=== Median log(P50 / actual) by bucket (bias: > 0 over-forecasts) ===")
    print(bias.pivot_table(index="bucket", columns="method", values="logratio", aggfunc="median")
          .reindex(order)[METHODS].round(3).to_string())
    print(f"\ntime: {result['seconds']:.0f} s (direct backtest {result['direct_seconds']:.0f} s, "
          f"recursive + hybrid {result['recursive_seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unstated", action="store_true",
                        help="also run with the events' `effect` column dropped (sizes learned from the past)")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"params (direct, recursive and hybrid alike): {DEFAULT_PARAMS}")
    report(run(stated_effects=True), "stated event effects")
    if args.unstated:
        report(run(stated_effects=False), "event effects unknown (effect column dropped)")
    print(f"\nwall time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
