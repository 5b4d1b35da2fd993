"""Accuracy on real traffic: the pipeline a user runs, against simple baselines.

    .venv/bin/python benchmarks/real_traffic.py                          # everything (about 20 kedro runs)
    .venv/bin/python benchmarks/real_traffic.py --only elb --origins 1   # a quick check
    .venv/bin/python benchmarks/real_traffic.py --baselines-only         # no kedro runs
    .venv/bin/python benchmarks/real_traffic.py --csv rows.csv           # also save per-(series, origin) rows
    .venv/bin/python benchmarks/real_traffic.py --only wikipedia-r --tile 10   # more windows (not the protocol)
    .venv/bin/python benchmarks/real_traffic.py --short 6              # 6 days of hours, 24 h ahead (not the protocol)
    .venv/bin/python benchmarks/real_traffic.py --daily 28             # 4 weeks of day totals, a week ahead (not the protocol)

Series (``../shared/realdata``; the benchmark skips cleanly when the folder is absent):
the four Twitter mention volumes and the AWS ELB request count (5-minute counts summed
to hours), Taylor's half-hourly electricity demand summed to hours, and the daily
Wikipedia page views of the R article (``exp(y)``; its missing days stay missing).

Origins tile the end of each series: the last origin leaves exactly one horizon of
actuals at the end of the file, each earlier origin sits one horizon earlier. Hourly
series of four weeks or more: 168 h ahead from 3 origins; the two-week ELB count: 24 h
ahead from 2 origins; the daily series: 91 days ahead from 3 origins. Each origin sees
only the buckets up to it (the file is cut at the origin).

For each (series, origin) the history is written as a usage CSV (``timestamp, model,
requests``) and the user's command runs in a scratch copy of the project (``conf``,
``src``, ``pyproject.toml``, ``.telemetry`` and an empty ``data/`` tree)::

    kedro run --env usage_csv --params usage_file=PATH,feature_engineering.freq=h|D,feature_engineering.horizon=N

timed in wall seconds. A run that fails is "refused", with the last error line. Its
``forecast.parquet`` (target ``requests``) is scored against the held-out actuals.
Beside it, on the same windows, statsforecast baselines fitted directly on the same
history (gaps filled by linear interpolation, for them only): the seasonal naive, MSTL
on log1p with an AutoETS (``ZZN``) trend, and AutoETS on the raw series, both with
statsforecast's own 80% intervals; an mlforecast XGBoost (default ``XGBRegressor`` on
lags 1-3 and one season, hour and weekday features, recursive); and the per-step
median of the seasonal naive, MSTL and that XGBoost ("median of three": three things
anyone can run, and the yardstick the method is judged against on series it never saw).

``--short DAYS`` checks the regime of a new user's first export instead: each hourly
series cut to its last ``DAYS`` days before origins 8, 4 and 1 days from its end, 24 h
ahead, the daily season (lag 24) for the MASE scale and the baselines.

``--daily DAYS`` checks the shape of a Console export (day totals, weeks of them): each
series summed to days (a day with any hour missing is missing), cut to its last ``DAYS``
days before origins 21, 14 and 7 days from its end, 7 days ahead, the weekly season
(lag 7) for the MASE scale and the baselines; a window with under 14 days of history is
skipped (the two-week ELB count).

Metrics per series, averaged over its origins: P50 MASE, scaled by the in-sample
seasonal-naive MAE of the origin's history at lag 168 (24 for ELB, 7 for daily); the
share of actuals inside P10-P90 (80% coverage); seconds per run. Then the geometric
mean of MASE over series per method, the per-series best baseline (an oracle nobody
has), the pipeline against the median of three, and the targets as pass/fail lines. It
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# ../shared from the main checkout; ../../shared from a worktree under wt/.
DATA_CANDIDATES = [ROOT.parent / "shared" / "realdata", ROOT.parent.parent / "shared" / "realdata"]
MODEL_ID = "claude-sonnet-4-5"
LAYERS = ["01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
          "07_model_output", "08_reporting"]
# COLUMNS: rich would otherwise wrap the error message at 80 characters.
RUN_ENV = {"KEDRO_DISABLE_TELEMETRY": "1", "OMP_WAIT_POLICY": "PASSIVE", "MPLBACKEND": "Agg", "COLUMNS": "200"}
# The targets.
MAX_SECONDS = 60.0
COVERAGE_RANGE = (0.70, 0.90)
NAIVE_MARGIN = 0.15
# --short: origins this many days before each series' end.
SHORT_DAYS_BACK = (8, 4, 1)
# --daily: origins this many days before each series' end, a week ahead; at least this much history.
DAILY_DAYS_BACK = (21, 14, 7)
DAILY_MIN_DAYS = 14


@dataclass(frozen=True)
class Source:
    """One real series and the protocol it is forecast with."""

    name: str
    file: str
    kind: str            # "5min" (summed to hours), "30min" (summed to hours) or "daily_log"
    freq: str            # forecast frequency: "h" or "D"
    horizon: int         # steps ahead
    origins: int         # origins tiling the end of the series
    season: int          # seasonal-naive lag: MASE scale, naive baseline, AutoETS season
    mstl_seasons: tuple[int, ...]


SOURCES = [
    *(Source(f"twitter-{ticker.lower()}", f"twitter_volume_{ticker}.csv", "5min", "h", 168, 3, 168, (24, 168))
      for ticker in ("AAPL", "AMZN", "FB", "GOOG")),
    Source("elb", "elb_request_count_8c0756.csv", "5min", "h", 24, 2, 24, (24,)),
    Source("taylor", "taylor_halfhourly.csv", "30min", "h", 168, 3, 168, (24, 168)),
    Source("wikipedia-r", "wikipedia_R_daily_log.csv", "daily_log", "D", 91, 3, 7, (7,)),
]


def load_series(source: Source, folder: Path) -> pd.Series:
    """The source as counts on a complete grid of its forecast frequency (NaN = missing bucket).

    5- and 30-minute values are summed to hours, as a user's hourly export would be.
    The file's first and last hours, where it starts or ends mid-hour, are dropped (a
    partial hour is a low count, not a real one); an interior hour with no value at all
    is missing; an interior hour missing a sub-bucket keeps its sum (8 hours of ELB miss
    one 5-minute value). Daily log views become ``exp(y)`` rounded to counts.
    """
    raw = pd.read_csv(folder / source.file)
    time_column, value_column = raw.columns[0], raw.columns[1]
    stamps = pd.to_datetime(raw[time_column])
    values = pd.Series(raw[value_column].astype(float).to_numpy(), index=stamps).sort_index()
    if source.kind == "daily_log":
        daily = np.exp(values).round()
        daily = daily[~daily.index.duplicated()]
        grid = pd.date_range(daily.index.min().floor("D"), daily.index.max().floor("D"), freq="D")
        return daily.reindex(grid).rename(source.name)
    per_hour = {"5min": 12, "30min": 2}[source.kind]
    grouped = values.resample("h")
    counts = grouped.count()
    hourly = grouped.sum().where(counts > 0)
    complete = counts.index[counts == per_hour]
    return hourly.loc[complete.min():complete.max()].rename(source.name)


def origins_for(series: pd.Series, source: Source, count: int) -> list[pd.Timestamp]:
    """Origins tiling the end of the series: the last leaves exactly one horizon of actuals."""
    step = pd.Timedelta(1, unit=source.freq.lower())
    end = series.index.max()
    return [end - k * source.horizon * step for k in range(count, 0, -1)]


def day_totals(series: pd.Series) -> pd.Series:
    """An hourly series summed to days; a day with any hour missing (or outside the file) is missing."""
    full = series.reindex(pd.date_range(series.index.min().floor("D"), series.index.max().ceil("D"), freq="h",
                                        inclusive="left"))
    days = full.resample("D").sum(min_count=24)
    observed = days.dropna()
    return days.loc[observed.index.min():observed.index.max()].rename(series.name)


def daily_tasks(source: Source, series: pd.Series, days: int) -> list[tuple]:
    """``--daily``: (source, history and window, origin) per origin, the series summed to days."""
    daily = series if source.freq == "D" else day_totals(series)
    source = replace(source, freq="D", horizon=7, season=7, mstl_seasons=(7,))
    tasks = []
    for back in DAILY_DAYS_BACK:
        origin = daily.index.max() - pd.Timedelta(days=back)
        window = daily[(daily.index > origin - pd.Timedelta(days=days)) & (daily.index <= origin + pd.Timedelta(days=7))]
        if (window.index <= origin).sum() < DAILY_MIN_DAYS:
            print(f"{source.name} @ {origin.date()}: under {DAILY_MIN_DAYS} days of history, skipped")
            continue
        tasks.append((source, window, origin))
    print(f"{source.name}: day totals, the last {days} days before each of {len(tasks)} origins, 7 days ahead")
    return tasks


def seasonal_scale(history: pd.Series, lag: int) -> float:
    """In-sample seasonal-naive MAE at ``lag`` on the history's grid (pairs with a gap skipped)."""
    y = history.to_numpy()
    return float(np.nanmean(np.abs(y[lag:] - y[:-lag])))


