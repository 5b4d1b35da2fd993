"""Plausibility on usage shapes nobody tuned on: the command a user runs, on twelve awkward files.

    .venv/bin/python benchmarks/stress_shapes.py                  # all twelve shapes (about 8 minutes)
    .venv/bin/python benchmarks/stress_shapes.py --only spike     # one shape
    .venv/bin/python benchmarks/stress_shapes.py --keep DIR       # keep each run's project under DIR

Each shape is a seeded, simulated usage CSV (``timestamp, model, requests`` and token
columns) ending 2026-11-30, daily unless noted, written with the level it should be
forecast at (its "reference": requests a day, the level a planner would read off the
history by eye):

- ``sparse``: a steady Sonnet beside an Opus used on one day in five (reference: both
  models' last four weeks);
- ``launch``: a new model adopted ten days before the end while the old one declines
  (reference: the last week, both models);
- ``spike``: a single day at 100 times the usual, three days before the end (a runaway
  script; reference: the last four weeks without that day);
- ``drop``: usage down 80% for the last two weeks (reference: those two weeks);
- ``short``: 21 days of history for a four-month horizon (reference: the 21 days);
- ``bursty_hourly``: six weeks of hours with Pareto-tailed busiest minutes
  (``peak_rpm``, ``peak_itpm``, ``peak_otpm``), a week ahead (reference: the last week);
- ``growth``: 10% a week for the last 13 weeks (reference: the last week; the forecast
  may keep growing, so its range is wider and above);
- ``gaps``: nine days missing from the file and five days of zeros (reference: the last
  four weeks);
- ``trickle``: about one request a day (reference: the last four weeks);
- ``level_up``: usage tripled ten days before the end (a feature went live; reference: the
  last week, the new level);
- ``month_end``: each month's last day at eight times the usual (a month-end batch run;
  reference: the usual day of the last four weeks plus the month-end's seven extra days a
  month);
- ``ended``: a steady Sonnet beside an Opus key that stopped 20 days before the end (a
  rotated key; reference: Sonnet's last four weeks, nothing for the Opus);
- ``business_hours``: five weeks of hours of a service busy 9 hours a weekday (Poisson, 300 an
  hour) and empty every night and weekend, a week ahead (reference: the last week).

Each runs ``kedro run --env usage_csv --params usage_file=...`` in a scratch copy of the
project and prints, per shape: whether it finished; the horizon's requests P50 per day
against the reference, and its P90 over its P50 (``forecast_totals.parquet``, summed
over models); the cost's P50 per day against the last four weeks' (from the report's
summary line); the highest bucket P90 of any series and target over the history's
busiest bucket of it (read, not judged: a growing series may pass its history); and the
capacity plan's consistency (every horizon row's P90 at least every month's). The targets, printed as pass/fail lines: every run finishes; every
P50 within its shape's range of the reference; every P10 <= P50 <= P90 with the P90 at
most 3 times the P50 on the horizon's total, and above it (a total whose P90 is its P50
has no interval); the capacity plan consistent. It asserts nothing.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_traffic import RUN_ENV, copy_project, last_error_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
END = pd.Timestamp("2026-11-30")
SONNET, OPUS, OLD, HAIKU = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-sonnet-4-20250514",
                            "claude-haiku-4-5-20251001")
MAX_P90_OVER_P50 = 3.0


@dataclass
class Shape:
    name: str
    usage: pd.DataFrame
    reference: float                 # requests a day the forecast should sit near
    p50_range: tuple[float, float]   # allowed P50-per-day / reference
    hourly: bool = False


def _frame(rng: np.random.Generator, ds: pd.DatetimeIndex, model: str, requests: np.ndarray) -> pd.DataFrame:
    requests = np.maximum(np.round(requests), 0).astype(int)
    noise = rng.lognormal(0, 0.1, (2, len(ds)))
    return pd.DataFrame({"timestamp": ds.strftime("%Y-%m-%dT%H:%M:%SZ"), "model": model, "requests": requests,
                         "input_tokens": np.round(requests * 900 * noise[0]).astype(int),
                         "output_tokens": np.round(requests * 300 * noise[1]).astype(int),
                         "cache_write_tokens": requests * 200, "cache_read_tokens": requests * 1500})


def _weekly(ds: pd.DatetimeIndex) -> np.ndarray:
    return np.array([1.0, 1.1, 1.1, 1.05, 1.0, 0.45, 0.35])[ds.dayofweek]


def shapes(seed: int = 7) -> list[Shape]:
    """The thirteen files, each with its reference level and allowed P50 range."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(END - pd.Timedelta(days=240), END, freq="D")
    base = 5000 * _weekly(ds) * rng.lognormal(0, 0.15, len(ds))
    out = []

    sparse = (rng.random(len(ds)) < 0.2) * rng.lognormal(3, 1, len(ds))
    usage = pd.concat([_frame(rng, ds, SONNET, base), _frame(rng, ds, OPUS, sparse)], ignore_index=True)
    out.append(Shape("sparse", usage, float((base[-28:] + sparse[-28:]).mean()), (0.75, 1.33)))

    t = np.arange(len(ds))
    launch = len(ds) - 10
    share = np.clip((t - launch) / 7, 0, 1)
    usage = pd.concat([_frame(rng, ds, OLD, base * (1 - 0.9 * share)),
                       _frame(rng, ds[launch:], SONNET, (base * 0.9 * share)[launch:])], ignore_index=True)
    out.append(Shape("launch", usage, float(base[-7:].mean()), (0.75, 1.33)))

    spike = base.copy()
    spike[-4] *= 100
    out.append(Shape("spike", _frame(rng, ds, SONNET, spike), float(np.delete(base[-28:], -4).mean()), (0.75, 1.33)))

    drop = base.copy()
    drop[-14:] *= 0.2
    out.append(Shape("drop", _frame(rng, ds, SONNET, drop), float(drop[-14:].mean()), (0.6, 1.67)))

    out.append(Shape("short", _frame(rng, ds[-21:], SONNET, base[-21:]), float(base[-21:].mean()), (0.75, 1.33)))

    hours = pd.date_range(END - pd.Timedelta(days=42), END, freq="h", inclusive="left")
    cycle = 0.3 + np.sin(np.pi * np.asarray(hours.hour) / 24) ** 2
    hourly = 300 * cycle * _weekly(hours) * rng.lognormal(0, 0.2, len(hours))
    usage = _frame(rng, hours, SONNET, hourly)
    # A busiest minute is part of its hour: at most the hour's own count (ingestion refuses more).
    usage["peak_rpm"] = np.minimum(np.round(hourly / 60 * (1.5 + rng.pareto(1.2, len(hours)))), usage["requests"])
    usage["peak_itpm"] = np.minimum(usage["peak_rpm"] * 1100, usage["input_tokens"] + usage["cache_write_tokens"])
    usage["peak_otpm"] = np.minimum(usage["peak_rpm"] * 300, usage["output_tokens"])
    out.append(Shape("bursty_hourly", usage, float(hourly[-168:].sum() / 7), (0.75, 1.33), hourly=True))

    growth = base * np.where(t > len(ds) - 91, 1.1 ** ((t - (len(ds) - 91)) / 7), 1)
    out.append(Shape("growth", _frame(rng, ds, SONNET, growth), float(growth[-7:].mean()), (0.9, 3.0)))

    keep = np.ones(len(ds), bool)
    keep[150:159] = False
    gaps = base.copy()
    gaps[200:205] = 0
    out.append(Shape("gaps", _frame(rng, ds, SONNET, gaps)[keep], float(gaps[-28:].mean()), (0.75, 1.33)))

    trickle = rng.poisson(1.2, len(ds)).astype(float)
    out.append(Shape("trickle", _frame(rng, ds, HAIKU, trickle), float(trickle[-28:].mean()), (0.5, 2.0)))

    shifted = base * np.where(t >= len(ds) - 10, 3.0, 1.0)
    out.append(Shape("level_up", _frame(rng, ds, SONNET, shifted), float(shifted[-7:].mean()), (0.75, 1.33)))

    month_end = base * np.where(ds.is_month_end, 8.0, 1.0)
    usual = base[~ds.is_month_end][-28:].mean()
    out.append(Shape("month_end", _frame(rng, ds, SONNET, month_end), float(usual * (1 + 7 / 30.4)), (0.9, 1.11)))

    retired = base * 0.6
    usage = pd.concat([_frame(rng, ds, SONNET, base), _frame(rng, ds[:-20], OPUS, retired[:-20])], ignore_index=True)
    out.append(Shape("ended", usage, float(base[-28:].mean()), (0.75, 1.33)))

    busy = (hours.hour >= 13) & (hours.hour < 22) & (hours.dayofweek < 5)
    office = np.where(busy, rng.poisson(300, len(hours)), 0).astype(float)
    out.append(Shape("business_hours", _frame(rng, hours, SONNET, office), float(office[-168:].sum() / 7),
                     (0.9, 1.11), hourly=True))
    return out


