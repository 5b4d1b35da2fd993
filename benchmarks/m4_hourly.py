"""M4 hourly, the public yardstick: the pipeline a user runs, on all 414 series at once.

    .venv/bin/python benchmarks/m4_hourly.py                   # the validation protocol (one kedro run)
    .venv/bin/python benchmarks/m4_hourly.py --series 40       # the first 40 series, a quick check
    .venv/bin/python benchmarks/m4_hourly.py --baselines       # also statsforecast MSTL(24, 168) on the same windows
    .venv/bin/python benchmarks/m4_hourly.py --csv rows.csv    # per-series scores
    .venv/bin/python benchmarks/m4_hourly.py --earlier 48      # a second window, 48 hours before the first
    .venv/bin/python benchmarks/m4_hourly.py --history 336     # short histories: only each series' last 14 days
    .venv/bin/python benchmarks/m4_hourly.py --daily --baselines  # day totals: 3-5 weeks of days, a week ahead
    .venv/bin/python benchmarks/m4_hourly.py --horizon 168 --baselines  # a week ahead, histories of 22 and 33 days

Data: ``../shared/m4/Hourly-train.csv``, the M4 competition's hourly training file (414
series of 700 or 960 values; read its README). The benchmark skips cleanly when the
folder is absent. The official test file judges the method and is never read here: for
development the last 48 values of each training series are held out and forecast from
the rest. ``--earlier K`` drops each series' last ``K`` values first, so the window forecast
lies ``K`` hours before the validation window: a window the method was never developed
on, to check that figures measured on the validation window are not tuned to it.
``--history N`` gives the run only the last ``N`` hours before the window (short histories
on 414 series the short-history rules were not developed on); with fewer than two weeks
the baselines use the daily season only (MSTL(24), XGBoost with lag 24). ``--daily``
checks the shape of a Console export instead: each series cut into 24-hour blocks ending
at its last value and summed (700 hours give 29 days, 960 give 40), the last 7 days
held out and forecast from the 22 or 33 before them (``freq=D``, ``horizon=7``); the
MASE is scaled by the lag-7 naive, the seasonal naive repeats the last week, MSTL has
the weekly season alone and the XGBoost lags 1-3 and 7 with the weekday. ``--horizon H``
holds out the last ``H`` values instead of 48 (168: a week ahead, a protocol the method was
not developed on; the 700-value series then have 22 days of history beside the 960-value
ones' 33, in one file); from 168 on the scores add the weekly naive (the last week
repeated) and each history length's mean MASE.

Protocol: every series is a workspace of one model (``ingestion.series_dimensions:
[workspace]``) in one usage CSV (``timestamp, model, workspace, requests``); M4 gives
no dates, so all series end at the same hour (2026-10-31 23:00 UTC) and no public
holidays are assumed (``feature_engineering.holiday_country: null``: the dates are
arbitrary). Then, in a scratch copy of the project::

    kedro run --env usage_csv --params usage_file=PATH,feature_engineering.freq=h,feature_engineering.horizon=48

Scores, as M4 defines them: MASE per series is the MAE of the P50 over the 48 held-out
hours divided by the in-sample MAE of the lag-24 naive on the history given to the run;
the table's MASE is the mean over series. Beside it, on the same windows, the seasonal
naive (the last 24 hours repeated), and with ``--baselines`` statsforecast's
MSTL(24, 168) on log1p with an AutoETS trend (two cores), a plain mlforecast XGBoost per
series (as ``real_traffic.py`` fits it) and the per-step median of the seasonal naive,
MSTL and that XGBoost. Also the share of held-out
values inside P10-P90, the run's wall time and its peak memory (resident memory of the
run's whole process tree, sampled every half second). It asserts nothing; the targets
are printed as pass/fail lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_traffic import RUN_ENV, copy_project, last_error_line, summarise_totals, xgboost_points  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_CANDIDATES = [ROOT.parent / "shared" / "m4", ROOT.parent.parent / "shared" / "m4"]
END = pd.Timestamp("2026-10-31 23:00")
MODEL_ID = "claude-sonnet-4-5"
# Published MASE on the official M4 hourly test (Evaluation and Ranks.xlsx), for context.
PUBLISHED = {"best submission": 0.801, "FFORMA": 0.819, "ES-RNN (winner)": 0.893, "seasonal naive": 1.193}
TARGET_MASE, TARGET_NAIVE_RATIO, TARGET_COVERAGE = 0.85, 0.75, (0.76, 0.84)
PARAMETERS = """\
ingestion:
  series_dimensions: [workspace]
