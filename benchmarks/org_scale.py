"""Speed at scale: the pipeline a user runs on a simulated organisation of 10, 100 and 1,000 series.

    .venv/bin/python benchmarks/org_scale.py                    # 10, 100 and 1,000 series (about an hour)
    .venv/bin/python benchmarks/org_scale.py --series 10,100    # a quick check
    .venv/bin/python benchmarks/org_scale.py --series 1000 --timeout 3600 --keep

Data: the simulator's organisation (``SimulatorConfig.workspaces``), nothing read from
disk. An organisation of N series is N / 5 teams, each using five models through one
API key, with 18 months of history (548 days to 2026-10-01). The simulator has three
model profiles (Sonnet 4.5, Haiku 4.5, Opus 4.5); each team's older Sonnet 4 and Opus
4.1 traffic is a second simulation of the same teams (another seed, 30% of the volume)
whose Sonnet 4.5 and Opus 4.5 rows are relabelled ``claude-sonnet-4`` and
``claude-opus-4-1``. Teams differ in size (a log-normal share), growth (-1% to +8% a
month) and age: every tenth team is created during the last eight months of history.

The simulator's hourly rows are summed to UTC days and written as the daily usage CSV
an organisation exports (Admin API usage grouped by workspace and API key)::

    timestamp, model, workspace, api_key, requests, input_tokens, cache_write_tokens, cache_read_tokens, output_tokens

Then, in a scratch copy of the project (``conf``, ``src``, ``pyproject.toml`` and an
empty ``data/`` tree) with ``conf/usage_csv/parameters.yml`` setting
``ingestion.series_dimensions: [workspace, api_key]``, the user's command runs::

    kedro run --env usage_csv --params usage_file=PATH

Measured per size: wall time, the peak memory of the run's whole process tree (sampled
every half second) as its proportional set size (a page shared by several processes
split among them: what the tree really holds) and as the sum of resident sizes (a
shared page counted in every process that maps it: overstates a forked pool), seconds
per series, the report's size, and the slowest
nodes: the run logs Kedro's "Completed node" lines with timestamps to a file of its own
(``KEDRO_LOGGING_CONFIG``), and a node's time is the gap since the previous node
completed (its inputs' loading and its outputs' saving included). A run stopped by
``--timeout`` still shows the nodes it finished and the one it was in. The targets
(1,000 series: under 15 minutes wall and 8 GB peak memory on 2 cores) are printed as pass/fail
lines; the benchmark asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import m4_hourly  # noqa: E402
from real_traffic import RUN_ENV, copy_project, last_error_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS_PER_TEAM = 5
HISTORY_END, HISTORY_DAYS = "2026-10-01", 548
# Simulated model -> the older model its second simulation stands for.
OLDER_MODELS = {"claude-sonnet-4-5": "claude-sonnet-4", "claude-opus-4-5": "claude-opus-4-1"}
OLDER_SHARE = 0.3
COUNTS = ["requests", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"]
TEAMS_PER_SIMULATION = 20  # bounds the simulator's hourly frames in memory
TARGET_SERIES, TARGET_SECONDS, TARGET_BYTES = 1000, 15 * 60, 8 * 2**30
PARAMETERS = """\
ingestion:
  series_dimensions: [workspace, api_key]
organisation:
  key_names_per_team: true  # every simulated team's one key is named "prod"
"""
# Kedro's node lines, with times, to a file; on the console only what a user sees.
LOGGING = """\
version: 1
disable_existing_loggers: False
formatters:
  timed:
    format: "%(asctime)s %(name)s %(levelname)s %(message)s"
handlers:
  rich:
    class: kedro.logging.RichHandler
    rich_tracebacks: True
  rich_warnings:
    class: kedro.logging.RichHandler
    level: WARNING
  timing:
    class: logging.FileHandler
    level: INFO
    formatter: timed
    filename: {path}
    encoding: utf8
loggers:
  kedro:
    level: INFO
    handlers: [timing, rich_warnings]
    propagate: False
  tokenplan:
    level: INFO
root:
  handlers: [rich, timing]
