"""Request-level log -> hourly buckets with per-minute peaks: DuckDB (Ibis) vs pandas.

    .venv/bin/python benchmarks/request_log_aggregation.py              # 10M rows in a temp dir
    .venv/bin/python benchmarks/request_log_aggregation.py --rows 2000000 --path /data/bench

1. Writes a request log (several Claude models, daily and weekly cycles, bursts,
   realistic input / cache / output sizes, 2% failures, ~30 days) as CSV and Parquet.
2. Aggregates each file to hourly buckets with per-minute peaks (RPM, ITPM, OTPM):
   (a) ``duckdb``: tokenplan's Ibis code path on DuckDB, as `kedro run --env
       request_log` runs it (``ibis.FileDataset``; validation, de-duplication and time
       zones included); ``duckdb-nodedup`` the same with ``deduplicate: false``;
   (b) ``pandas``: a straightforward pandas read and two groupbys (nothing else), and
       ``pandas-dedup``: the same after ``drop_duplicates()``, i.e. the same work as
       ``duckdb`` (which removes repeated requests by default).
   Each run is a fresh process; the clock starts after imports (file -> buckets), and
   peak memory is the process's high-water mark (VmHWM).
3. Checks that the engines agree, and prints seconds, rows/s and peak memory.
4. Runs the same code path on the real Azure LLM traces in ../shared/realdata (when
   present) and prints the per-minute peak / mean request rate.

Targets (2-core machine): Parquet < 10 s, CSV < 30 s, peak memory < 2 GB,
DuckDB at least 3x faster than pandas. It prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from kedro_datasets.ibis import FileDataset  # noqa: E402

from tokenplan.ingestion.request_logs import RequestLogConfig, bucket_request_log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
MODELS = {  # share of requests, median input tokens, median output tokens, cache read share
    "claude-sonnet-4-5-20250929": (0.55, 2500, 350, 0.6),
    "claude-haiku-4-5-20251001": (0.35, 900, 150, 0.3),
    "claude-opus-4-5-20251101": (0.10, 6000, 800, 0.7),
}
START = "2026-09-01"
DAYS = 30
# What the DuckDB connection gets in the catalog too (conf/request_log/catalog.yml).
DUCKDB_CONFIG = {"threads": 2, "memory_limit": "1500MB", "preserve_insertion_order": False}
COLUMNS = ["timestamp", "model", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens",
           "status"]


# ----------------------------------------------------------------- the log


def generate(rows: int, folder: Path, seed: int = 3) -> dict[str, Path]:
    """Write the request log as ``requests.csv`` and ``requests.parquet`` under ``folder``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    minutes = pd.date_range(START, periods=DAYS * 1440, freq="min")
    hour = np.asarray(minutes.hour + minutes.minute / 60)
    daily = 0.15 + np.exp(-0.5 * ((hour - 15) / 3.5) ** 2)        # afternoon peak, quiet nights
    weekly = np.where(np.asarray(minutes.dayofweek) >= 5, 0.5, 1.0)
    burst = np.ones(len(minutes))
    for start in rng.choice(len(minutes) - 30, size=40, replace=False):  # batch jobs
        burst[start:start + rng.integers(3, 30)] *= rng.uniform(3, 8)
    weight = daily * weekly * burst * rng.gamma(20, 1 / 20, len(minutes))
    minute = rng.choice(len(minutes), size=rows, p=weight / weight.sum())
    minute.sort()
    micros = minutes.asi8[minute] // 1_000 + rng.integers(0, 60_000_000, rows)
    micros.sort()

    names = list(MODELS)
    share = np.array([MODELS[m][0] for m in names])
    which = rng.choice(len(names), size=rows, p=share / share.sum())
    median_in = np.array([MODELS[m][1] for m in names])[which]
    median_out = np.array([MODELS[m][2] for m in names])[which]
    cached = np.array([MODELS[m][3] for m in names])[which]
    total_in = np.maximum(1, rng.lognormal(np.log(median_in), 0.9)).astype(np.int64)
    cache_read = (total_in * cached * rng.uniform(0.5, 1.0, rows)).astype(np.int64)
    cache_read[rng.random(rows) < 0.4] = 0
    cache_write = np.where(rng.random(rows) < 0.1, (total_in - cache_read) // 2, 0)
    failed = rng.random(rows) < 0.02
    output = np.where(failed, 0, np.maximum(1, rng.lognormal(np.log(median_out), 0.8))).astype(np.int64)

    table = pa.table({
        "timestamp": pa.array(micros, pa.timestamp("us", tz="UTC")),
        "model": pa.DictionaryArray.from_arrays(pa.array(which.astype(np.int32)), pa.array(names)).cast(pa.string()),
        "input_tokens": total_in - cache_read - cache_write,
        "cache_write_tokens": cache_write,
        "cache_read_tokens": cache_read,
        "output_tokens": output,
        "status": pa.array(np.where(failed, "error", "ok")),
    })
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"parquet": folder / "requests.parquet", "csv": folder / "requests.csv"}
    pq.write_table(table, paths["parquet"], row_group_size=1_000_000)
    # A gateway writes naive UTC times in its CSV; the request-log env reads them in UTC.
    as_text = table.set_column(0, "timestamp", pa.array(micros, pa.timestamp("us")))
    pacsv.write_csv(as_text, paths["csv"])
    return paths


