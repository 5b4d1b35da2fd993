"""End to end: ``kedro run --env request_log`` on an Azure-format request log chosen at run time.

A fresh copy of the project runs the ingestion pipeline as a user would, with the log's
path, format and column preset given as ``--params``; ``usage_buckets`` must hold the
same totals and per-minute peaks as a plain pandas computation on the log. Forecasting
needs months of history, which a short request log does not have, so only ingestion runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.project_copy import make_project_copy
from tests.request_log_fixtures import reference_buckets, write_azure_csv

pytestmark = pytest.mark.e2e


def _kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "kedro"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "kedro"]
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_ENV"}
    env.update(KEDRO_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", COLUMNS="200")
    return subprocess.run([*command, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_kedro_run_on_a_request_log(tmp_path):
    project = make_project_copy(tmp_path / "project")
    log, requests = write_azure_csv(tmp_path / "AzureLLMInferenceTrace_code.csv")
    params = (f"request_log_file={log},"  # the format from the name: csv
              "ingestion.request_log.preset=azure,ingestion.request_log.model_name=azure-code")

    result = _kedro(project, "run", "--env", "request_log", "--pipelines", "ingestion", "--params", params)

    assert result.returncode == 0, f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
    buckets = pd.read_parquet(project / "data" / "03_primary" / "usage_buckets.parquet")
    expected = reference_buckets(requests)
    assert list(buckets["series"].unique()) == ["azure-code"]
    for column in ("requests", "input_tokens", "output_tokens", "peak_rpm", "peak_itpm", "peak_otpm"):
        assert buckets[column].tolist() == expected[column].tolist(), column
    assert pd.read_parquet(project / "data" / "03_primary" / "events_calendar.parquet").empty


def test_kedro_run_names_the_file_of_a_bad_request_log(tmp_path):
    project = make_project_copy(tmp_path / "project")
    log = tmp_path / "requests.csv"
    log.write_text("timestamp,model,input_tokens,output_tokens\n2026-01-01 00:00:00,m,5,1\n"
                   "2026-01-01 00:00:01,m,5,-1\n")

    result = _kedro(project, "run", "--env", "request_log", "--pipelines", "ingestion",
                    "--params", f"request_log_file={log}")

    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert f"raw_usage({log})" in output.replace(" ", ""), output[-3000:]  # rich may wrap the path
    assert "'output_tokens' has invalid values at lines [3]: [-1]" in output, output[-3000:]