"""


def tree_memory(pid: int) -> tuple[int, int]:
    """(Resident bytes, proportional set size in bytes) of ``pid`` and all its descendants, from /proc (Linux).

    Resident bytes count a page shared by several processes (a forked worker's copy of
    its parent) once in each; the proportional set size divides it among them, so the
    tree's sum is the memory it really holds.
    """
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    family, frontier = {pid}, [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier and child not in family]
        family.update(children)
        frontier = children
    rss = pss = 0
    for member in family:
        try:
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines()
                          if ":" in line)
        except OSError:
            continue
        rss += int(fields.get("Rss", "0 kB").split()[0]) * 1024
        pss += int(fields.get("Pss", "0 kB").split()[0]) * 1024
    return rss, pss


class PeakMemory(m4_hourly.PeakMemory):
    """Peak resident bytes (``peak``) and peak proportional set size (``peak_pss``) of a process tree."""

    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(pid, interval)
        self.peak_pss = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss, pss = tree_memory(self.pid)
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
            self._stop.wait(self.interval)


def organisation(teams: int, seed: int) -> list[dict]:
    """The simulator's workspaces of ``teams`` teams: sizes, growth and creation dates drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(HISTORY_END)
    spaces = []
    for i in range(teams):
        space = {"name": f"team-{i + 1:03d}", "share": float(np.clip(rng.lognormal(np.log(0.15), 0.8), 0.01, 2.0)),
                 "monthly_growth": float(rng.uniform(-0.01, 0.08)), "api_keys": ["prod"]}
        if i % 10 == 9:
            space["created"] = (end - pd.Timedelta(days=int(rng.integers(60, 240)))).strftime("%Y-%m-%d")
        spaces.append(space)
    return spaces


def _daily(usage: pd.DataFrame) -> pd.DataFrame:
    """Hourly simulator rows summed to UTC days (the peak columns left out, as a daily export has none)."""
    day = usage["timestamp"].dt.strftime("%Y-%m-%d")
    keys = [day.rename("timestamp"), usage["model"], usage["workspace"], usage["api_key"]]
    return usage[COUNTS].groupby(keys, sort=False).sum().reset_index()


