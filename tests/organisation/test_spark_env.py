"""End to end: ``kedro run --env spark`` on ``local[2]`` against the default engines, on one organisation.

A small organisation (three teams, four series, 240 days) is drawn from the simulator
and written as a request-level log of 80,000 requests. In one fresh copy of the
project, ``kedro run --env request_log`` (DuckDB aggregates the log, statsforecast fits
in this process) runs as far as the forecast, then ``kedro run --env spark`` (Ibis's
PySpark backend aggregates it, statsforecast fits on Spark through Fugue) runs the
whole pipeline on it, report included. The usage buckets must be equal exactly; the
forecasts within ``FORECAST_RTOL`` (statsforecast's Spark output holds its points as
32-bit floats; see the constant), with the same method per series. The run's
``spark_run.json`` must show that the log was read by Spark and the fits ran there, so a
run that silently fell back to the local engines fails.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.organisation.spark_fixtures import write_organisation_log
from tests.project_copy import make_project_copy
from tests.test_e2e import _kedro_run

pytestmark = [pytest.mark.e2e, pytest.mark.spark,
              pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (17) on PATH")]

# Relative difference allowed between the two runs' forecast quantiles. MSTL is fitted on
# log1p(y), so a 32-bit rounding of its points (~1e-7 of a log value near 10) is ~1e-6 of
# the forecast after expm1, and the conformal offsets carry it into every method's
# intervals: 1.0e-6 was the largest seen. 1e-5 leaves room and still catches any real
# change of method or fit.
FORECAST_RTOL = 1e-5

# The organisation's settings, the same in both environments: daily buckets split by
# team and key, a four-week horizon and a light tuning so the two runs stay short.
RUN_PARAMETERS = {
    "parameters_ingestion.yml": "ingestion:\n  bucket: D\n  series_dimensions: [workspace, api_key]\n",
    "parameters_feature_engineering.yml": "feature_engineering:\n  horizon: 28\n  trend_weeks: 8\n",
    "parameters_training.yml": (
        "training:\n  backtest:\n    folds: 2\n  tuning:\n"
        "    storage_url: sqlite:///data/06_models/optuna_spark_test.db\n"
        "    n_trials: 2\n    folds: 1\n    step_days: 14\n    timeout_seconds: 60\n"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """Each environment's usage buckets, forecast and (Spark) run record."""
    root = tmp_path_factory.mktemp("spark_env")
    project = make_project_copy(root / "project")
    log = root / "requests.parquet"
    write_organisation_log(log)
    for env in ("request_log", "spark"):
        for name, text in RUN_PARAMETERS.items():
            (project / "conf" / env / name).write_text(text)
    outputs = {}
    # The default engines only as far as the forecast; the Spark run goes end to end.
    for env, pipelines in (("request_log", ["--pipelines", "ingestion,feature_engineering,training"]),
                           ("spark", [])):
        _kedro_run(project, env, *pipelines, "--params", f"request_log_file={log}")
        outputs[env] = {
            "buckets": pd.read_parquet(project / "data" / "03_primary" / "usage_buckets.parquet"),
            "forecast": pd.read_parquet(project / "data" / "07_model_output" / "forecast.parquet"),
        }
    record = project / "data" / "08_reporting" / "spark_run.json"
    outputs["spark"]["record"] = json.loads(record.read_text())
    outputs["spark"]["reports"] = sorted((project / "data" / "08_reporting").glob("*/report.html"))
    return outputs


def test_spark_did_the_heavy_parts(runs):
    record = runs["spark"]["record"]
    assert record["master"] == "local[2]"
    assert record["raw_usage_backend"] == "pyspark"
    assert record["spark_jobs"] > 0
    fits = record["statistical_fits_on_spark"]
    assert fits["calls"] > 0 and fits["series"] > 0
    assert record["statistical_fits_local"]["calls"] == 0
    assert len(runs["spark"]["reports"]) == 1  # the whole pipeline ran, report included


def test_usage_buckets_equal_the_default_run_exactly(runs):
    default, spark = runs["request_log"]["buckets"], runs["spark"]["buckets"]
    assert set(default["workspace"]) == {"search", "support", "labs"}
    pd.testing.assert_frame_equal(spark, default, check_exact=True)
    assert spark.attrs["bucket"] == default.attrs["bucket"] == "D"


def test_forecasts_agree_with_the_default_run(runs):
    keys = ["series", "target", "timestamp"]
    default = runs["request_log"]["forecast"].sort_values(keys, ignore_index=True)
    spark = runs["spark"]["forecast"].sort_values(keys, ignore_index=True)
    assert len(default) == len(spark) > 0
    pd.testing.assert_frame_equal(spark[keys + ["method"]], default[keys + ["method"]])
    for quantile in ("p10", "p50", "p90"):
        np.testing.assert_allclose(spark[quantile], default[quantile], rtol=FORECAST_RTOL, err_msg=quantile)