def run(shape: Shape, kedro: Path, folder: Path) -> dict:
    """One user run on the shape's file; its figures."""
    copy_project(ROOT, folder)
    usage = folder / "usage.csv"
    shape.usage.to_csv(usage, index=False)
    params = f"usage_file={usage}"
    if shape.hourly:
        params += ",feature_engineering.freq=h,feature_engineering.horizon=168"
    start = time.monotonic()
    done = subprocess.run([str(kedro), "run", "--env", "usage_csv", "--params", params], cwd=folder,
                          env={**os.environ, **RUN_ENV}, capture_output=True, text=True)
    row = {"shape": shape.name, "seconds": time.monotonic() - start, "ok": done.returncode == 0}
    if done.returncode:
        return {**row, "error": last_error_line(done.stdout + done.stderr)}
    totals = pd.read_parquet(folder / "data/07_model_output/forecast_totals.parquet")
    horizon = totals[(totals["period"] == "horizon") & (totals["target"] == "requests")]
    days = float(horizon["buckets"].iloc[0]) / (24 if shape.hourly else 1)
    p10, p50, p90 = (float(horizon[q].sum()) for q in ("p10", "p50", "p90"))
    ordered = bool(((totals["p10"] <= totals["p50"] + 1e-9) & (totals["p50"] <= totals["p90"] + 1e-9)).all())
    capacity = sorted(glob.glob(str(folder / "data/08_reporting/*/capacity_plan.csv")))
    consistent = _capacity_consistent(pd.read_csv(capacity[-1])) if capacity else False
    headline = [line.strip() for line in (done.stdout + done.stderr).splitlines() if "cost (USD" in line]
    return {**row, "p50_per_day": p50 / days, "ratio": p50 / days / shape.reference,
            "p90_over_busiest": _p90_over_busiest(folder),
            "p90_over_p50": p90 / p50 if p50 > 0 else np.inf, "p10_over_p50": p10 / p50 if p50 > 0 else np.nan,
            "ordered": ordered, "capacity_consistent": consistent, "p90_above_p50": p90 > p50 * (1 + 1e-3), "headline": headline[-1] if headline else ""}