def score(actual: pd.Series, p50: pd.Series, scale: float, lo: pd.Series, hi: pd.Series) -> dict[str, float]:
    """MASE of ``p50`` and coverage of ``[lo, hi]`` over the observed actuals it predicts."""
    frame = pd.DataFrame({"y": actual, "p50": p50, "lo": lo, "hi": hi}).dropna(subset=["y", "p50"])
    if frame.empty:
        return {"mase": np.nan, "coverage": np.nan, "scored": 0}
    inside = (frame["y"] >= frame["lo"]) & (frame["y"] <= frame["hi"])
    return {"mase": float(np.mean(np.abs(frame["y"] - frame["p50"])) / scale),
            "coverage": float(inside.mean()), "scored": len(frame)}


def xgboost_points(frame: pd.DataFrame, freq: str, season: int, horizon: int) -> np.ndarray:
    """A plain mlforecast XGBoost on one series (``unique_id, ds, y``): default ``XGBRegressor``, lags
    1-3 and one season, hour and weekday features, forecasting recursively."""
    from mlforecast import MLForecast
    from xgboost import XGBRegressor

    hourly = freq == "h"
    lags = sorted({1, 2, 3, season} | ({24} if hourly else set()))
    model = MLForecast(models={"xgb": XGBRegressor(n_jobs=2, random_state=0)}, freq=freq, lags=lags,
                       date_features=["hour", "dayofweek"] if hourly else ["dayofweek"])
    model.fit(frame, static_features=[])
    return model.predict(horizon)["xgb"].to_numpy()


