"""The report's method section: what it says about series the folds do not cover."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.forecasting.layout import plan_layout
from tokenplan.reporting.forecast_method_section import render_method_section

METRICS = pd.DataFrame({"series": ["all"], "target": ["requests"], "method": ["chosen"], "mase": [1.0],
                        "wape": [0.5], "coverage": [0.8], "n": [100]})


def _history() -> pd.DataFrame:
    ds = pd.date_range("2026-06-01", periods=120, freq="D")
    old = pd.DataFrame({"series": "model-a", "target": "requests", "ds": ds, "y": 1000.0})
    new = pd.DataFrame({"series": "model-b", "target": "requests", "ds": ds, "y": np.nan})
    new.loc[110:, "y"] = 500.0  # a model adopted ten days before the export ends
    return pd.concat([old, new], ignore_index=True)


def test_a_series_no_tuning_fold_covers_is_named_with_its_borrowed_intervals():
    history = _history()
    layout = plan_layout(history, "D", "quarter").to_dict()
    selection = {"methods": {"model-a|requests": "mstl"}}
    section = render_method_section(layout, selection, METRICS, ["p10", "p50", "p90"], history)
    assert "**No method chosen on evidence for model-b (history from 2026-09-19)**" in section
    assert "forecast by the default ensemble" in section and "borrowed" in section
    assert "model-a (history" not in section
    covered = render_method_section(layout, {"methods": {"model-a|requests": "mstl", "model-b|requests": "mstl"}},
                                    METRICS, ["p10", "p50", "p90"], history)
    assert "No method chosen on evidence" not in covered


def test_a_series_no_baseline_scored_raises_no_pandas_warning():
    import warnings

    from tests.pipelines.reporting.test_user_run import _backtest
    from tokenplan.forecasting.diagnostics import where_model_loses
    from tokenplan.reporting.forecast_method_section import baseline_wins

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert baseline_wins(_backtest()).empty
        table = where_model_loses(_backtest())
    unscored = table[(table["series"] == "claude-sonnet-4-5/ws-03") & (table["target"] != "cache_write_tokens")]
    assert unscored["best_baseline"].isna().all()


def test_a_lost_series_whose_forecast_uses_the_winning_baseline_says_so():
    rows = [("model-a", "chosen", 0.62), ("model-a", "mstl", 0.44), ("model-b", "chosen", 0.9), ("model-b", "mstl", 0.5)]
    metrics = pd.DataFrame([{"series": s, "target": "requests", "method": m, "mase": v, "wape": 0.1, "coverage": 0.8,
                             "n": 50} for s, m, v in rows])
    selection = {"methods": {"model-a|requests": "mstl", "model-b|requests": "ensemble"}}

    section = render_method_section({}, selection, metrics, ["p10", "p50", "p90"], _history())

    assert "model-a requests (chosen 0.62 vs mstl 0.44; the forecast uses it, chosen on every fold)" in section
    assert "model-b requests (chosen 0.90 vs mstl 0.50)" in section
