"""The per-month driver breakdown adds up to the model's forecast and shows stated effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokenplan.forecasting.explanations import FORECAST, GROWTH, LEVEL, forecast_drivers, shap_sample

DAYS = pd.date_range("2026-10-01", "2026-11-30", freq="D")
LEVEL_AT_ORIGIN = 100.0


def _events() -> pd.DataFrame:
    return pd.DataFrame({
        "start": pd.to_datetime(["2026-11-01", "2026-09-01", "2026-10-10"], utc=True),
        "end": pd.to_datetime(["2026-12-01", "2027-03-01", "2026-10-12"], utc=True),
        "name": ["November launch", "Old launch", "Unsized campaign"],
        "kind": ["launch", "launch", "campaign"],
        "scope": ["m", "m", None],
        "effect": [1.5, 2.0, np.nan],
    })


def _rows_and_values(bias: float = 0.05):
    stated = np.log(2.0) + np.where(DAYS >= "2026-11-01", np.log(1.5), 0.0)
    rows = pd.DataFrame({"series": "m", "target": "requests", "ds": DAYS, "stated_effect": stated,
                         "anchor": np.log1p(LEVEL_AT_ORIGIN * np.exp(stated))})
    values = pd.DataFrame({"seasonal_index": 0.1, "day_of_week": 0.0, "weekly_growth": -0.02,
                           "is_holiday": np.where(DAYS == "2026-11-26", -0.3, 0.0),
                           "campaign": np.where((DAYS >= "2026-10-10") & (DAYS < "2026-10-12"), 0.2, 0.0)},
                          index=rows.index)
    return rows, values, bias


def test_drivers_add_up_to_the_models_forecast_and_anchor():
    rows, values, bias = _rows_and_values()
    drivers = forecast_drivers(rows, values, bias, _events(), "D").set_index(["period", "driver"])
    prediction = np.expm1(rows["anchor"] + bias + values.sum(axis=1))
    october = DAYS.month == 10
    assert drivers.loc[("2026-10", FORECAST), "volume"] == pytest.approx(prediction[october].sum())
    assert drivers.loc[("2026-11", LEVEL), "volume"] == pytest.approx(LEVEL_AT_ORIGIN * 30)
    assert drivers.loc[("2026-11", GROWTH), "effect"] == 0  # no anchor_level column: a flat anchor
    # A constant contribution is an exact multiplier on every day of the month.
    assert drivers.loc[("2026-10", "seasonality"), "effect"] == pytest.approx(np.exp(0.1) - 1)
    # The bias joins the level correction.
    assert drivers.loc[("2026-10", "level and growth correction"), "effect"] == pytest.approx(np.exp(0.03) - 1)
    assert drivers.loc[("2026-10", "calendar (holidays)"), "effect"] == 0
    assert drivers.loc[("2026-11", "calendar (holidays)"), "effect"] < 0
    assert drivers.loc[("2026-10", "campaigns (learned size)"), "effect"] > 0
    assert drivers.loc[("2026-11", "campaigns (learned size)"), "volume"] == 0


def test_a_months_row_multiplies_out_to_its_forecast():
    """Effects are averaged over the month's days: with drivers that vary from day to day together, their
    product missed the forecast by 8% on the demo; the interplay row takes up the rest."""
    rows, values, bias = _rows_and_values()
    values["day_of_week"] = np.where(DAYS.dayofweek >= 5, -0.6, 0.2)
    values["weekly_growth"] = np.linspace(0.0, 0.5, len(DAYS)) * (DAYS.dayofweek < 5)
    drivers = forecast_drivers(rows, values, bias, _events(), "D")
    for _, month in drivers.groupby(["series", "target", "period"]):
        forecast = month.loc[month["kind"] == "total", "volume"].iloc[0]
        level = month.loc[month["kind"] == "anchor", "volume"].iloc[0]
        effects = month.loc[~month["kind"].isin(["total", "anchor"]), "effect"]
        assert level * np.prod(1 + effects) == pytest.approx(forecast, rel=1e-9)
    interplay = drivers[drivers["kind"] == "residual"]
    assert len(interplay) == 2 and (interplay["effect"].abs() > 1e-4).all()


def test_each_stated_event_is_its_own_driver_at_its_stated_size():
    rows, values, bias = _rows_and_values()
    drivers = forecast_drivers(rows, values, bias, _events(), "D").set_index(["period", "driver"])
    planned, old = "November launch (stated x1.50)", "Old launch (stated x2.00)"
    assert drivers.loc[("2026-10", planned), "effect"] == pytest.approx(0.0)
    # In log1p space the multiplier scales the count, so the effect is x1.5 up to the +1.
    assert drivers.loc[("2026-11", planned), "effect"] == pytest.approx(0.5, abs=0.01)
    assert drivers.loc[("2026-11", old), "effect"] == pytest.approx(1.0, abs=0.01)
    assert drivers.loc[("2026-11", planned), "kind"] == "stated"
    assert drivers.loc[("2026-11", old), "kind"] == "stated, in force"
    # What the planned launch adds to November: the forecast less the forecast without it.
    november = drivers.loc[("2026-11", FORECAST), "volume"]
    assert drivers.loc[("2026-11", planned), "volume"] == pytest.approx(november * (1 - 1 / 1.5), rel=0.01)


def test_growth_is_the_trend_anchor_over_the_flat_one():
    rows, values, bias = _rows_and_values()
    growth = np.log1p(np.arange(1, len(rows) + 1) * 0.01)  # about +1% a day, in log1p space
    rows["anchor_level"] = rows["anchor"]
    rows["anchor"] = np.log1p(np.expm1(rows["anchor_level"]) * np.exp(growth))
    drivers = forecast_drivers(rows, values, bias, _events(), "D").set_index(["period", "driver"])
    assert drivers.loc[("2026-10", LEVEL), "volume"] == pytest.approx(LEVEL_AT_ORIGIN * 31)
    assert drivers.loc[("2026-10", GROWTH), "kind"] == "growth"
    assert 0.1 < drivers.loc[("2026-10", GROWTH), "effect"] < drivers.loc[("2026-11", GROWTH), "effect"]
    # The planned launch keeps its stated size on top of the growth.
    assert drivers.loc[("2026-11", "November launch (stated x1.50)"), "effect"] == pytest.approx(0.5, abs=0.01)


def test_drivers_figure_has_a_panel_per_model_and_leaves_out_idle_drivers():
    from tokenplan.reporting.plots import drivers_figure

    rows, values, bias = _rows_and_values()
    drivers = forecast_drivers(rows, values, bias, _events(), "D")
    figure = drivers_figure(drivers)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert len(figure.axes) == 1 and "November launch (stated x1.50)" in labels
    assert "launches (learned size)" not in labels  # zero in every month


def test_a_measured_year_end_is_a_driver_of_its_own_kind_not_a_stated_one():
    rows, values, bias = _rows_and_values()
    events = _events().assign(basis=["stated", "stated", ""])
    events.loc[0, "basis"] = "estimated from 2 past year-end(s): x1.50"  # as calendar_effects writes it
    drivers = forecast_drivers(rows, values, bias, events, "D").set_index(["period", "driver"])
    measured = "November launch (estimated x1.50)"
    assert drivers.loc[("2026-11", measured), "kind"] == "estimated"
    assert drivers.loc[("2026-11", measured), "effect"] == pytest.approx(0.5, abs=0.01)
    assert drivers.loc[("2026-11", "Old launch (stated x2.00)"), "kind"] == "stated, in force"


def _two_series():
    rows, values, bias = _rows_and_values()
    other = rows.assign(series="n", anchor=rows["anchor"] + 1.0)
    both = pd.concat([rows, other], ignore_index=True)
    values = pd.concat([values, values * 2], ignore_index=True).set_axis(both.index)
    return both, values, bias


def test_shap_explains_every_step_up_to_max_rows_then_a_seeded_sample_of_whole_series():
    rows, _, _ = _two_series()
    assert shap_sample(rows, len(rows), seed=0).all()
    sample = shap_sample(rows, len(rows) - 1, seed=0)
    assert 0 < sample.sum() <= len(rows) - 1
    # Whole series-targets: a series drawn has every step.
    assert rows.loc[sample, "series"].nunique() == 1 and sample.sum() == len(DAYS)
    assert (shap_sample(rows, len(rows) - 1, seed=0) == sample).all()
    seeds = {tuple(shap_sample(rows, len(rows) - 1, seed=s)) for s in range(8)}
    assert len(seeds) == 2  # the seed chooses which


def test_drivers_of_a_sample_are_the_full_runs_for_it_and_the_rest_keep_forecast_growth_and_stated():
    rows, values, bias = _two_series()
    full = forecast_drivers(rows, values, bias, _events(), "D")
    explained = rows["series"] == "m"
    margin = bias + values.sum(axis=1).to_numpy()  # the model's log output of every row
    sampled = forecast_drivers(rows, values[explained.to_numpy()], bias, _events(), "D", margin)
    pd.testing.assert_frame_equal(sampled[sampled["series"] == "m"].reset_index(drop=True),
                                  full[full["series"] == "m"].reset_index(drop=True), check_exact=True)
    other, whole = sampled[sampled["series"] == "n"], full[full["series"] == "n"]
    assert not other["kind"].isin(["learned", "residual"]).any()
    kept = whole[~whole["kind"].isin(["learned", "residual"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(other.reset_index(drop=True), kept, rtol=1e-12)


def test_the_report_counts_the_series_targets_a_sampled_shap_explains():
    from tokenplan.reporting.report import shap_coverage

    rows, values, bias = _two_series()
    margin = bias + values.sum(axis=1).to_numpy()
    sampled = forecast_drivers(rows, values[(rows["series"] == "m").to_numpy()], bias, _events(), "D", margin)
    assert shap_coverage(sampled) == {"explained": 1, "forecast": 2}
    assert shap_coverage(forecast_drivers(rows, values, bias, _events(), "D")) is None
