"""The command that repeats a run, from Kedro's run parameters."""

from __future__ import annotations

import shlex

from tokenplan.run_record import command_line, run_record


def test_the_command_gives_back_the_environment_pipelines_and_dotted_params():
    params = {"usage_file": "/data/usage 2026.csv", "feature_engineering": {"freq": "h", "horizon": 168},
              "ingestion": {"series_dimensions": ["workspace"], "timestamp_format": None}}
    line = command_line("usage_csv", params, ["__default__"])
    assert shlex.split(line) == ["kedro", "run", "--env", "usage_csv", "--params",
                                 "usage_file=/data/usage 2026.csv,feature_engineering.freq=h,"
                                 "feature_engineering.horizon=168,ingestion.series_dimensions=[\"workspace\"],"
                                 "ingestion.timestamp_format=null"]


def test_the_default_environment_and_pipeline_are_left_out():
    assert command_line("local", {}, None) == "kedro run"
    assert command_line(None, {}, ["monitor"]) == "kedro run --pipelines monitor"


def test_two_pipelines_are_one_pipelines_list_as_kedro_reads_it():
    # Kedro 1.x reads one ``--pipeline`` name (deprecated) and a comma-separated ``--pipelines`` list
    assert command_line(None, {}, ["ingestion", "feature_engineering"]) == \
        "kedro run --pipelines ingestion,feature_engineering"


def test_the_record_names_the_versions_that_computed_the_numbers():
    record = run_record({"env": "anthropic_console", "runtime_params": {"usage_file": "export.csv"},
                         "pipeline_names": None, "run_id": "2026-12-06T18.00.00.000Z"})
    assert record["command"] == "kedro run --env anthropic_console --params usage_file=export.csv"
    assert {"kedro", "xgboost", "genai-prices"} <= set(record["versions"])
    assert record["pipelines"] == ["__default__"] and record["run_id"] == "2026-12-06T18.00.00.000Z"