def baselines(history: pd.Series, source: Source) -> dict[str, pd.DataFrame]:
    """Seasonal naive, MSTL (log1p, AutoETS trend), AutoETS, an mlforecast XGBoost and the median of
    naive, MSTL and XGBoost: ``p50, lo, hi`` by timestamp (no interval for the last two)."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS, SeasonalNaive

    # statsforecast ignores gaps silently, which misaligns the seasons: interpolate first.
    filled = history.interpolate(limit_direction="both")
    frame = pd.DataFrame({"unique_id": source.name, "ds": filled.index, "y": filled.to_numpy()})
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = StatsForecast(models=[SeasonalNaive(season_length=source.season, alias="naive"),
                                    AutoETS(season_length=source.season, alias="ets")],
                            freq=source.freq, n_jobs=1).forecast(df=frame, h=source.horizon, level=[80])
        mstl = MSTL(season_length=list(source.mstl_seasons), trend_forecaster=AutoETS(model="ZZN"), alias="mstl")
        logged = StatsForecast(models=[mstl], freq=source.freq, n_jobs=1).forecast(
            df=frame.assign(y=np.log1p(frame["y"])), h=source.horizon, level=[80])
    for name, table, back in (("naive", raw, None), ("ets", raw, None), ("mstl", logged, np.expm1)):
        columns = {"p50": name, "lo": f"{name}-lo-80", "hi": f"{name}-hi-80"}
        result = pd.DataFrame({key: table[column].to_numpy() for key, column in columns.items()},
                              index=pd.DatetimeIndex(table["ds"]))
        out[name] = (back(result) if back else result).clip(lower=0)
    index = out["naive"].index
    xgb = np.clip(xgboost_points(frame, source.freq, source.season, source.horizon), 0, None)
    median = np.median(np.vstack([out["naive"]["p50"], out["mstl"]["p50"], xgb]), axis=0)
    for name, points in (("xgb", xgb), ("median3", median)):
        out[name] = pd.DataFrame({"p50": points, "lo": np.nan, "hi": np.nan}, index=index)
    return out


def copy_project(project: Path, scratch: Path) -> None:
    """The files ``kedro run`` needs, with an empty data tree (the developer's data/ stays untouched)."""
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("conf", "src"):
        shutil.copytree(project / folder, scratch / folder, ignore=skip)
    for name in ("pyproject.toml", ".telemetry"):
        if (project / name).exists():
            shutil.copy(project / name, scratch / name)
    for layer in LAYERS:
        (scratch / "data" / layer).mkdir(parents=True)


def last_error_line(output: str) -> str:
    """The run's final exception message on one line, else its last non-empty line.

    The message is the last line that starts with ``SomethingError:`` outside rich's
    traceback box, joined with the lines that continue it (rich wraps long messages).
    """
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"[A-Za-z_.]*(?:Error|Exception|Exit)\b", line)]
    if starts:
        message = []
        for line in lines[starts[-1]:]:
            if not line.strip():
                break
            message.append(line.strip())
        text = " ".join(message)
    else:
        text = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
    return re.sub(r"\s+", " ", text)[:400]