feature_engineering:
  holiday_country: null
"""


@dataclass(frozen=True)
class Protocol:
    """What is forecast: the frequency, the window held out, the season of the naive (and of the MASE
    scale) and the longer season the baselines add once the history holds two of it (0: none)."""

    freq: str
    horizon: int
    season: int
    long_season: int

    def weekly(self, histories: dict[str, np.ndarray]) -> bool:
        """Whether every history holds two long seasons, so the baselines can use it."""
        return self.long_season > 0 and min(len(v) for v in histories.values()) >= 2 * self.long_season

    def stamps(self, periods: int) -> pd.DatetimeIndex:
        return pd.date_range(end=END.floor("D") if self.freq == "D" else END, periods=periods, freq=self.freq)


HOURLY = Protocol("h", 48, 24, 168)
DAILY = Protocol("D", 7, 7, 0)


def day_totals(values: np.ndarray) -> np.ndarray:
    """An hourly series cut into 24-hour blocks ending at its last value, summed (a leading part dropped)."""
    return values[len(values) % 24:].reshape(-1, 24).sum(axis=1)


def load_training(folder: Path, limit: int | None) -> dict[str, np.ndarray]:
    """Series id -> values (oldest first) from the training file."""
    wide = pd.read_csv(folder / "Hourly-train.csv", index_col=0)
    if limit:
        wide = wide.iloc[:limit]
    return {name: row.dropna().to_numpy(dtype=float) for name, row in wide.iterrows()}


def usage_table(histories: dict[str, np.ndarray], protocol: Protocol) -> pd.DataFrame:
    """The usage CSV: every series a workspace, all ending at ``END`` (its day, for day totals)."""
    frames = []
    stamp_format = "%Y-%m-%d" if protocol.freq == "D" else "%Y-%m-%d %H:%M:%S"
    for name, values in histories.items():
        stamps = protocol.stamps(len(values))
        frames.append(pd.DataFrame({"timestamp": stamps.strftime(stamp_format), "model": MODEL_ID,
                                    "workspace": name, "requests": values}))
    return pd.concat(frames, ignore_index=True)


class PeakMemory:
    """Peak resident memory (bytes) of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.interval)


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants, read from /proc (Linux)."""
    parents, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except OSError:
            continue
        parents[int(entry.name)] = int(fields["PPid"])
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    family, frontier = {pid}, [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier and child not in family]
        family.update(children)
        frontier = children
    return sum(rss.get(member, 0) for member in family)


def run_pipeline(usage: pd.DataFrame, protocol: Protocol, keep: bool) -> dict:
    """One ``kedro run`` on the usage table: status, seconds, peak memory, the forecast."""
    scratch = Path(tempfile.mkdtemp(prefix="m4_hourly_"))
    try:
        copy_project(ROOT, scratch)
        (scratch / "conf" / "usage_csv" / "parameters.yml").write_text(PARAMETERS)
        path = scratch / "usage.csv"
        usage.to_csv(path, index=False)
        params = (f"usage_file={path},feature_engineering.freq={protocol.freq},"
                  f"feature_engineering.horizon={protocol.horizon}")
        command = [str(ROOT / ".venv" / "bin" / "kedro"), "run", "--env", "usage_csv", "--params", params]
        log = scratch / "run.log"
        started = time.monotonic()
        with open(log, "w") as out:
            process = subprocess.Popen(command, cwd=scratch, env={**os.environ, **RUN_ENV}, stdout=out,
                                       stderr=subprocess.STDOUT, text=True)
            with PeakMemory(process.pid) as memory:
                code = process.wait()
        seconds = time.monotonic() - started
        result = {"seconds": seconds, "peak_bytes": memory.peak}
        if code != 0:
            return {**result, "status": "refused", "error": last_error_line(log.read_text())}
        forecast = pd.read_parquet(scratch / "data" / "07_model_output" / "forecast.parquet")
        totals = pd.read_parquet(scratch / "data" / "07_model_output" / "forecast_totals.parquet")
        totals = totals[(totals["target"] == "requests") & (totals["period"] == "horizon")]
        reports = sorted((scratch / "data" / "08_reporting").glob("*/report.html"))
        return {**result, "status": "ok", "forecast": forecast[forecast["target"] == "requests"],
                "totals": totals.assign(workspace=totals["series"].astype(str).str.split("/").str[-1]),
                "report_bytes": reports[-1].stat().st_size if reports else 0}
    finally:
        if keep:
            print(f"(scratch kept: {scratch})")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def naive_scale(history: np.ndarray, protocol: Protocol) -> float:
    """M4's MASE denominator: in-sample MAE of the seasonal naive (lag 24; lag 7 for day totals)."""
    lag = protocol.season
    return float(np.mean(np.abs(history[lag:] - history[:-lag])))


