"""Accuracy of the forecaster against its baselines, on data with a known answer.

    .venv/bin/python benchmarks/forecast_accuracy.py            # demo + Taylor
    .venv/bin/python benchmarks/forecast_accuracy.py --only demo            # or demo-unstated, taylor

1. Demo (the simulator's realised future): the pipeline's own nodes, with the default
   parameters, tune / backtest / fit on the full 18-month history; the quarter after it
   is then scored against the simulator's truth for the model (P50 and its calibrated
   P10-P90), the weekly seasonal naive and MSTL fitted at the same origin. Quarter
   totals: is the realised total inside the P10-P90 of `forecast_totals`? The demo's
   events calendar states each campaign's and launch's expected effect as a planner
   would (the true multiplier with a seeded ~10% planning error); the run is repeated
   with the `effect` column dropped, so every event size must be learned from the past.
2. Taylor half-hourly electricity demand (../shared/realdata, hourly sums, one week
   ahead): the rolling-origin backtest table, with 3 and with 6 non-overlapping folds
   (12 weeks of data: 3 folds leave more history to train on, 6 give a steadier
   estimate). Skipped when ../shared is absent.

It prints tables and the demo targets; it asserts nothing (tests do that).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from tokenplan.forecasting.baselines import mstl  # noqa: E402
from tokenplan.pipelines.feature_engineering.nodes import (  # noqa: E402
    add_calendar_effects,
    build_model_input_table,
    build_target_series,
    mask_suspected_outages,
    plan_forecast_layout,
)
from tokenplan.pipelines.ingestion.nodes import build_events_calendar, build_usage_buckets  # noqa: E402
from tokenplan.pipelines.training import nodes as training  # noqa: E402
from tokenplan.simulator import simulate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TAYLOR = ROOT.parent / "shared" / "realdata" / "taylor_halfhourly.csv"


def _params(stage: str) -> dict:
    return yaml.safe_load((ROOT / "conf" / "base" / f"parameters_{stage}.yml").read_text())[stage]


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _train(usage: pd.DataFrame, events: pd.DataFrame, fe: dict, tr: dict) -> dict:
    started = time.monotonic()
    series = build_target_series(build_usage_buckets(usage, _params("ingestion")), fe)
    layout = plan_forecast_layout(series, fe, tr)
    calendar = add_calendar_effects(series, build_events_calendar(events, _params("ingestion")), fe, layout)
    history, outages = mask_suspected_outages(series, calendar, fe, layout)  # as the pipeline does
    examples = build_model_input_table(history, calendar, fe, layout)
    best = training.tune_hyperparameters(examples, fe, tr, layout)
    predictions, offsets, selection, origin_mstl = training.backtest_forecaster(examples, history, fe, tr, best, layout)
    metrics = training.evaluate_backtest(predictions, history, fe, tr, layout)
    model = training.train_forecaster(examples, fe, tr, best, selection, layout)
    forecast, _ = training.predict_forecast(model, examples, history, offsets, selection, fe, tr, layout, origin_mstl)
    totals = training.forecast_totals(forecast, predictions, offsets, tr)
    print(f"suspected outages masked: {len(outages)} bucket(s)")
    print(f"trend anchor: {selection['trend']}; methods chosen: "
          f"{pd.Series(selection['methods']).value_counts().to_dict()}")
    return {"series": series, "metrics": metrics, "forecast": forecast, "totals": totals, "layout": layout,
            "seconds": time.monotonic() - started}


def _pooled(metrics: pd.DataFrame) -> pd.DataFrame:
    table = metrics[metrics["series"] == "all"].pivot_table(index="target", columns="method",
                                                            values=["mase", "wape", "coverage"])
    return table.round(3)


def _score_future(run: dict, truth: pd.DataFrame, fe: dict, tr: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model, naive and MSTL against the realised quarter; and quarter-total coverage."""
    series = run["series"]
    forecast = run["forecast"].assign(ds=run["forecast"]["timestamp"].dt.tz_convert(None))
    future = truth[truth["is_future"]].assign(ds=lambda t: t["timestamp"].dt.tz_convert(None).dt.floor("D"))
    actual = future.groupby(["model", "target", "ds"])["actual"].sum(min_count=24).rename("y").reset_index()
    actual = actual.rename(columns={"model": "series"})
    origin = series["ds"].max()
    rows = forecast.merge(actual, on=["series", "target", "ds"])
    last_week = series[series["ds"] > origin - pd.Timedelta(days=7)].assign(dow=lambda s: s["ds"].dt.dayofweek)
    naive = rows.assign(dow=rows["ds"].dt.dayofweek).merge(
        last_week[["series", "target", "dow", "y"]].rename(columns={"y": "naive"}), on=["series", "target", "dow"])
    statistical = mstl(series, origin, run["layout"]["horizon"], fe["freq"], tr["quantiles"]).rename(columns={"p50": "mstl"})
    rows = naive.merge(statistical[["series", "target", "ds", "mstl"]], on=["series", "target", "ds"])
    history = series[series["ds"] <= origin].sort_values("ds")
    scale = history.groupby(["series", "target"])["y"].apply(lambda y: y.diff(7).abs().mean()).rename("scale")
    rows = rows.merge(scale.reset_index(), on=["series", "target"])
    out = []
    for target, group in rows.groupby("target"):
        y = group["y"].to_numpy()
        record = {"target": target}
        for name, column in (("chosen", "p50"), ("seasonal_naive", "naive"), ("mstl", "mstl")):
            record[f"mase_{name}"] = float(np.mean(np.abs(y - group[column]) / group["scale"]))
        record["coverage_p10_p90"] = float(np.mean((y >= group["p10"]) & (y <= group["p90"])))
        out.append(record)
    scores = pd.DataFrame(out)
    totals = run["totals"][run["totals"]["period"] == "horizon"]
    realised = rows.groupby(["series", "target"])["y"].sum().rename("realised").reset_index()
    totals = totals.merge(realised, on=["series", "target"])
    totals["inside"] = (totals["realised"] >= totals["p10"]) & (totals["realised"] <= totals["p90"])
    return scores, totals[["series", "target", "p10", "p50", "p90", "realised", "inside"]]