# ----------------------------------------------------------------- engines (run in a child)


def run_duckdb(path: Path, file_format: str, deduplicate: bool = True) -> pd.DataFrame:
    """tokenplan's request-log code path on DuckDB through kedro-datasets' ``ibis.FileDataset``."""
    table = FileDataset(filepath=str(path), file_format=file_format,
                        connection={"backend": "duckdb", "database": ":memory:", **DUCKDB_CONFIG}).load()
    return bucket_request_log(table, RequestLogConfig.from_params({"deduplicate": deduplicate}), timezone="UTC",
                              bucket="h", source=str(path))


def run_pandas(path: Path, file_format: str, deduplicate: bool = False) -> pd.DataFrame:
    """The straightforward way: load everything, group by minute, then by hour."""
    frame = pd.read_parquet(path) if file_format == "parquet" else pd.read_csv(path)
    if deduplicate:
        frame = frame.drop_duplicates()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    counted = frame["status"].eq("ok")
    for column in ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"):
        frame[column] = frame[column].where(counted, 0)
    frame["rate_limited_input"] = frame["input_tokens"] + frame["cache_write_tokens"]
    frame["minute"] = frame["timestamp"].dt.floor("min")
    totals = ["input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens", "rate_limited_input"]
    per_minute = frame.groupby(["minute", "model"]).agg(requests=("status", "size"),
                                                        **{c: (c, "sum") for c in totals}).reset_index()
    per_minute["timestamp"] = per_minute["minute"].dt.floor("h")
    return per_minute.groupby(["timestamp", "model"]).agg(
        requests=("requests", "sum"), **{c: (c, "sum") for c in totals[:-1]},
        peak_rpm=("requests", "max"), peak_itpm=("rate_limited_input", "max"), peak_otpm=("output_tokens", "max"),
    ).reset_index()


ENGINES = {
    "duckdb": run_duckdb,
    "duckdb-nodedup": lambda path, file_format: run_duckdb(path, file_format, deduplicate=False),
    "pandas": run_pandas,
    "pandas-dedup": lambda path, file_format: run_pandas(path, file_format, deduplicate=True),
}
# Which pandas run does the same work as each engine (for the "same work" speed-up).
SAME_WORK = {"duckdb": "pandas-dedup", "duckdb-nodedup": "pandas", "pandas": "pandas",
             "pandas-dedup": "pandas-dedup"}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: since exec, unlike a forked child's ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(engine: str, path: Path, file_format: str, result: Path) -> None:
    started = time.perf_counter()  # imports are done: the clock covers file -> buckets only
    out = ENGINES[engine](path, file_format)
    seconds = time.perf_counter() - started
    out.to_parquet(result)
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_rss_mb()}))