def seasonal_naive(history: np.ndarray, protocol: Protocol) -> np.ndarray:
    return np.resize(history[-protocol.season:], protocol.horizon)


def mstl_baseline(histories: dict[str, np.ndarray], protocol: Protocol) -> dict[str, np.ndarray]:
    """statsforecast MSTL(24, 168) (24 alone under two weeks; 7 for day totals) on log1p with an AutoETS
    trend: the window's P50 values."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    frame = pd.concat([pd.DataFrame({"unique_id": name, "ds": protocol.stamps(len(v)),
                                     "y": np.log1p(np.clip(v, 0, None))}) for name, v in histories.items()])
    seasons = [protocol.season, protocol.long_season] if protocol.weekly(histories) else [protocol.season]
    model = MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN"), alias="mstl")
    out = StatsForecast(models=[model], freq=protocol.freq, n_jobs=2).forecast(df=frame, h=protocol.horizon)
    return {name: np.expm1(group["mstl"].to_numpy()) for name, group in out.groupby("unique_id")}


def xgboost_baseline(histories: dict[str, np.ndarray], protocol: Protocol) -> dict[str, np.ndarray]:
    """A plain mlforecast XGBoost per series (lags 1-3, 24 and 168, hour and weekday; for day totals lags
    1-3 and 7, weekday): the window's P50 values."""
    out = {}
    season = protocol.long_season if protocol.weekly(histories) else protocol.season
    for name, values in histories.items():
        frame = pd.DataFrame({"unique_id": name, "ds": protocol.stamps(len(values)), "y": values})
        out[name] = np.clip(xgboost_points(frame, protocol.freq, season, protocol.horizon), 0, None)
    return out


def interval_score(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, alpha: float) -> float:
    """The mean interval (Winkler) score of a central ``1 - alpha`` interval: its width plus ``2 / alpha`` times
    how far each value falls outside it. Lower is better; divided by the naive scale it is M4's MSIS (there at
    95%, here at the P10-P90's 80%): coverage alone rewards an interval as wide at a steady hour as a noisy one."""
    below, above = np.maximum(lower - actual, 0), np.maximum(actual - upper, 0)
    return float(np.mean(upper - lower + 2 / alpha * (below + above)))


