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