def chosen_method(data: Path, forecast: pd.DataFrame) -> str:
    """The method the run says it chose for ``requests``, from its outputs; ``?`` when none says.

    Looks for a ``method`` / ``model_selection`` column in the forecast, then for a
    table in ``data/06_models`` or ``data/07_model_output`` with a ``chosen_method``
    column or a ``method`` column flagged by ``chosen`` / ``selected``, then for
    method-like keys in their JSON files. A table that only lists every candidate (the
    backtest metrics) is not a choice.
    """
    def values_of(table: pd.DataFrame, column: str) -> str:
        if "target" in table.columns:
            table = table[table["target"] == "requests"]
        return "/".join(sorted(table[column].dropna().astype(str).unique()))

    for column in ("method", "chosen_method", "selected_method", "model_selection"):
        if column in forecast.columns:
            return values_of(forecast, column) or "?"
    for layer in ("06_models", "07_model_output"):
        for file in sorted((data / layer).glob("*.*")):
            if file.suffix not in (".csv", ".parquet"):
                continue
            table = pd.read_csv(file) if file.suffix == ".csv" else pd.read_parquet(file)
            for column in ("chosen_method", "selected_method"):
                if column in table.columns:
                    return values_of(table, column) or "?"
            flag = next((c for c in ("chosen", "selected") if c in table.columns), None)
            if flag and "method" in table.columns:
                return values_of(table[table[flag].astype(bool)], "method") or "?"
    found: list[tuple[str, str]] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("method", "chosen_method", "selected_method", "chosen", "selected") \
                        and isinstance(value, str):
                    found.append((f"{path}/{key}", value))
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    for layer in ("06_models", "07_model_output"):
        for file in sorted((data / layer).glob("*.json")):
            try:
                walk(json.loads(file.read_text()), file.name)
            except (OSError, ValueError):
                continue
    about_requests = [value for path, value in found if "requests" in path]
    values = sorted(set(about_requests or [value for _, value in found]))
    return "/".join(values) if values else "?"