def usage_table(series: int, seed: int = 20) -> pd.DataFrame:
    """The daily usage CSV of an organisation of ``series`` series (``series`` / 5 teams x 5 models)."""
    from tokenplan.simulator import simulate

    if series % MODELS_PER_TEAM:
        raise SystemExit(f"--series: {series} is not a multiple of {MODELS_PER_TEAM} (teams x 5 models)")
    spaces = organisation(series // MODELS_PER_TEAM, seed)
    base = {"history_end": HISTORY_END, "history_days": HISTORY_DAYS, "future_days": 0, "peak_replays": 0}
    older = [{**space, "share": space["share"] * OLDER_SHARE, "models": list(OLDER_MODELS)} for space in spaces]
    parts = []
    for offset, group in ((0, spaces), (1, older)):
        for start in range(0, len(group), TEAMS_PER_SIMULATION):
            chunk = group[start:start + TEAMS_PER_SIMULATION]
            daily = _daily(simulate({**base, "seed": seed + offset, "workspaces": chunk}).usage)
            if offset:
                daily["model"] = daily["model"].map(OLDER_MODELS)
            parts.append(daily)
    table = pd.concat(parts, ignore_index=True).sort_values(["timestamp", "workspace", "model"], ignore_index=True)
    found = table.groupby(["workspace", "api_key", "model"]).ngroups
    if found != series:
        raise RuntimeError(f"simulated {found} series, wanted {series}")
    return table


def node_seconds(log: str, until: pd.Timestamp | None = None) -> pd.Series:
    """Seconds per node from the timed Kedro log: each node's gap since the previous one completed.

    A node still running when the log ends (a run stopped by the timeout) is listed as
    ``<name> (unfinished)`` with the time from the previous completion to ``until`` (the
    run's end, local time as the log writes it; default: the log's last line).
    """
    stamp = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
    times, names = [], []
    previous = None
    last_seen = None
    running = None
    for line in log.splitlines():
        match = re.match(stamp, line)
        if not match:
            continue
        at = pd.Timestamp(match.group(1).replace(",", "."))
        last_seen = at
        if previous is None:
            previous = at
        if (started := re.search(r"Running node: ([^:\s(]+)", line)) is not None:
            running = started.group(1)
        done = re.search(r"Completed node: (\S+)", line)
        if done:
            names.append(done.group(1))
            times.append((at - previous).total_seconds())
            previous, running = at, None
    if running is not None and last_seen is not None:
        names.append(f"{running} (unfinished)")
        times.append(((until or last_seen) - previous).total_seconds())
    return pd.Series(times, index=names, dtype=float).sort_values(ascending=False)


def run_pipeline(usage: pd.DataFrame, timeout: float, keep: bool, extra_params: str = "") -> dict:
    """One ``kedro run --env usage_csv`` on the usage table: status, seconds, peak memory, node times."""
    scratch = Path(tempfile.mkdtemp(prefix="org_scale_"))
    try:
        copy_project(ROOT, scratch)
        (scratch / "conf" / "usage_csv" / "parameters.yml").write_text(PARAMETERS)
        timing_log = scratch / "timing.log"
        logging_config = scratch / "timing_logging.yml"
        logging_config.write_text(LOGGING.format(path=timing_log))
        path = scratch / "usage.csv"
        usage.to_csv(path, index=False)
        command = [str(ROOT / ".venv" / "bin" / "kedro"), "run", "--env", "usage_csv", "--params",
                   f"usage_file={path}" + (f",{extra_params}" if extra_params else "")]
        env = {**os.environ, **RUN_ENV, "KEDRO_LOGGING_CONFIG": str(logging_config)}
        output = scratch / "run.log"
        started = time.monotonic()
        with open(output, "w") as out:
            process = subprocess.Popen(command, cwd=scratch, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       text=True, start_new_session=True)
            with PeakMemory(process.pid) as memory:
                try:
                    code = process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait()
                    code = None
        seconds = time.monotonic() - started
        ended = pd.Timestamp.now()
        nodes = node_seconds(timing_log.read_text(), ended) if timing_log.exists() else pd.Series(dtype=float)
        result = {"seconds": seconds, "peak_bytes": memory.peak, "peak_pss": memory.peak_pss, "nodes": nodes}
        if code is None:
            return {**result, "status": "stopped", "error": f"still running after {timeout:.0f} s (stopped)"}
        if code != 0:
            return {**result, "status": "refused", "error": last_error_line(output.read_text())}
        reports = sorted((scratch / "data" / "08_reporting").glob("*/report.html"))
        return {**result, "status": "ok", "report_bytes": reports[-1].stat().st_size if reports else 0}
    finally:
        if keep:
            print(f"(scratch kept: {scratch})")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="10,100,1000", help="comma-separated sizes, multiples of 5")
    parser.add_argument("--timeout", type=float, default=3600.0, help="stop a run after this many seconds")
    parser.add_argument("--slowest", type=int, default=5, help="slowest nodes listed per run")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--params", default="", help="more runtime parameters for kedro run (a=1,b=2), e.g. "
                        "feature_engineering.origin_every=91 (not the protocol)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch projects")
    parser.add_argument("--usage-only", metavar="FOLDER", help="write the usage CSVs here and run nothing")
    args = parser.parse_args()
    sizes = [int(text) for text in args.series.split(",") if text.strip()]
    print(f"Organisation at scale: {', '.join(map(str, sizes))} series (teams x {MODELS_PER_TEAM} models, "
          f"daily, {HISTORY_DAYS} days); {os.cpu_count()} cores" + (f"; --params {args.params}" if args.params else ""))
    rows = []
    for size in sizes:
        started = time.monotonic()
        usage = usage_table(size, args.seed)
        print(f"\n{size} series ({size // MODELS_PER_TEAM} teams): {len(usage):,} usage rows simulated in "
              f"{time.monotonic() - started:.0f} s")
        if args.usage_only:
            target = Path(args.usage_only) / f"org_usage_{size}.csv"
            usage.to_csv(target, index=False)
            print(f"  written to {target}")
            continue
        run = run_pipeline(usage, args.timeout, args.keep, args.params)
        print(f"  kedro run: {run['status']} in {run['seconds']:.0f} s ({run['seconds'] / 60:.1f} min), "
              f"peak memory {run['peak_pss'] / 2**30:.2f} GB (resident, shared pages counted once per process: "
              f"{run['peak_bytes'] / 2**30:.2f} GB)"
              + (f", report.html {run['report_bytes'] / 2**20:.1f} MB" if run["status"] == "ok" else ""))
        if run["status"] != "ok":
            print(f"  error: {run['error']}")
        total = run["nodes"].sum()
        for name, seconds in run["nodes"].head(args.slowest).items():
            print(f"    {name}: {seconds:.0f} s ({seconds / total:.0%} of the nodes' time)")
        rows.append({"series": size, "teams": size // MODELS_PER_TEAM, **run})
    if not rows:
        return 0
    print("\n| series | teams | status | wall | peak memory (PSS) | peak resident (sum) | s per series | report.html "
          "| slowest nodes |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        slowest = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in row["nodes"].head(3).items())
        report = f"{row['report_bytes'] / 2**20:.1f} MB" if row["status"] == "ok" else "-"
        print(f"| {row['series']:,} | {row['teams']} | {row['status']} | {row['seconds'] / 60:.1f} min | "
              f"{row['peak_pss'] / 2**30:.2f} GB | {row['peak_bytes'] / 2**30:.2f} GB | "
              f"{row['seconds'] / row['series']:.2f} | {report} | {slowest} |")
    target = next((row for row in rows if row["series"] == TARGET_SERIES), None)
    if target is None:
        print(f"\n[----] targets not measured: run with --series {TARGET_SERIES}")
        return 0
    finished = target["status"] == "ok"
    checks = [(finished, f"{TARGET_SERIES:,}-series run finished ({target['status']})"),
              (finished and target["seconds"] < TARGET_SECONDS,
               f"wall {target['seconds'] / 60:.1f} min < {TARGET_SECONDS / 60:.0f} min"),
              (target["peak_pss"] < TARGET_BYTES,
               f"peak memory {target['peak_pss'] / 2**30:.2f} GB < {TARGET_BYTES / 2**30:.0f} GB (PSS; resident "
               f"sum {target['peak_bytes'] / 2**30:.2f} GB)")]
    print()
    for passed, text in checks:
        print(f"[{'PASS' if passed else 'FAIL'}] {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
