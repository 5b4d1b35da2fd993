"""The weekly naive: last week's same hour, where two weeks of hours are too few for the weekly season."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.synthetic import NO_EVENTS
from tests.training_run import FE, TRAINING
from tokenplan.forecasting.candidates import candidate_points
from tokenplan.forecasting.method_choice import MEMBER_ONLY, SelectionRule, choose_methods, ensemble_members_by_evidence
from tokenplan.pipelines.feature_engineering.nodes import build_model_input_table, plan_forecast_layout
from tokenplan.pipelines.training.nodes import spec_from_params


def _weekdays_and_weekends(days: int) -> pd.DataFrame:
    """Hours ending Friday 2026-11-27 23:00, weekends at 30% of weekdays, each hour its own value."""
    hours = pd.date_range(end="2026-11-27 23:00", periods=days * 24, freq="h")
    rng = np.random.default_rng(0)
    level = np.where(hours.dayofweek >= 5, 0.3, 1.0) * (1 + 0.5 * np.sin(2 * np.pi * (hours.hour - 6) / 24))
    return pd.DataFrame({"series": "a", "target": "requests", "ds": hours,
                         "y": np.round(400 * level * rng.lognormal(0, 0.05, len(hours)))})


def test_two_weeks_of_hours_get_last_weeks_same_hour_as_a_candidate():
    series = _weekdays_and_weekends(15)
    fe = {**FE, "freq": "h", "horizon": 48}
    layout = plan_forecast_layout(series, fe, TRAINING)
    assert layout["season"] == 24  # two weeks: no weekly season
    examples = build_model_input_table(series, NO_EVENTS, fe, layout)
    spec = spec_from_params(fe, layout)
    origin = examples["origin"].max()
    points, _ = candidate_points(examples, series, origin, spec, layout["seasons"], None, labelled_only=False)
    weekly = points[points["method"] == "weekly_naive"].sort_values("ds")
    assert len(weekly) == 48
    week_before = series.set_index("ds")["y"].reindex(weekly["ds"] - pd.Timedelta(days=7)).to_numpy()
    np.testing.assert_allclose(weekly["point"].to_numpy(), week_before)
    # The weekend ahead is read off the last one, not off Friday.
    assert weekly["point"].mean() < 0.5 * series["y"].tail(24).mean()
    # Six days before the origin there is no week behind it: no candidate (not the daily naive twice).
    early, _ = candidate_points(examples, series, pd.Timestamp("2026-11-18 23:00"), spec, layout["seasons"], None,
                                labelled_only=False)
    assert "weekly_naive" not in set(early["method"])


def test_the_weekly_naive_joins_the_median_but_never_replaces_it():
    from tests.test_method_choice import _folds

    wins = _folds([{"weekly_naive": 0.01, "mstl": 0.3, "seasonal_naive": 0.35, "ensemble": 0.3}] * 5)
    rule = SelectionRule(min_folds=3, margin=0.05, z=1.0, min_win_share=0.66, min_series=3)
    assert "weekly_naive" in MEMBER_ONLY
    assert choose_methods(wins, rule) == {"m|requests": "ensemble"}
    assert ensemble_members_by_evidence(wins, 3)["m|requests"][0] == "weekly_naive"
    # Any other method with that record replaces the ensemble.
    other = wins.assign(method=wins["method"].replace({"weekly_naive": "lag_xgboost"}))
    assert choose_methods(other, rule) == {"m|requests": "lag_xgboost"}