def demo(workdir: Path, stated_effects: bool = True) -> None:
    catalog = yaml.safe_load((ROOT / "conf" / "base" / "catalog_01_raw.yml").read_text())
    simulation = simulate(catalog["_demo"]["config"])
    events = simulation.events if stated_effects else simulation.events.drop(columns="effect")
    label = "stated event effects" if stated_effects else "event effects unknown (effect column dropped)"
    fe = _params("feature_engineering")
    tr = _merge(_params("training"), {"tuning": {"storage_url": f"sqlite:///{workdir / f'demo{stated_effects}.db'}"}})
    run = _train(simulation.usage, events, fe, tr)
    print(f"\n##### Demo, {label} #####")
    print(f"\n=== Demo: rolling-origin backtest ({tr['backtest']['folds']} folds, horizon {run['layout']['horizon']} days), "
          f"pooled over models; {run['seconds']:.0f} s ===")
    print(_pooled(run["metrics"]).to_string())
    scores, totals = _score_future(run, simulation.truth, fe, tr)
    print("\n=== Demo: the realised next quarter (simulator truth), daily buckets ===")
    print(scores.round(3).to_string(index=False))
    mase = scores[["mase_chosen", "mase_seasonal_naive", "mase_mstl"]].mean()
    print(f"\nmean MASE: chosen methods {mase['mase_chosen']:.3f}, seasonal naive {mase['mase_seasonal_naive']:.3f} "
          f"({1 - mase['mase_chosen'] / mase['mase_seasonal_naive']:.0%} lower), mstl {mase['mase_mstl']:.3f}")
    print(f"daily P10-P90 coverage of the realised quarter: {scores['coverage_p10_p90'].mean():.1%}")
    print("\n=== Demo: quarter totals vs realised ===")
    print(totals.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    print(f"quarter totals inside P10-P90: {int(totals['inside'].sum())} of {len(totals)}")


def taylor(workdir: Path, folds: int = 3) -> None:
    if not TAYLOR.exists():
        print(f"\n(skipping Taylor: {TAYLOR} not found)")
        return
    raw = pd.read_csv(TAYLOR)
    print(f"\nTaylor file columns: {list(raw.columns)}, {len(raw)} rows")
    time_column = next(c for c in raw.columns if "time" in c.lower() or "date" in c.lower())
    value_column = next(c for c in raw.columns if c != time_column)
    usage = pd.DataFrame({"timestamp": pd.to_datetime(raw[time_column]), "model": "taylor-demand",
                          "requests": raw[value_column].astype(float)})
    events = pd.DataFrame({"start": [], "end": [], "name": [], "kind": [], "scope": []})
    fe = _merge(_params("feature_engineering"), {"freq": "h", "horizon": 168, "targets": ["requests"],
                                                 "origin_every": None, "level_weeks": 2, "trend_weeks": 4,
                                                 "holiday_country": "GB"})
    tr = _merge(_params("training"), {"backtest": {"folds": folds},
                                      "tuning": {"folds": 2, "step_days": 1,
                                                 "storage_url": f"sqlite:///{workdir / f'taylor{folds}.db'}"}})
    run = _train(usage, events, fe, tr)
    print(f"\n=== Taylor (hourly, one week ahead): rolling-origin backtest, {tr['backtest']['folds']} folds; "
          f"{run['seconds']:.0f} s ===")
    print(_pooled(run["metrics"]).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["demo", "demo-unstated", "taylor"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.only in (None, "demo"):
            demo(Path(folder))
        if args.only in (None, "demo-unstated"):
            demo(Path(folder), stated_effects=False)
        if args.only in (None, "taylor"):
            taylor(Path(folder), folds=3)
            taylor(Path(folder), folds=6)


if __name__ == "__main__":
    sys.exit(main())