def run_pipeline(history: pd.Series, source: Source, kedro: Path, project: Path, explicit_bucket: bool,
                 timeout: float, keep: bool) -> dict:
    """One user run on ``history``: status, wall seconds, the error line or the forecast and method."""
    scratch = Path(tempfile.mkdtemp(prefix=f"real_traffic_{source.name}_"))
    try:
        copy_project(project, scratch)
        usage = scratch / "usage.csv"
        observed = history.dropna()
        stamp_format = "%Y-%m-%d" if source.freq == "D" else "%Y-%m-%d %H:%M:%S"
        pd.DataFrame({"timestamp": observed.index.strftime(stamp_format), "model": MODEL_ID,
                      "requests": observed.to_numpy()}).to_csv(usage, index=False)
        params = f"usage_file={usage},feature_engineering.freq={source.freq},feature_engineering.horizon={source.horizon}"
        if explicit_bucket and source.freq == "D":
            params += ",ingestion.bucket=D"
        command = [str(kedro), "run", "--env", "usage_csv", "--params", params]
        started = time.monotonic()
        try:
            done = subprocess.run(command, cwd=scratch, env={**os.environ, **RUN_ENV}, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": "refused", "seconds": time.monotonic() - started,
                    "error": f"still running after {timeout:.0f} s (stopped)"}
        seconds = time.monotonic() - started
        if done.returncode != 0:
            return {"status": "refused", "seconds": seconds, "error": last_error_line(done.stdout + done.stderr)}
        forecast = pd.read_parquet(scratch / "data" / "07_model_output" / "forecast.parquet")
        forecast = forecast[forecast["target"] == "requests"]
        if forecast.empty:
            return {"status": "refused", "seconds": seconds, "error": "forecast.parquet has no requests rows"}
        stamps = pd.DatetimeIndex(forecast["timestamp"]).tz_convert("UTC").tz_localize(None)
        table = pd.DataFrame({"p50": forecast["p50"].to_numpy(), "lo": forecast["p10"].to_numpy(),
                              "hi": forecast["p90"].to_numpy()}, index=stamps)
        origins = pd.DatetimeIndex(forecast["origin"]).tz_convert("UTC").tz_localize(None).unique()
        totals = pd.read_parquet(scratch / "data" / "07_model_output" / "forecast_totals.parquet")
        total = totals[(totals["target"] == "requests") & (totals["period"] == "horizon")]
        return {"status": "ok", "seconds": seconds, "forecast": table, "origin": origins.max(),
                "method": chosen_method(scratch / "data", forecast),
                "total": total[["p10", "p50", "p90"]].iloc[0].to_dict() if len(total) else {}}
    finally:
        if keep:
            print(f"  (scratch kept: {scratch})")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def evaluate(source: Source, series: pd.Series, origin: pd.Timestamp, pipeline: dict | None) -> dict:
    """One (series, origin) row: the pipeline's and the baselines' scores on the window after ``origin``."""
    step = pd.Timedelta(1, unit=source.freq.lower())
    history = series[series.index <= origin]
    actual = series[(series.index > origin) & (series.index <= origin + source.horizon * step)]
    scale = seasonal_scale(history, source.season)
    row = {"series": source.name, "origin": origin, "freq": source.freq, "horizon": source.horizon,
           "history_buckets": len(history), "history_missing": int(history.isna().sum()),
           "actuals": int(actual.notna().sum()), "scale": scale}
    complete = len(actual) == source.horizon and actual.notna().all()
    row["actual_total"] = float(actual.sum()) if complete else np.nan
    for name, table in baselines(history, source).items():
        result = score(actual, table["p50"], scale, table["lo"], table["hi"])
        row[f"{name}_mase"], row[f"{name}_coverage"] = result["mase"], result["coverage"]
        row[f"{name}_sum"] = float(table["p50"].sum())
    if pipeline is None:
        return row
    row.update(pipeline_status=pipeline["status"], pipeline_seconds=pipeline["seconds"],
               pipeline_error=pipeline.get("error", ""), pipeline_method=pipeline.get("method", ""),
               pipeline_mase=np.nan, pipeline_coverage=np.nan, pipeline_scored=0,
               pipeline_origin=pipeline.get("origin", pd.NaT))
    if pipeline["status"] == "ok":
        table = pipeline["forecast"]
        result = score(actual, table["p50"], scale, table["lo"], table["hi"])
        row.update(pipeline_mase=result["mase"], pipeline_coverage=result["coverage"],
                   pipeline_scored=result["scored"], pipeline_sum=float(table["p50"].sum()),
                   **{f"total_{k}": v for k, v in pipeline.get("total", {}).items()})
    return row


def geometric_mean(values: pd.Series) -> float:
    """Geometric mean of the positive finite values (NaN when there are none)."""
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.exp(np.log(values).mean())) if len(values) else np.nan


def _fmt(value: float, pattern: str = "{:.3f}") -> str:
    return "-" if value is None or not np.isfinite(value) else pattern.format(value)