def _p90_over_busiest(folder: Path) -> float:
    """The highest bucket P90 of the forecast over the history's busiest bucket, per series and
    target (the targets the pipeline forecast, as it read them); the largest of those ratios."""
    history = pd.read_parquet(folder / "data/04_feature/target_series.parquet")
    forecast = pd.read_parquet(folder / "data/07_model_output/forecast.parquet")
    keys = ["series", "target"]
    busiest = history.astype({k: str for k in keys}).groupby(keys)["y"].max()
    highest = forecast.astype({k: str for k in keys}).groupby(keys)["p90"].max()
    ratio = (highest / busiest.reindex(highest.index)).replace(np.inf, np.nan)
    return float(ratio.max())


def _capacity_consistent(plan: pd.DataFrame) -> bool:
    """Every horizon row's P90 at least every month's P90, per model and metric."""
    months = plan[plan["period"] != "horizon"].groupby(["model_group", "metric"])["p90"].max()
    horizon = plan[plan["period"] == "horizon"].set_index(["model_group", "metric"])["p90"]
    joined = pd.concat([months.rename("month"), horizon.rename("horizon")], axis=1).dropna()
    return bool((joined["horizon"] >= joined["month"] * (1 - 1e-9)).all())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="shape names")
    parser.add_argument("--keep", help="keep each run's project under this folder")
    args = parser.parse_args()
    kedro = Path(sys.executable).parent / "kedro"
    chosen = [s for s in shapes() if not args.only or s.name in args.only]
    print(f"Stress shapes: {len(chosen)} usage files, each through `kedro run --env usage_csv`\n")
    rows = []
    for shape in chosen:
        folder = Path(args.keep) / shape.name if args.keep else Path(tempfile.mkdtemp(prefix=f"stress_{shape.name}_"))
        if args.keep:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        try:
            row = run(shape, kedro, folder)
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
        rows.append({**row, "reference": shape.reference, "low": shape.p50_range[0], "high": shape.p50_range[1]})
        if row["ok"]:
            print(f"  {shape.name}: ok in {row['seconds']:.0f} s; requests P50 {row['p50_per_day']:,.1f} a day, "
                  f"{row['ratio']:.2f} x the reference {shape.reference:,.1f} (allowed {shape.p50_range[0]}-"
                  f"{shape.p50_range[1]}); P90/P50 {row['p90_over_p50']:.2f}, P10/P50 {row['p10_over_p50']:.2f}")
            print(f"    {row['headline']}")
        else:
            print(f"  {shape.name}: FAILED in {row['seconds']:.0f} s: {row['error']}")
    table = pd.DataFrame(rows)
    ok = table[table["ok"]]
    print("\n| shape | P50 a day / reference | allowed | P90 / P50 | P10 / P50 | highest P90 / busiest bucket "
          "| quantiles ordered | capacity consistent |")
    print("|---|---:|---|---:|---:|---:|---|---|")
    for row in ok.itertuples():
        print(f"| {row.shape} | {row.ratio:.2f} | {row.low}-{row.high} | {row.p90_over_p50:.2f} | "
              f"{row.p10_over_p50:.2f} | {row.p90_over_busiest:.2f} | {'yes' if row.ordered else 'NO'} | "
              f"{'yes' if row.capacity_consistent else 'NO'} |")
    inside = ok[(ok["ratio"] >= ok["low"]) & (ok["ratio"] <= ok["high"])]
    checks = [
        (table["ok"].all(), f"every run finished: {int(table['ok'].sum())} of {len(table)}"),
        (len(inside) == len(table), f"P50 within its shape's range of the reference: {len(inside)} of {len(table)}"
         + ("" if len(inside) == len(table) else f" (outside: {', '.join(sorted(set(table['shape']) - set(inside['shape'])))})")),
        (bool(ok["ordered"].all() and (ok["p90_over_p50"] <= MAX_P90_OVER_P50).all() and ok["p90_above_p50"].all()),
         f"P10 <= P50 <= P90 everywhere, horizon P90 at most {MAX_P90_OVER_P50:g}x its P50 and above it: worst "
         f"{ok['p90_over_p50'].max():.2f}, lowest {ok['p90_over_p50'].min():.3f}"),
        (bool(ok["capacity_consistent"].all()), "capacity: each horizon P90 at least every month's"),
    ]
    print()
    for passed, text in checks:
        print(f"[{'PASS' if passed else 'FAIL'}] {text}")


if __name__ == "__main__":
    main()
