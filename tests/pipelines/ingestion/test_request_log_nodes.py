"""``build_usage_buckets`` on a request-level log (an Ibis table) instead of bucketed usage."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from tests.request_log_fixtures import reference_buckets, write_azure_csv, write_litellm_parquet
from tokenplan.pipelines.ingestion import create_pipeline
from tokenplan.pipelines.ingestion.nodes import build_usage_buckets
from tokenplan.schemas import COUNT_COLUMNS, PEAK_COLUMNS, InvalidInputError
from tokenplan.ingestion.source_labels import label_source

SOURCE = "raw_usage (data/01_raw/requests.csv)"


def _params(**request_log) -> dict:
    return {"timezone": "UTC", "bucket": "h", "series_dimensions": [], "model_aliases": {},
            "request_log": {"preset": None, **request_log}}


def _table(path, reader: str = "read_csv"):
    table = getattr(ibis.duckdb.connect(), reader)(str(path))
    label_source(table, SOURCE, first_line=2)  # what the project's hook does on load of a CSV
    return table


def test_request_log_becomes_canonical_usage_buckets_with_peaks(tmp_path):
    path, requests = write_azure_csv(tmp_path / "trace.csv")

    buckets = build_usage_buckets(_table(path), _params(preset="azure", model_name="azure-code"))

    assert list(buckets.columns[:2]) == ["timestamp", "series"]
    assert str(buckets["timestamp"].dtype) == "datetime64[ns, UTC]"
    for column in (*COUNT_COLUMNS, *PEAK_COLUMNS):
        assert buckets[column].dtype == np.float64, column
    assert buckets["cache_read_tokens"].isna().all()  # the trace has no cache columns: unknown
    expected = reference_buckets(requests)
    pd.testing.assert_frame_equal(buckets[expected.columns.drop("model")].reset_index(drop=True),
                                  expected.drop(columns="model"), check_dtype=False)


def test_an_hour_without_requests_inside_the_log_is_zero_requests(tmp_path):
    log = pd.DataFrame({"timestamp": ["2026-01-01 00:10", "2026-01-01 00:50", "2026-01-01 03:05",
                                      "2026-01-01 05:00"],
                        "model": ["claude-haiku-4-5"] * 3 + ["claude-sonnet-4-5"],
                        "input_tokens": [5, 6, 7, 8], "output_tokens": [1, 2, 3, 4]})
    log.to_csv(tmp_path / "requests.csv", index=False)

    buckets = build_usage_buckets(_table(tmp_path / "requests.csv"), _params())

    haiku = buckets[buckets["series"] == "claude-haiku-4-5"]
    assert len(haiku) == 6
    assert haiku["requests"].tolist() == [2.0, 0.0, 0.0, 1.0, 0.0, 0.0]  # after its last request: none, to 05:00
    assert haiku.iloc[1:3][["input_tokens", "output_tokens", "peak_rpm"]].eq(0).all().all()
    # A series gains no zeros before its first request (a model launched mid-log).
    assert buckets[buckets["series"] == "claude-sonnet-4-5"]["requests"].tolist() == [1.0]


def test_series_dimensions_and_model_aliases_apply_to_request_logs(tmp_path):
    path, _ = write_litellm_parquet(tmp_path / "spend_logs.parquet", n=400)
    params = _params(preset="litellm")
    params.update(series_dimensions=["team_id"], model_aliases={"claude-haiku-4-5": "haiku"})

    buckets = build_usage_buckets(_table(path, "read_parquet"), params)

    assert {s.split("/")[0] for s in buckets["series"]} == {"claude-sonnet-4-5", "haiku"}
    assert "haiku/(none)" in set(buckets["series"])


def test_bad_request_log_names_the_file_from_the_catalog(tmp_path):
    log = pd.DataFrame({"timestamp": ["2026-01-01 00:10", "2026-01-01 00:11"], "model": "m",
                        "input_tokens": [5, -6], "output_tokens": [1, 2]})
    log.to_csv(tmp_path / "requests.csv", index=False)

    with pytest.raises(InvalidInputError, match=r"raw_usage \(data/01_raw/requests.csv\): column 'input_tokens' "
                                                r"has invalid values at lines \[3\]: \[-6\]"):
        build_usage_buckets(_table(tmp_path / "requests.csv"), _params())


def test_ingestion_pipeline_runs_on_a_request_log(tmp_path):
    path, requests = write_litellm_parquet(tmp_path / "spend_logs.parquet", n=500)
    catalog = DataCatalog({
        # An Ibis table is bound to its connection: hand it over as is, not a deep copy.
        "raw_usage": MemoryDataset(ibis.duckdb.connect().read_parquet(str(path)), copy_mode="assign"),
        "raw_events": MemoryDataset(pd.DataFrame(columns=["start", "end", "name", "kind", "scope"])),
        "params:ingestion": MemoryDataset(_params(preset="litellm")),
    })

    outputs = SequentialRunner().run(Pipeline([create_pipeline()]), catalog)

    buckets = outputs["usage_buckets"].load()
    assert buckets["requests"].sum() == len(requests)
    assert set(buckets["series"]) == {"claude-sonnet-4-5", "claude-haiku-4-5"}


def test_what_the_log_held_reaches_usage_buckets_attrs(tmp_path):
    log = pd.DataFrame({"timestamp": ["2026-01-01 00:10", "2026-01-01 00:10", "2026-01-01 00:20", "2026-01-01 02:05"],
                        "request_id": ["a", "a", "b", "c"], "model": "claude-haiku-4-5",
                        "status": ["ok", "ok", "error", "ok"], "input_tokens": [5, 5, 6, 7], "output_tokens": 1})
    log.to_csv(tmp_path / "requests.csv", index=False)

    buckets = build_usage_buckets(_table(tmp_path / "requests.csv"), _params())

    assert buckets.attrs["request_log"] == {"rows": 4, "requests": 3, "duplicates_removed": 1,
                                            "duplicates_by": "request id", "failed_requests": 1,
                                            "failed_tokens_counted": False}
