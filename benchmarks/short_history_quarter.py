"""A quarter ahead from a short daily history: are the extrapolated intervals calibrated?

    .venv/bin/python benchmarks/short_history_quarter.py              # 13 origins x 2 lengths, about 5 minutes
    .venv/bin/python benchmarks/short_history_quarter.py --origins 4 --jobs 1
    .venv/bin/python benchmarks/short_history_quarter.py --lengths 42 54     # other history lengths

A Console export or the Admin API gives a team weeks to months of daily usage, and the
plan wants a quarter: the backtest windows are then shorter than the horizon, and the
intervals past them are extrapolated (``tokenplan.forecasting.conformal.step_offsets``,
``tokenplan.forecasting.totals``). This measures that rule on real data with a known
future: the daily Wikipedia page views of the R article (``../shared/realdata``; the
benchmark skips cleanly without it), cut to the last 56 or 120 days before origins 100
days apart from 2012-03-01, each forecast 91 days ahead by the user's command::

    kedro run --env usage_csv --params usage_file=PATH,feature_engineering.freq=D,feature_engineering.horizon=91

Per run: the P50's MASE over the days (scaled by the history's weekly seasonal naive
error) beside the weekly seasonal naive's (the last week repeated), the share of days inside P10-P90, the mean log width of that interval, whether
the realised 91-day total fell inside the horizon total's P10-P90 (missing days filled at
the window's mean), the total's log width and the log error of its P50. Then the means
per history length. Nominal coverage is 80% for both. It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_traffic import RUN_ENV, SOURCES, copy_project, data_folder, load_series  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HORIZON = 91
LENGTHS = (56, 120)


def _mase(points: pd.Series, realised: pd.Series, history: pd.Series) -> float:
    """Mean absolute error over the seen days, scaled by the history's weekly seasonal naive error."""
    scale = history.diff(7).abs().mean()
    seen = realised.notna()
    return float((points[seen] - realised[seen]).abs().mean() / scale)


def run(views: pd.Series, origin: pd.Timestamp, length: int, kedro: Path) -> dict:
    history = views[(views.index <= origin) & (views.index > origin - pd.Timedelta(days=length))].dropna()
    actual = views[(views.index > origin) & (views.index <= origin + pd.Timedelta(days=HORIZON))]
    scratch = Path(tempfile.mkdtemp(prefix="short_history_"))
    try:
        copy_project(ROOT, scratch)
        pd.DataFrame({"timestamp": history.index.strftime("%Y-%m-%d"), "model": "claude-sonnet-4-5",
                      "requests": history.to_numpy()}).to_csv(scratch / "usage.csv", index=False)
        params = f"usage_file={scratch / 'usage.csv'},feature_engineering.freq=D,feature_engineering.horizon={HORIZON}"
        done = subprocess.run([str(kedro), "run", "--env", "usage_csv", "--params", params], cwd=scratch,
                              env={**os.environ, **RUN_ENV}, capture_output=True, text=True)
        row = {"origin": origin.date(), "history_days": length}
        if done.returncode:
            return {**row, "error": (done.stdout + done.stderr).strip().splitlines()[-1]}
        outputs = scratch / "data" / "07_model_output"
        forecast = pd.read_parquet(outputs / "forecast.parquet")
        forecast = forecast[forecast["target"] == "requests"]
        forecast.index = pd.DatetimeIndex(forecast["timestamp"]).tz_localize(None)
        totals = pd.read_parquet(outputs / "forecast_totals.parquet")
        total = totals[(totals["target"] == "requests") & (totals["period"] == "horizon")].iloc[0]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    realised = actual.reindex(forecast.index)
    seen = realised.notna()
    last_week = history.reindex(pd.date_range(origin - pd.Timedelta(days=6), origin, freq="D")).to_numpy()
    naive = pd.Series(np.resize(last_week, len(forecast)), index=forecast.index)
    realised_total = actual.mean() * HORIZON
    return {**row, "day_mase": _mase(forecast["p50"], realised, history),
            "naive_mase": _mase(naive, realised, history), "method": str(forecast["method"].iloc[0]),
            "days_inside": float(((realised >= forecast["p10"]) & (realised <= forecast["p90"]))[seen].mean()),
            "day_log_width": float(np.log(forecast["p90"] / forecast["p10"])[seen].mean()),
            "total_inside": bool(total["p10"] <= realised_total <= total["p90"]),
            "total_log_width": float(np.log(total["p90"] / total["p10"])),
            "total_log_error": float(np.log(total["p50"] / realised_total))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", type=int, default=13)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--kedro", type=Path, default=ROOT / ".venv" / "bin" / "kedro")
    parser.add_argument("--data", help="the realdata folder (default: ../shared/realdata)")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS), help="history lengths in days")
    args = parser.parse_args()
    folder = data_folder(args.data)
    if folder is None:
        print("no ../shared/realdata folder: nothing to measure")
        return 0
    views = load_series(next(s for s in SOURCES if s.name == "wikipedia-r"), folder)
    origins = [pd.Timestamp("2012-03-01") + pd.Timedelta(days=100 * k) for k in range(args.origins)]
    tasks = [(origin, length) for origin in origins for length in args.lengths]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda task: run(views, *task, args.kedro), tasks))
    table = pd.DataFrame(rows)
    print(table.round(3).to_string(index=False))
    if "days_inside" in table:
        summary = table.groupby("history_days").agg(
            runs=("days_inside", "count"), day_mase=("day_mase", "mean"), naive_mase=("naive_mase", "mean"),
            days_inside=("days_inside", "mean"), day_log_width=("day_log_width", "mean"),
            totals_inside=("total_inside", "mean"), total_log_width=("total_log_width", "mean"),
            total_abs_log_error=("total_log_error", lambda e: float(np.mean(np.abs(e)))))
        print("\nper history length (nominal coverage 80%):")
        print(summary.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
