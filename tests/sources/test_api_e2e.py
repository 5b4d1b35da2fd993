"""End to end: ``kedro run --env anthropic_api`` against a loopback Admin API, in a project copy.

A loopback server answers ``usage_report/messages`` in the documented shape with
hourly buckets of simulated usage (``tokenplan.simulator``), paginated, rate-limiting
one request with a 429. The project's own ``conf/anthropic_api`` environment is used
as shipped, pointed at the server with ``--params anthropic_base_url=...``; only the
small training parameters of ``conf/test`` are copied beside it so the run stays short.
The admin key comes from ``ANTHROPIC_ADMIN_KEY`` and must not show in any output.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.project_copy import PROJECT_ROOT, make_project_copy
from tests.sources.loopback_api import LoopbackAPI, Reply, Request
from tokenplan.simulator import simulate

pytestmark = pytest.mark.e2e

ADMIN_KEY = "sk-ant-admin01-e2e-secret-key"
HISTORY_END = pd.Timestamp("2026-10-01", tz="UTC")
HISTORY_DAYS = 170  # 12-week feature warm-up + tuning and backtest folds + a 28-day horizon
RUN_TIMEOUT_SECONDS = 600


class SimulatedAdminAPI:
    """Hourly usage of the simulated models as ``usage_report/messages`` pages."""

    def __init__(self, usage: pd.DataFrame) -> None:
        self._results: dict[pd.Timestamp, list[dict]] = {}
        for row in usage.itertuples(index=False):
            write_1h = int(row.cache_write_tokens) // 4  # some writes use the 1-hour TTL
            self._results.setdefault(row.timestamp, []).append({
                "uncached_input_tokens": int(row.input_tokens),
                "cache_creation": {"ephemeral_5m_input_tokens": int(row.cache_write_tokens) - write_1h,
                                   "ephemeral_1h_input_tokens": write_1h},
                "cache_read_input_tokens": int(row.cache_read_tokens),
                "output_tokens": int(row.output_tokens),
                "server_tool_use": {"web_search_requests": 0},
                "model": f"{row.model}-20250929", "workspace_id": None, "api_key_id": None,
                "service_tier": None, "context_window": None,
            })
        self.rate_limited = False

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("x-api-key") != ADMIN_KEY or request.headers.get("anthropic-version") != "2023-06-01":
            return Reply(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid key"}})
        if request.values("group_by[]") != ["model"] or request.value("bucket_width") != "1h":
            return Reply(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": f"unexpected query {request.query}"}})
        if request.value("page") == "3" and not self.rate_limited:
            self.rate_limited = True
            return Reply(429, {"type": "error", "error": {"type": "rate_limit_error"}}, {"retry-after": "0"})
        grid = pd.date_range(pd.Timestamp(request.value("starting_at")), pd.Timestamp(request.value("ending_at")),
                             freq="h", inclusive="left")
        limit, page = int(request.value("limit")), int(request.value("page") or 0)
        hours = grid[page * limit:(page + 1) * limit]
        more = (page + 1) * limit < len(grid)
        # An hour with no recorded usage at all (the simulated outage) is not reported.
        data = [{"starting_at": h.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "ending_at": (h + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "results": self._results[h]} for h in hours if h in self._results]
        return Reply(body={"data": data, "has_more": more, "next_page": str(page + 1) if more else None})


def _kedro_command() -> list[str]:
    script = Path(sys.executable).parent / "kedro"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kedro"]


@pytest.fixture(scope="module")
def simulation():
    return simulate({"seed": 7, "history_end": str(HISTORY_END.date()), "history_days": HISTORY_DAYS,
                     "future_days": 0})


@pytest.fixture(scope="module")
def run(tmp_path_factory, simulation):
    """The project copy and the output of one ``kedro run --env anthropic_api``."""
    root = make_project_copy(tmp_path_factory.mktemp("api_e2e") / "project")
    for params in (PROJECT_ROOT / "conf" / "test").glob("parameters_*.yml"):
        shutil.copy2(params, root / "conf" / "anthropic_api" / params.name)
    events_file = root / "data" / "01_raw" / "events.csv"
    simulation.events.to_csv(events_file, index=False)
    start = HISTORY_END - pd.Timedelta(days=HISTORY_DAYS)

    env = {k: v for k, v in os.environ.items() if k not in ("KEDRO_ENV", "ANTHROPIC_ADMIN_KEY")}
    env.update(KEDRO_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", MPLBACKEND="Agg", COLUMNS="200",
               ANTHROPIC_ADMIN_KEY=ADMIN_KEY)
    server = SimulatedAdminAPI(simulation.usage)
    with LoopbackAPI(server) as api:
        params = (f"anthropic_base_url={api.url},starting_at={start:%Y-%m-%dT%H:%M:%SZ},"
                  f"ending_at={HISTORY_END:%Y-%m-%dT%H:%M:%SZ},events_file={events_file}")
        result = subprocess.run([*_kedro_command(), "run", "--env", "anthropic_api", "--params", params],
                                cwd=root, env=env, capture_output=True, text=True,
                                timeout=RUN_TIMEOUT_SECONDS, check=False)
    assert result.returncode == 0, (f"--- stdout (tail) ---\n{result.stdout[-6000:]}\n"
                                    f"--- stderr (tail) ---\n{result.stderr[-6000:]}")
    return {"root": root, "result": result, "requests": api.requests, "server": server}


def test_every_page_was_fetched_and_the_429_retried(run):
    requests = run["requests"]
    pages = [r.value("page") for r in requests]
    assert run["server"].rate_limited
    assert pages.count("3") == 2  # the rate-limited page, asked twice
    assert "HTTP 429" in run["result"].stdout + run["result"].stderr  # the retry is logged
    assert len(requests) == math.ceil(HISTORY_DAYS * 24 / 168) + 1  # 168 hourly buckets a page


def test_usage_buckets_hold_the_served_tokens_without_request_counts(run, simulation):
    buckets = pd.read_parquet(run["root"] / "data" / "03_primary" / "usage_buckets.parquet")

    assert sorted(buckets["series"].unique()) == sorted(simulation.usage["model"].unique())
    assert buckets["requests"].isna().all()
    served = simulation.usage.groupby("model")[["input_tokens", "cache_write_tokens", "output_tokens"]].sum()
    loaded = buckets.groupby("series")[["input_tokens", "cache_write_tokens", "output_tokens"]].sum()
    pd.testing.assert_frame_equal(loaded.sort_index(), served.sort_index().astype(float), check_names=False)
    # The simulated outage was not reported: its hours are missing, not zero.
    outage = buckets[buckets["input_tokens"].isna()]
    assert len(outage) > 0


def test_forecast_covers_token_targets_only(run):
    forecast = pd.read_parquet(run["root"] / "data" / "07_model_output" / "forecast.parquet")
    targets = set(forecast["target"].astype(str))
    assert targets == {"input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"}
    assert (forecast["p50"] >= 0).all()
    assert list((run["root"] / "data" / "08_reporting").glob("*/report.md"))


def test_the_admin_key_never_appears_in_output(run):
    result = run["result"]
    logs = "".join(p.read_text() for p in run["root"].glob("**/*.log"))
    for text in (result.stdout, result.stderr, logs):
        assert ADMIN_KEY not in text