def summarise(rows: pd.DataFrame, with_pipeline: bool, subset: bool) -> None:
    """Per-series table, geometric means, the baselines' oracle and the targets."""
    baseline_columns = ["naive_mase", "mstl_mase", "mstl_coverage", "ets_mase", "xgb_mase", "median3_mase"]
    per_series = rows.groupby("series", sort=False)[baseline_columns].mean()
    per_series["oracle_mase"] = per_series[["naive_mase", "mstl_mase", "ets_mase", "xgb_mase"]].min(axis=1)
    if with_pipeline:
        ok = rows[rows["pipeline_status"] == "ok"]
        grouped = rows.groupby("series", sort=False)
        per_series["runs"] = grouped.size()
        per_series["refused"] = grouped["pipeline_status"].apply(lambda s: int((s != "ok").sum()))
        per_series["seconds"] = grouped["pipeline_seconds"].mean()
        per_series["max_seconds"] = grouped["pipeline_seconds"].max()
        per_series["pipeline_mase"] = ok.groupby("series")["pipeline_mase"].mean()
        per_series["pipeline_coverage"] = ok.groupby("series")["pipeline_coverage"].mean()
        per_series["method"] = grouped["pipeline_method"].apply(
            lambda s: "/".join(sorted({m for m in s if m})) or "?")

    print("\n=== Real traffic, per series (averaged over origins) ===")
    header = ["series", "origins"]
    if with_pipeline:
        header += ["pipeline MASE", "P10-P90 cov.", "s/run", "method", "refused"]
    header += ["naive MASE", "MSTL MASE", "MSTL 80% cov.", "AutoETS MASE", "XGBoost MASE", "median of 3"]
    lines = [header]
    for name, record in per_series.iterrows():
        line = [name, str(int((rows["series"] == name).sum()))]
        if with_pipeline:
            line += [_fmt(record["pipeline_mase"]), _fmt(record["pipeline_coverage"], "{:.1%}"),
                     _fmt(record["seconds"], "{:.1f}"), record["method"], str(int(record["refused"]))]
        line += [_fmt(record["naive_mase"]), _fmt(record["mstl_mase"]), _fmt(record["mstl_coverage"], "{:.1%}"),
                 _fmt(record["ets_mase"]), _fmt(record["xgb_mase"]), _fmt(record["median3_mase"])]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)))

    if with_pipeline:
        short = rows[(rows["pipeline_status"] == "ok") & (rows["pipeline_scored"] < rows["actuals"])]
        for r in short.itertuples():
            print(f"note: {r.series} @ {r.origin}: the pipeline's forecast covers {r.pipeline_scored} "
                  f"of the {r.actuals} actuals; its MASE and coverage are on those only")
    means = {name: geometric_mean(per_series[f"{name}_mase"])
             for name in ("naive", "mstl", "ets", "xgb", "median3", "oracle")}
    print(f"\ngeometric-mean MASE over {len(per_series)} series: seasonal naive {_fmt(means['naive'])}, "
          f"MSTL {_fmt(means['mstl'])}, AutoETS {_fmt(means['ets'])}, XGBoost {_fmt(means['xgb'])}, "
          f"median of naive, MSTL and XGBoost {_fmt(means['median3'])}, "
          f"best baseline per series (oracle) {_fmt(means['oracle'])}")
    if not with_pipeline:
        return
    scored = per_series["pipeline_mase"].dropna()
    pipeline_mean = geometric_mean(scored) if len(scored) == len(per_series) else np.nan
    print(f"pipeline: {_fmt(pipeline_mean)}" + ("" if len(scored) == len(per_series) else
          f" (not comparable: only {len(scored)} of {len(per_series)} series have a forecast; "
          f"their geometric mean {_fmt(geometric_mean(scored))})"))
    both = rows[(rows["pipeline_status"] == "ok") & rows["median3_mase"].notna()]
    wins = int((both["pipeline_mase"] < both["median3_mase"]).sum())
    print(f"against the median of three: {_fmt(pipeline_mean)} vs {_fmt(means['median3'])} "
          f"({_fmt(pipeline_mean / means['median3'], '{:.2f}')} times it); the pipeline is ahead in "
          f"{wins} of {len(both)} windows and {int((per_series['pipeline_mase'] < per_series['median3_mase']).sum())} "
          f"of {len(per_series)} series")

    summarise_totals(rows)

    refused = rows[rows["pipeline_status"] != "ok"]
    print("\n=== Targets" + (" (on a subset: the targets are judged on the full protocol)" if subset else "")
          + " ===")

    def verdict(passed: bool, text: str) -> None:
        print(f"[{'PASS' if passed else 'FAIL'}] {text}")

    verdict(refused.empty, f"no series refused: {len(refused)} of {len(rows)} runs refused"
            + "".join(f"\n       {r.series} @ {r.origin}: {r.pipeline_error}" for r in refused.itertuples()))
    bound = (1 - NAIVE_MARGIN) * means["naive"]
    verdict(bool(pipeline_mean <= bound), f"geo-mean MASE {_fmt(pipeline_mean)} at least {NAIVE_MARGIN:.0%} below "
            f"the seasonal naive's {_fmt(means['naive'])} (needs <= {_fmt(bound)})")
    verdict(bool(pipeline_mean < means["mstl"]), f"geo-mean MASE {_fmt(pipeline_mean)} below MSTL's {_fmt(means['mstl'])}")
    verdict(bool(pipeline_mean < means["ets"]), f"geo-mean MASE {_fmt(pipeline_mean)} below AutoETS's {_fmt(means['ets'])}")
    low, high = COVERAGE_RANGE
    coverage = per_series["pipeline_coverage"]
    outside = coverage[coverage.notna() & ~coverage.between(low, high)]
    unknown = coverage.index[coverage.isna()]
    verdict(outside.empty and unknown.empty, f"every series' P10-P90 coverage within {low:.0%}-{high:.0%}"
            + "".join(f"; outside for {name} ({_fmt(value, '{:.1%}')})" for name, value in outside.items())
            + (f"; no forecast for {', '.join(unknown)}" if len(unknown) else ""))
    slowest = rows["pipeline_seconds"].max()
    verdict(bool(slowest < MAX_SECONDS), f"each run under {MAX_SECONDS:.0f} s: slowest {_fmt(slowest, '{:.1f}')} s "
            f"({rows.loc[rows['pipeline_seconds'].idxmax(), 'series']})")


