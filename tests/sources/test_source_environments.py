"""The shipped source environments build their catalog from configuration alone."""

from __future__ import annotations

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from tests.project_copy import PROJECT_ROOT
from tokenplan.datasets import (
    AnthropicConsoleCSVDataset,
    AnthropicUsageDataset,
    OpenAIUsageDataset,
    UsageFolderDataset,
)

pytestmark = pytest.mark.filterwarnings("ignore:register_new_resolver")

ENVIRONMENTS = {
    "anthropic_api": (AnthropicUsageDataset, {"starting_at": "2026-01-01T00:00:00Z"}, "auto"),
    "openai_api": (OpenAIUsageDataset, {"lookback_days": 30}, "auto"),
    "anthropic_console": (AnthropicConsoleCSVDataset, {"usage_file": "exports/claude_api_usage.csv"}, "D"),
    "usage_folder": (UsageFolderDataset, {"usage_folder": "exports/usage"}, "auto"),
}


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_environment_builds_raw_usage_and_keeps_base_parameters(env):
    dataset_type, runtime_params, bucket = ENVIRONMENTS[env]
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local", env=env,
                               runtime_params=runtime_params, merge_strategy={"parameters": "soft"})

    catalog = DataCatalog.from_config(loader["catalog"])

    assert isinstance(catalog["raw_usage"], dataset_type)
    assert loader["parameters"]["ingestion"]["bucket"] == bucket
    assert loader["parameters"]["ingestion"]["timezone"] == "UTC"  # merged, not replaced


def test_api_window_comes_from_runtime_params():
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local",
                               env="anthropic_api", runtime_params={
                                   "starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-04-01T00:00:00Z",
                                   "anthropic_base_url": "http://127.0.0.1:9"})

    description = DataCatalog.from_config(loader["catalog"])["raw_usage"]._describe()

    assert description["path"] == "http://127.0.0.1:9/v1/organizations/usage_report/messages"
    assert (description["starting_at"], description["ending_at"]) == ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z")


@pytest.mark.parametrize(("env", "path", "explicit", "expected"), [
    ("request_log", "logs/trace.csv", None, "csv"),
    ("request_log", "logs/2026-*.CSV.gz", None, "csv"),
    ("request_log", "logs/spend.parquet", None, "parquet"),
    ("request_log", "logs/trace.csv", "parquet", "parquet"),
    ("spark", "logs/", None, "parquet"),
    ("spark", "logs/*.csv", None, "csv"),
])
def test_a_request_log_is_read_in_the_format_its_name_says_unless_told(env, path, explicit, expected):
    from tokenplan.settings import CONFIG_LOADER_ARGS

    params = {"request_log_file": path, **({"request_log_format": explicit} if explicit else {})}
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env=env, runtime_params=params,
                               **{k: v for k, v in CONFIG_LOADER_ARGS.items()})

    assert loader["catalog"]["raw_usage"]["file_format"] == expected
