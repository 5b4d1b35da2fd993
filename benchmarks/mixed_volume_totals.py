"""Weekly totals of a low-volume model beside a busy one, against the simulator's true mean.

    .venv/bin/python benchmarks/mixed_volume_totals.py            # 3 seeds, about a minute
    .venv/bin/python benchmarks/mixed_volume_totals.py --seeds 5

Each seed simulates six weeks of hourly requests for two models with the same daily and
weekly shape, Poisson around a known rate: ``claude-opus-4-5`` at about 2 requests an
hour (many hours see 0 or 1) and ``claude-sonnet-4-5`` at about 400. The user's command
runs on it in a scratch copy of the project::

    kedro run --env usage_csv --params usage_file=PATH,feature_engineering.freq=h,feature_engineering.horizon=168

and the next week's total per model (``forecast_totals``, period ``horizon``) is set
against the true mean of that week (the sum of the rates) and the simulated actual
total. A sum of hourly medians sits below the mean for the sparse model and not for
the busy one, so a totals correction that is one pooled bias misplaces both. It prints
the P50 over the true mean and whether the actual fell inside P10-P90; it asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_traffic import RUN_ENV, copy_project  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"claude-opus-4-5": 2.0, "claude-sonnet-4-5": 400.0}  # weekday mean requests per hour


def simulate(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six weeks of history (usage CSV rows) and the next week's truth per model."""
    rng = np.random.default_rng(10 + seed)
    ds = pd.date_range("2026-08-03", periods=7 * 168, freq="h")
    shape = np.asarray(1 + 0.8 * np.sin(2 * np.pi * (ds.hour - 9) / 24)) * np.where(ds.dayofweek >= 5, 0.3, 1.0)
    history, truth = [], []
    for model, base in MODELS.items():
        rate = base * shape
        y = rng.poisson(rate)
        history.append(pd.DataFrame({"timestamp": ds[:6 * 168].strftime("%Y-%m-%dT%H:%M:%SZ"), "model": model,
                                     "requests": y[:6 * 168]}))
        truth.append({"series": model, "actual": int(y[6 * 168:].sum()), "mean": float(rate[6 * 168:].sum())})
    return pd.concat(history, ignore_index=True), pd.DataFrame(truth)


def run(history: pd.DataFrame, kedro: Path) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="mixed_volume_") as folder:
        scratch = Path(folder)
        copy_project(ROOT, scratch)
        usage = scratch / "usage.csv"
        history.to_csv(usage, index=False)
        params = f"usage_file={usage},feature_engineering.freq=h,feature_engineering.horizon=168"
        done = subprocess.run([str(kedro), "run", "--env", "usage_csv", "--params", params], cwd=scratch,
                              env={**os.environ, **RUN_ENV}, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"kedro run failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        totals = pd.read_parquet(scratch / "data" / "07_model_output" / "forecast_totals.parquet")
    return totals[(totals["target"] == "requests") & (totals["period"] == "horizon")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--kedro", type=Path, default=ROOT / ".venv" / "bin" / "kedro")
    args = parser.parse_args()
    rows = []
    for seed in range(args.seeds):
        history, truth = simulate(seed)
        totals = run(history, args.kedro).merge(truth, on="series")
        for row in totals.itertuples():
            rows.append({"seed": seed, "series": row.series, "p10": row.p10, "p50": row.p50, "p90": row.p90,
                         "actual": row.actual, "true_mean": row.mean, "p50_over_mean": row.p50 / row.mean,
                         "actual_inside": row.p10 <= row.actual <= row.p90})
        print(f"seed {seed} done", flush=True)
    table = pd.DataFrame(rows)
    print(table.round(3).to_string(index=False))
    summary = table.groupby("series").agg(
        mean_abs_log_error=("p50_over_mean", lambda r: float(np.mean(np.abs(np.log(r))))),
        actual_inside=("actual_inside", "sum"), seeds=("seed", "count"))
    print("\nper model: mean |log(P50 / true mean)| and actual totals inside P10-P90")
    print(summary.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