def summarise_totals(rows: pd.DataFrame) -> None:
    """The whole window's total, as a budget reads it: the plan's total P50 (``forecast_totals``, period
    ``horizon``) against the sum of its own per-bucket P50s and the baselines' sums, and how often the
    realised total fell inside the plan's total P10-P90 (windows with every actual observed)."""
    if "total_p50" not in rows:
        return
    known = rows[(rows["pipeline_status"] == "ok") & rows["actual_total"].gt(0) & rows["total_p50"].notna()]
    if known.empty:
        return
    actual = np.log(known["actual_total"])
    print(f"\n=== Horizon totals ({len(known)} windows with every actual observed) ===")
    print("mean |log(total / realised)| (mean signed log error in brackets):")
    for label, column in (("plan's total P50", "total_p50"), ("sum of the plan's P50s", "pipeline_sum"),
                          ("median of three, summed", "median3_sum"), ("seasonal naive, summed", "naive_sum")):
        if column not in known:
            continue
        error = np.log(known[column].clip(lower=1e-9)) - actual
        print(f"  {label:<26} {error.abs().mean():.3f} ({error.mean():+.3f})")
    inside = (known["actual_total"] >= known["total_p10"]) & (known["actual_total"] <= known["total_p90"])
    below = known["actual_total"] < known["total_p50"]
    print(f"realised total inside the plan's P10-P90 in {int(inside.sum())} of {len(known)} windows "
          f"({inside.mean():.0%}); under its P50 in {int(below.sum())} ({below.mean():.0%})")