def score(histories: dict[str, np.ndarray], actuals: dict[str, np.ndarray], run: dict | None,
          mstl: dict[str, np.ndarray] | None, xgb: dict[str, np.ndarray] | None, protocol: Protocol) -> pd.DataFrame:
    """Per series: MASE of each method (and the pipeline's coverage and chosen method)."""
    forecasts, totals = {}, {}
    if run is not None and run["status"] == "ok":
        table = run["forecast"].sort_values("timestamp")
        table = table.assign(workspace=table["series"].astype(str).str.split("/").str[-1])
        forecasts = {name: group for name, group in table.groupby("workspace")}
        totals = run["totals"].set_index("workspace")[["p10", "p50", "p90"]].to_dict("index")
    rows = []
    for name, history in histories.items():
        actual, scale = actuals[name], naive_scale(history, protocol)
        naive = seasonal_naive(history, protocol)
        row = {"series": name, "length": len(history), "scale": scale, "actual_total": float(actual.sum()),
               "naive_mase": float(np.mean(np.abs(actual - naive))) / scale, "naive_sum": float(naive.sum())}
        if mstl is not None:
            row["mstl_mase"] = float(np.mean(np.abs(actual - mstl[name]))) / scale
        if mstl is not None and xgb is not None:
            row["xgb_mase"] = float(np.mean(np.abs(actual - xgb[name]))) / scale
            median = np.median(np.vstack([naive, mstl[name], xgb[name]]), axis=0)
            row["median3_mase"] = float(np.mean(np.abs(actual - median))) / scale
            row["median3_sum"] = float(median.sum())
        if protocol.horizon >= protocol.long_season > 0:
            week = np.resize(history[-protocol.long_season:], protocol.horizon)
            row["week_naive_mase"] = float(np.mean(np.abs(actual - week))) / scale
        group = forecasts.get(name)
        if group is not None and len(group) == protocol.horizon:
            row["pipeline_mase"] = float(np.mean(np.abs(actual - group["p50"].to_numpy()))) / scale
            lower, upper = group["p10"].to_numpy(), group["p90"].to_numpy()
            row["coverage"] = float(np.mean((actual >= lower) & (actual <= upper)))
            row["msis80"] = interval_score(actual, lower, upper, 0.2) / scale
            row["method"] = str(group["method"].iloc[0]) if "method" in group else "?"
            row.update(pipeline_status="ok", pipeline_sum=float(group["p50"].sum()),
                       **{f"total_{k}": v for k, v in totals.get(name, {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, help="only the first N series (a quick check, not the protocol)")
    parser.add_argument("--baselines", action="store_true",
                        help="also MSTL(24, 168), XGBoost and their median with the naive (a few min)")
    parser.add_argument("--no-pipeline", action="store_true", help="baselines only, no kedro run")
    parser.add_argument("--csv", help="write the per-series rows here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch project")
    parser.add_argument("--earlier", type=int, default=0, metavar="K",
                        help="drop each series' last K values first: a window K hours before the validation's")
    parser.add_argument("--history", type=int, metavar="N",
                        help="give the run only each series' last N hours before the window (short histories)")
    parser.add_argument("--daily", action="store_true",
                        help="day totals: each series summed to 24-hour blocks, the last 7 held out (3-5 weeks of "
                             "days, a week ahead)")
    parser.add_argument("--horizon", type=int, default=HOURLY.horizon, metavar="H",
                        help="hold out the last H hours (default 48; 168: a week ahead)")
    parser.add_argument("--data", help="folder with Hourly-train.csv (default ../shared/m4)")
    args = parser.parse_args()
    folder = next((f for f in ([Path(args.data)] if args.data else DATA_CANDIDATES) if f.is_dir()), None)
    if folder is None:
        print("skipped: no ../shared/m4 folder with Hourly-train.csv")
        return 0
    series = load_training(folder, args.series)
    if args.earlier:
        series = {name: values[:-args.earlier] for name, values in series.items()}
    protocol = DAILY if args.daily else replace(HOURLY, horizon=args.horizon)
    if args.daily:
        series = {name: day_totals(values) for name, values in series.items()}
    histories = {name: values[:-protocol.horizon][-(args.history or 0):] for name, values in series.items()}
    actuals = {name: values[-protocol.horizon:] for name, values in series.items()}
    print(f"M4 hourly validation{' summed to days' if args.daily else ''}: {len(series)} series, "
          f"last {protocol.horizon} values of each held out"
          + (f", after dropping the last {args.earlier}" if args.earlier else "")
          + (f", {args.history} hours of history each" if args.history else ""))
    run = None
    if not args.no_pipeline:
        run = run_pipeline(usage_table(histories, protocol), protocol, args.keep)
        print(f"kedro run: {run['status']} in {run['seconds']:.0f} s wall "
              f"({run['seconds'] / 60:.1f} min), peak memory {run['peak_bytes'] / 2**30:.2f} GB"
              + (f", report.html {run.get('report_bytes', 0) / 2**20:.1f} MB" if run["status"] == "ok" else ""))
        if run["status"] != "ok":
            print(f"  error: {run['error']}")
    mstl = xgb = None
    if args.baselines:
        started = time.monotonic()
        mstl = mstl_baseline(histories, protocol)
        print(f"MSTL baseline fitted in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        xgb = xgboost_baseline(histories, protocol)
        print(f"XGBoost baseline fitted in {time.monotonic() - started:.0f} s")
    rows = score(histories, actuals, run, mstl, xgb, protocol)
    if args.csv:
        rows.to_csv(args.csv, index=False)
    print("\n| method | MASE (mean over series) | P10-P90 coverage |\n|---|---|---|")
    naive = rows["naive_mase"].mean()
    if "pipeline_mase" in rows:
        scored = rows["pipeline_mase"].notna().sum()
        print(f"| tokenplan ({scored} of {len(rows)} series) | {rows['pipeline_mase'].mean():.3f} | "
              f"{rows['coverage'].mean():.1%} (scaled interval score {rows['msis80'].mean():.3f}) |")
    print(f"| seasonal naive (lag {protocol.season}) | {naive:.3f} | - |")
    if "week_naive_mase" in rows:
        print(f"| the last week repeated | {rows['week_naive_mase'].mean():.3f} | - |")
    if mstl is not None:
        if args.daily:
            seasons, lags = "7", "1-3, 7"
        else:
            seasons, lags = ("24, 168", "1-3, 24, 168") if protocol.weekly(histories) else ("24", "1-3, 24")
        print(f"| statsforecast MSTL({seasons}), AutoETS trend | {rows['mstl_mase'].mean():.3f} | - |")
        print(f"| mlforecast XGBoost (lags {lags}) | {rows['xgb_mase'].mean():.3f} | - |")
        print(f"| median of the seasonal naive, MSTL and XGBoost | {rows['median3_mase'].mean():.3f} | - |")
    print("\nPublished, on the official test (not this validation): "
          + ", ".join(f"{name} {value:.3f}" for name, value in PUBLISHED.items()))
    if "pipeline_mase" in rows:
        print("methods chosen: " + ", ".join(f"{m} ({n})" for m, n in rows["method"].value_counts().items()))
        if rows["length"].nunique() > 1:
            columns = [c for c in ("pipeline_mase", "naive_mase", "week_naive_mase", "mstl_mase", "median3_mase")
                       if c in rows]
            by_length = rows.groupby("length")[columns].mean()
            print("mean MASE by history length (hours): " + "; ".join(
                f"{length} ({(rows['length'] == length).sum()} series): "
                + ", ".join(f"{c.removesuffix('_mase')} {v:.3f}" for c, v in values.items())
                for length, values in by_length.iterrows()))
        summarise_totals(rows)
        mase, coverage = rows["pipeline_mase"].mean(), rows["coverage"].mean()
        checks = [(mase <= TARGET_MASE, f"MASE {mase:.3f} <= {TARGET_MASE}"),
                  (mase <= TARGET_NAIVE_RATIO * naive,
                   f"MASE {mase:.3f} <= {TARGET_NAIVE_RATIO} x the seasonal naive's {naive:.3f} "
                   f"(= {TARGET_NAIVE_RATIO * naive:.3f}; ratio {mase / naive:.3f})"),
                  (TARGET_COVERAGE[0] <= coverage <= TARGET_COVERAGE[1],
                   f"coverage {coverage:.1%} within {TARGET_COVERAGE[0]:.0%}-{TARGET_COVERAGE[1]:.0%}"),
                  (run["seconds"] < 20 * 60, f"wall {run['seconds'] / 60:.1f} min < 20 min"),
                  (run["peak_bytes"] < 8 * 2**30, f"peak memory {run['peak_bytes'] / 2**30:.2f} GB < 8 GB")]
        for passed, text in checks:
            print(f"[{'PASS' if passed else 'FAIL'}] {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
