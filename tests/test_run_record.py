"""The command that repeats a run, from Kedro's run parameters."""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path

from tokenplan.run_record import command_line, config_files, needs_config_file, run_config, run_record, written_out


def _kedro_reads(line: str, cwd: Path) -> dict:
    """The options ``kedro run`` takes from ``line`` (Kedro's own parser, run from ``cwd``; nothing is run)."""
    from kedro.framework.cli.project import run

    argv = shlex.split(line)
    assert argv[:2] == ["kedro", "run"]
    with contextlib.chdir(cwd):
        return run.make_context("run", argv[2:]).params


def test_the_command_gives_back_the_environment_pipelines_and_dotted_params(tmp_path):
    params = {"usage_file": "/data/usage 2026.csv", "feature_engineering": {"freq": "h", "horizon": 168},
              "ingestion": {"timestamp_format": None}}
    line = command_line("usage_csv", params, ["__default__"])
    assert shlex.split(line) == ["kedro", "run", "--env", "usage_csv", "--params",
                                 "usage_file=/data/usage 2026.csv,feature_engineering.freq=h,"
                                 "feature_engineering.horizon=168,ingestion.timestamp_format=null"]
    read = _kedro_reads(line, tmp_path)
    assert read["env"] == "usage_csv" and read["params"] == params
    assert "run_config" not in run_record({"env": "usage_csv", "runtime_params": params})


def test_a_list_in_the_params_is_repeated_by_the_report_folders_run_yml(tmp_path):
    """``--params`` splits at every comma, so two series dimensions stopped the printed command (rc 2): the command
    is ``kedro run --config`` on the report folder's run.yml, which gives Kedro the same parameters back."""
    params = {"usage_file": "/data/usage, 2026.csv", "ingestion": {"series_dimensions": ["workspace", "api_key"]}}
    record = run_record({"env": "usage_csv", "runtime_params": params, "pipeline_names": ["__default__"],
                         "tags": None, "run_id": "2026-12-08T00.38.17.552Z"},
                        "data/08_reporting/2026-12-08T00.38.17.552Z/run.yml")
    assert record["command"] == "kedro run --config data/08_reporting/2026-12-08T00.38.17.552Z/run.yml"
    folder = tmp_path / "data/08_reporting/2026-12-08T00.38.17.552Z"
    folder.mkdir(parents=True)
    for name, text in config_files(record).items():
        (folder / name).write_text(text)
    read = _kedro_reads(record["command"], tmp_path)
    assert read["env"] == "usage_csv" and read["params"] == params and read["pipelines"] == []
    # A comma alone (a path) needs the file too; pipelines and tags go in it as the options take them.
    assert needs_config_file({"usage_file": "/data/usage, 2026.csv"}) and not needs_config_file({"a": "b"})
    (tmp_path / "run.yml").write_text(config_files({"run_config": run_config(
        None, {"usage_file": "a,b.csv"}, ["ingestion", "feature_engineering"], ["t1", "t2"])})["run.yml"])
    read = _kedro_reads(command_line(None, {"usage_file": "a,b.csv"}, None), tmp_path)
    assert read["params"] == {"usage_file": "a,b.csv"} and read["pipelines"] == ["ingestion", "feature_engineering"]
    assert read["tags"] == ["t1", "t2"]
    assert written_out("usage_csv", params).startswith("kedro run --config run.yml (run.yml: {run: {env: usage_csv")


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