def measure(engine: str, path: Path, file_format: str, result: Path) -> dict:
    """Run one engine in a fresh process: its wall seconds and peak memory."""
    command = [sys.executable, __file__, "--child", engine, "--format", file_format, "--path", str(path),
               "--result", str(result)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"{engine} on {file_format} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def _compare(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Largest relative difference over all totals and peaks (0 = identical)."""
    key = ["timestamp", "model"]
    a = a.assign(timestamp=pd.to_datetime(a["timestamp"], utc=True)).set_index(key).sort_index()
    b = b.assign(timestamp=pd.to_datetime(b["timestamp"], utc=True)).set_index(key).sort_index()
    a.index = a.index.set_levels(a.index.levels[1].str.replace(r"-\d{8}$", "", regex=True), level=1)
    b.index = b.index.set_levels(b.index.levels[1].str.replace(r"-\d{8}$", "", regex=True), level=1)
    columns = [c for c in b.columns if c in a.columns]
    diff = (a[columns] - b[columns]).abs() / b[columns].abs().clip(lower=1)
    return float(diff.to_numpy().max()) if len(a) == len(b) else float("inf")


# ----------------------------------------------------------------- real traces


def azure_peaks() -> None:
    """Per-minute peak / mean request rate of the real Azure traces, through the same code path."""
    import ibis

    print("\nAzure LLM inference traces 2023 (../shared/realdata), preset azure, one bucket per trace:")
    print(f"{'trace':<6}{'requests':>10}{'minutes':>9}{'mean rpm':>10}{'peak rpm':>10}{'peak/mean':>11}"
          f"{'peak itpm':>11}{'peak otpm':>11}")
    for name in ("code", "conv"):
        path = REALDATA / f"AzureLLMInferenceTrace_{name}.csv"
        if not path.exists():
            print(f"{name:<6} skipped: {path} is absent")
            continue
        table = ibis.duckdb.connect(**DUCKDB_CONFIG).read_csv(str(path))
        config = RequestLogConfig.from_params({"preset": "azure", "model_name": f"azure-{name}"})
        # One day-wide bucket holds the whole hour-long trace: its peaks are the trace's.
        bucket = bucket_request_log(table, config, timezone="UTC", bucket="D", source=path.name).iloc[0]
        span = table.aggregate(first=table.TIMESTAMP.min(), last=table.TIMESTAMP.max()).execute().iloc[0]
        minutes = (span["last"].floor("min") - span["first"].floor("min")) / pd.Timedelta(minutes=1) + 1
        mean = bucket["requests"] / minutes
        print(f"{name:<6}{bucket['requests']:>10,.0f}{minutes:>9.0f}{mean:>10.1f}{bucket['peak_rpm']:>10.0f}"
              f"{bucket['peak_rpm'] / mean:>11.2f}{bucket['peak_itpm']:>11,.0f}{bucket['peak_otpm']:>11,.0f}")


# ----------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--path", type=Path, help="folder for the generated log (default: a temp dir)")
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument("--child", choices=list(ENGINES), help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.path, args.format, args.result)
        return

    with tempfile.TemporaryDirectory(prefix="request_log_bench_") as scratch:
        folder = args.path or Path(scratch)
        started = time.perf_counter()
        paths = generate(args.rows, folder)
        sizes = ", ".join(f"{f} {p.stat().st_size / 1e6:,.0f} MB" for f, p in paths.items())
        print(f"request log: {args.rows:,} rows over {DAYS} days, {len(MODELS)} models ({sizes}); "
              f"written in {time.perf_counter() - started:.1f} s")
        print(f"DuckDB connection: {DUCKDB_CONFIG}\n")
        print(f"{'format':<8}{'engine':<16}{'seconds':>9}{'rows/s':>14}{'peak MB':>9}{'vs pandas':>10}"
              f"{'vs same work':>14}")
        for file_format in args.formats.split(","):
            runs = {engine: measure(engine, paths[file_format], file_format, Path(scratch) / f"{engine}.parquet")
                    for engine in ENGINES}
            for engine, run in runs.items():
                speedup = runs["pandas"]["seconds"] / run["seconds"]
                same_work = runs[SAME_WORK[engine]]["seconds"] / run["seconds"]
                print(f"{file_format:<8}{engine:<16}{run['seconds']:>9.2f}{args.rows / run['seconds']:>14,.0f}"
                      f"{run['peak_mb']:>9,.0f}{speedup:>9.1f}x{same_work:>13.1f}x")
            for engine in ("duckdb", "duckdb-nodedup"):
                gap = _compare(pd.read_parquet(Path(scratch) / f"{engine}.parquet"),
                               pd.read_parquet(Path(scratch) / "pandas.parquet"))
                print(f"{'':<8}{engine} vs pandas, largest relative difference over all buckets: {gap:.1e}")
    azure_peaks()


if __name__ == "__main__":
    main()
