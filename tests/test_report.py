"""The report's events table says, per event, which effect the forecast assumed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.reporting.report import _environment, events_in_horizon, render_html

FIRST, LAST = pd.Timestamp("2026-10-01"), pd.Timestamp("2026-12-30")


def _events(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame({
        "start": pd.to_datetime([r[0] for r in rows], utc=True),
        "end": pd.to_datetime(["2027-06-01"] * len(rows), utc=True),
        "name": [r[1] for r in rows], "kind": [r[2] for r in rows], "scope": "m", "effect": [r[3] for r in rows],
    })


def test_a_planned_event_is_stated_learned_or_unsized_and_the_report_says_which():
    events = _events([
        ("2026-02-01", "old sized launch", "launch", 2.0),      # in force, stated
        ("2026-03-01", "old unsized launch", "launch", np.nan),  # in force, learned from
        ("2026-11-01", "planned sized launch", "launch", 1.3),
        ("2026-12-01", "planned unsized launch", "launch", np.nan),
        ("2026-12-05", "planned campaign", "campaign", np.nan),  # no past campaign at all
    ])

    assumed = events_in_horizon(events, FIRST, LAST).set_index("name")["effect assumed"]

    assert assumed["old sized launch"] == "x2.00 (stated in the calendar)"
    assert assumed["old unsized launch"] == "in the recent level already"
    assert assumed["planned sized launch"] == "x1.30 (stated in the calendar)"
    # Only the one past launch without a stated effect is something the model learns from.
    assert assumed["planned unsized launch"] == "learned from 1 past launch(s) without a stated effect"
    assert assumed["planned campaign"] == "none: no past campaign(s) without a stated effect to learn from"


def test_report_html_shows_calendar_names_as_text_not_markup():
    page = render_html("# Plan\n\n| name |\n|---|\n| Launch <v2> <script>alert(1)</script> |\n", {})
    assert "<script>" not in page and "&lt;v2&gt;" in page


def test_the_forecast_figure_marks_suspected_outages_on_the_recorded_history():
    from tokenplan.reporting.plots import forecast_figures

    ds = pd.date_range("2026-06-01", periods=60, freq="D")
    history = pd.DataFrame({"series": "model-a", "target": "requests", "ds": ds, "y": 1000.0})
    history.loc[40, "y"] = 100.0
    future = pd.date_range("2026-07-31", periods=10, freq="D", tz="UTC")
    forecast = pd.DataFrame({"series": "model-a", "target": "requests", "timestamp": future,
                             "p10": 900.0, "p50": 1000.0, "p90": 1100.0})
    outages = pd.DataFrame({"series": ["model-a"], "target": ["requests"], "ds": [ds[40]], "y": [100.0],
                            "expected": [1000.0]})
    figure = forecast_figures(forecast, history, 90, ["p10", "p50", "p90"], "D", outages)["forecast_model-a.png"]
    marks = [line for line in figure.axes[0].get_lines() if line.get_label().startswith("suspected outage")]
    assert len(marks) == 1 and list(marks[0].get_ydata()) == [100.0]
    plain = forecast_figures(forecast, history, 90, ["p10", "p50", "p90"], "D")["forecast_model-a.png"]
    assert not [line for line in plain.axes[0].get_lines() if line.get_label().startswith("suspected outage")]
    # The title states the history shown: all 60 days here, the last 30 when asked for fewer.
    assert "all 60 days of history" in plain._suptitle.get_text()
    shorter = forecast_figures(forecast, history, 30, ["p10", "p50", "p90"], "D")["forecast_model-a.png"]
    assert "last 30 days of history" in shorter._suptitle.get_text()


def test_the_figure_and_the_summary_count_the_same_days_of_history():
    # A partial first and last day (not observed: y NaN) count in neither.
    from tokenplan.reporting.plots import forecast_figures
    from tokenplan.reporting.summary import _history_risk

    ds = pd.date_range("2026-06-01", periods=60, freq="D")
    history = pd.DataFrame({"series": "model-a", "target": "requests", "ds": ds, "y": 1000.0})
    history.loc[[0, 59], "y"] = np.nan
    forecast = pd.DataFrame({"series": "model-a", "target": "requests",
                             "timestamp": pd.date_range("2026-07-30", periods=10, freq="D", tz="UTC"),
                             "p10": 900.0, "p50": 1000.0, "p90": 1100.0})

    figure = forecast_figures(forecast, history, 90, ["p10", "p50", "p90"], "D")["forecast_model-a.png"]
    risk = _history_risk(history, pd.Timestamp("2026-07-30"), pd.Timestamp("2026-08-08"))

    assert "all 58 days of history" in figure._suptitle.get_text()
    assert risk["days"] == 58 and risk["first"] == pd.Timestamp("2026-06-02")


def test_days_of_history_count_the_span_not_the_calendar_dates_it_touches():
    # 14 days of hours from 02:00 to 01:00 touch 15 dates; they are 14 days of history.
    from tokenplan.reporting.data_notes import observed_days

    ds = pd.date_range("2026-06-01 02:00", periods=14 * 24, freq="h")
    history = pd.DataFrame({"series": "model-a", "target": "requests", "ds": ds, "y": 10.0})
    assert observed_days(history) == 14
    assert observed_days(history.iloc[:6]) == 1  # six hours: a day, not none
    assert observed_days(history.assign(y=np.nan)) == 0


def test_the_finite_filter_reads_an_empty_nullable_integer_as_not_a_number():
    # A route that never pays back has an empty Int64 payback month (pd.NA): the summary's
    # "no route pays back" line asks whether it is a number; before, float(pd.NA) stopped the run.
    finite = _environment().filters["finite"]
    assert [finite(v) for v in (pd.NA, None, np.nan, np.inf, 3, 2.5)] == [False, False, False, False, True, True]
    line = _environment().from_string("{% if v | finite %}month {{ v }}{% else %}never{% endif %}")
    assert line.render(v=pd.array([pd.NA], dtype="Int64")[0]) == "never"
