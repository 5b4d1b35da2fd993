"""The routes section's wording: a route that does not save is never said to save."""

from __future__ import annotations

import pandas as pd

from tokenplan.reporting.routes_section import _saving


def test_a_route_costing_more_than_the_baseline_is_not_said_to_save():
    horizon = pd.Series({"official_api": 1_000.0, "prompt_caching": 1_200.0, "batch_api": 800.0})
    assert _saving(horizon, "official_api", "batch_api") | {} == {
        "cost": "$800", "saving": "$200", "saving_share": "20.0%", "saves": True, "extra": "-$200"}
    dearer = _saving(horizon, "official_api", "prompt_caching")
    assert not dearer["saves"] and dearer["extra"] == "$200"


def test_a_route_that_prices_none_of_the_usage_differently_is_shown_as_not_applying():
    from types import SimpleNamespace

    from tests.reporting import report_fixtures as fx
    from tokenplan.reporting.routes_section import NOT_APPLICABLE, _roi_table

    summary = fx.roi_summary().assign(kind=["batch", "reseller"], months=12, months_extrapolated=0,
                                      break_even_saving_share=0.1, break_even_credit_rate=float("nan"),
                                      applies=[True, False], payback_month_p10=[2.0, 6.0])
    inputs = SimpleNamespace(roi_summary=summary, quantile_names=fx.Q,
                             params={"routes": {"definitions": [{"name": "batch"}, {"name": "relay"}]}})
    rows = {line.split("|")[1].strip(): line for line in _roi_table(inputs).splitlines()[2:]}
    assert NOT_APPLICABLE in rows["relay"] and "$4,000" not in rows["relay"] and "nan" not in rows["relay"]
    assert "$7,000" in rows["batch"]
