"""Small synthetic inputs shared by several test modules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.forecasting.backtest import fold_origins
from tokenplan.forecasting.features import FeatureSpec, make_examples, origin_grid

NO_EVENTS = pd.DataFrame({"start": pd.Series(dtype="datetime64[ns, UTC]"),
                          "end": pd.Series(dtype="datetime64[ns, UTC]"), "name": [], "kind": [], "scope": []})


def weekly_examples(spec: FeatureSpec, days: int = 170, seed: int = 0) -> tuple[pd.DataFrame, list]:
    """Examples of one noisy daily series with a weekly cycle, and two fold origins 14 days apart."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2025-01-01", periods=days, freq="D")
    weekly = np.array([1.0, 1.2, 1.2, 1.1, 1.0, 0.4, 0.3])[ds.dayofweek]
    series = pd.DataFrame({"series": "m", "target": "requests", "ds": ds,
                           "y": 1e3 * weekly * rng.lognormal(0, 0.2, len(ds))})
    examples = make_examples(series, NO_EVENTS, origin_grid(series, spec, every=7), spec)
    return examples, fold_origins(examples, spec, n_folds=2, step=14)


def usage_csv_rows(days: pd.DatetimeIndex, requests_by_model: dict[str, np.ndarray]) -> pd.DataFrame:
    """A daily usage CSV's rows (``timestamp, model, requests, input_tokens, output_tokens``; 1,100 input and 200
    output tokens a request) for each model's requests per day, a day without requests left out."""
    rows = []
    for model, requests in requests_by_model.items():
        used = requests > 0
        rows.append(pd.DataFrame({"timestamp": days[used].strftime("%Y-%m-%d"), "model": model,
                                  "requests": requests[used].round(), "input_tokens": (requests[used] * 1_100).round(),
                                  "output_tokens": (requests[used] * 200).round()}))
    return pd.concat(rows, ignore_index=True)
