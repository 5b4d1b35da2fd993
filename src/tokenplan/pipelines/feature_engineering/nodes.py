"""Feature engineering nodes: canonical usage -> forecast targets -> model input table."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tokenplan.features import make_examples, origin_grid, spec_from_params
from tokenplan.target_series import resample_targets


def build_target_series(usage_buckets: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """``usage_buckets`` -> long ``series, target, ds, y`` at the forecast frequency."""
    return resample_targets(usage_buckets, params["freq"], params["targets"], params["min_observed_fraction"])


def build_model_input_table(target_series: pd.DataFrame, events_calendar: pd.DataFrame,
                            params: dict[str, Any]) -> pd.DataFrame:
    """Origin-anchored examples for every origin on the grid, the last one being the forecast origin."""
    spec = spec_from_params(params)
    origins = origin_grid(target_series, spec, every=params["origin_every"])
    if not origins:
        raise ValueError(f"history too short: need more than {spec.warmup} {spec.freq} steps of warm-up")
    return make_examples(target_series, events_calendar, origins, spec)
