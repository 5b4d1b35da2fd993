"""A Console export read by ingestion and priced by the wired planning nodes, on a known forecast."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.planning.totals_fixture import TOKENS, forecast_totals
from tokenplan.datasets import AnthropicConsoleCSVDataset
from tokenplan.forecasting.target_series import resample_targets
from tokenplan.pipelines.ingestion.nodes import build_usage_buckets
from tokenplan.pipelines.planning.pipeline import create_pipeline
from tokenplan.planning.prices import PRICE_TABLE_COLUMNS

PROJECT_ROOT = Path(__file__).resolve().parents[3]
OUTPUTS = ("model_prices", "cost_forecast", "route_rates", "route_costs", "history_costs")


class Kept(MemoryDataset):
    """A memory dataset the runner does not release, so a test reads it after the run."""

    def _release(self) -> None:
        pass


def priced_catalog(export: AnthropicConsoleCSVDataset) -> DataCatalog:
    """The catalog after the price, cost, route and history nodes ran on ``export`` and ``forecast_totals``."""
    usage = build_usage_buckets(export.load(), {"timezone": "UTC", "bucket": "D", "series_dimensions": [],
                                                "model_aliases": {}})
    series = tuple(sorted(usage["series"].unique()))
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_planning.yml").read_text())["planning"]
    catalog = DataCatalog()
    catalog["usage_buckets"] = usage
    catalog["forecast_totals"] = forecast_totals(series)
    catalog["target_series"] = resample_targets(usage, "D", list(TOKENS))
    catalog["price_table"] = pd.DataFrame(columns=PRICE_TABLE_COLUMNS)
    catalog["params:planning"] = params
    catalog["params:training"] = {"quantiles": [0.1, 0.5, 0.9]}
    for name in OUTPUTS:
        catalog[name] = Kept()
    nodes = create_pipeline().only_nodes("price_models", "estimate_costs", "compute_route_rates",
                                         "compute_route_costs", "compute_history_rates",
                                         "price_history")
    SequentialRunner().run(nodes, catalog)
    return catalog