def data_folder(explicit: str | None) -> Path | None:
    """The realdata folder: ``--data``, else ``../shared/realdata`` of the checkout or of its parent."""
    candidates = [Path(explicit)] if explicit else DATA_CANDIDATES
    return next((folder for folder in candidates if folder.is_dir()), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated series names: " + ", ".join(s.name for s in SOURCES))
    parser.add_argument("--origins", type=int, help="at most K origins per series (the last K), for a quick check")
    parser.add_argument("--tile", type=int,
                        help="K origins per series instead of the protocol's (a wider development check: "
                             "more held-out windows, earlier ones included); the figures are then not the protocol's")
    parser.add_argument("--jobs", type=int, default=1, help="kedro runs at once (default 1: the machine has 2 cores)")
    parser.add_argument("--kedro", type=Path, default=ROOT / ".venv" / "bin" / "kedro",
                        help="kedro executable; the project it runs is the checkout it belongs to")
    parser.add_argument("--csv", type=Path, help="save the per-(series, origin) rows here")
    parser.add_argument("--data", help="the realdata folder (default: ../shared/realdata)")
    parser.add_argument("--explicit-bucket", action="store_true",
                        help="pass ingestion.bucket=D for the daily series (for code that does not detect it)")
    parser.add_argument("--short", type=int, metavar="DAYS",
                        help="short histories: each hourly series cut to its last DAYS days before an origin 1, 4 "
                             "and 8 days from its end, 24 h ahead, daily season (not the protocol)")
    parser.add_argument("--daily", type=int, metavar="DAYS",
                        help="day totals: each series summed to days and cut to its last DAYS days before an origin "
                             "7, 14 and 21 days from its end, 7 days ahead, weekly season (not the protocol)")
    parser.add_argument("--baselines-only", action="store_true", help="no kedro runs: the baselines' table only")
    parser.add_argument("--timeout", type=float, default=600, help="stop a kedro run after this many seconds")
    parser.add_argument("--keep-scratch", action="store_true", help="keep each run's scratch project for inspection")
    args = parser.parse_args()

    folder = data_folder(args.data)
    if folder is None:
        looked = args.data or ", ".join(str(path) for path in DATA_CANDIDATES)
        print(f"skipping the real-traffic benchmark: no realdata folder ({looked})")
        return 0
    sources = SOURCES
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - {source.name for source in SOURCES})
        if unknown:
            parser.error(f"--only: unknown series {unknown}; known: {[source.name for source in SOURCES]}")
        sources = [source for source in SOURCES if source.name in wanted]
    kedro = args.kedro.absolute()
    project = kedro.parents[2] if (kedro.parents[2] / "conf").is_dir() else ROOT
    if not args.baselines_only and not kedro.exists():
        parser.error(f"--kedro: {kedro} does not exist (run `make install` first)")

    tasks = []
    for source in sources:
        series = load_series(source, folder)
        if args.short:
            if source.freq != "h":
                continue
            source = replace(source, horizon=24, season=24, mstl_seasons=(24,))
            for origin in (series.index.max() - pd.Timedelta(days=back) for back in SHORT_DAYS_BACK):
                first, last = origin - pd.Timedelta(days=args.short), origin + pd.Timedelta(days=1)
                tasks.append((source, series[(series.index > first) & (series.index <= last)], origin))
            print(f"{source.name}: the last {args.short} days before each of {len(SHORT_DAYS_BACK)} origins, "
                  "24 h ahead")
            continue
        if args.daily:
            tasks.extend(daily_tasks(source, series, args.daily))
            continue
        count = args.tile or source.origins
        count = min(count, args.origins) if args.origins else count
        for origin in origins_for(series, source, count):
            tasks.append((source, series, origin))
        print(f"{source.name}: {series.index.min()} .. {series.index.max()}, {len(series)} buckets "
              f"({int(series.isna().sum())} missing), {count} origin(s), {source.horizon} {source.freq} ahead")

    def one_run(task: tuple) -> dict:
        source, series, origin = task
        result = run_pipeline(series[series.index <= origin], source, kedro, project, args.explicit_bucket,
                              args.timeout, args.keep_scratch)
        detail = result.get("error") or f"method {result.get('method')}"
        if result.get("origin") is not None and result["origin"] != origin:
            detail += f"; its forecast starts after {result['origin']}, not after the cut"
        print(f"  {source.name} @ {origin}: pipeline {result['status']} in {result['seconds']:.1f} s ({detail})",
              flush=True)
        return result

    if args.baselines_only:
        results = [None] * len(tasks)
    else:
        print(f"\n{len(tasks)} kedro run(s) with {kedro} on a copy of {project}, {args.jobs} at a time:")
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(one_run, tasks))
    rows = pd.DataFrame([evaluate(source, series, origin, result)
                         for (source, series, origin), result in zip(tasks, results)])
    if args.csv:
        rows.to_csv(args.csv, index=False)
        print(f"\nper-(series, origin) rows: {args.csv}")
    subset = bool(args.only or args.origins or args.tile or args.short or args.daily)
    summarise(rows, with_pipeline=not args.baselines_only, subset=subset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
