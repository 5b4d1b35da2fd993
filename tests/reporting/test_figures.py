"""The report's figures as a reader sees them: their tick labels, offset text and notes, read back."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.reporting.plots import drivers_figure, forecast_figures
from tokenplan.reporting.route_figures import cashflow_figure, route_cost_figure, tornado_figure

Q = ["p10", "p50", "p90"]


def _ticks(ax, axis: str = "y") -> tuple[list[str], str]:
    """The visible tick labels of ``ax``'s axis and its offset text ("1e7"), after drawing."""
    ax.figure.canvas.draw()
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    labels = [t.get_text() for t, v in zip(target.get_ticklabels(), target.get_ticklocs(), strict=True)
              if lo <= v <= hi]
    return labels, target.get_offset_text().get_text()


def _assert_readable(ax, axis: str = "y") -> list[str]:
    labels, offset = _ticks(ax, axis)
    assert offset == "", f"offset notation on the {axis} axis: {offset!r}"
    assert not [label for label in labels if "e+" in label or "e-" in label or label.startswith("1e")], labels
    assert len(set(labels)) == len(labels), f"ticks that read the same: {labels}"
    return labels


def test_route_figures_in_large_usd_have_no_offset_notation():
    periods = ["2026-10", "2026-11", "2026-12"]
    costs = pd.DataFrame([{"route": r, "model": "m", "period": p, "p10": 9e6 * f, "p50": 1e7 * f, "p90": 1.2e7 * f}
                          for r, f in (("official_api", 1.0), ("batch_api", 0.8)) for p in periods])
    _assert_readable(route_cost_figure(costs, Q).axes[0])

    flow = pd.DataFrame({"route": "batch_api", "month": np.arange(1, 13), "extrapolated": np.arange(1, 13) > 3,
                         **{f"cumulative_{q}": np.arange(1, 13) * 2e6 * f for q, f in zip(Q, (0.9, 1, 1.1))}})
    summary = pd.DataFrame({"route": ["batch_api"], "one_time_cost_usd": [5e6], "payback_month_p50": [3.0]})
    _assert_readable(cashflow_figure(flow, summary, Q).axes[0])

    sensitivity = pd.DataFrame({"route": "batch_api", "input": ["eligible share", "one-time cost"],
                                "low": ["0.24", "$4M"], "high": ["0.36", "$6M"], "npv_base": 2.0e7,
                                "npv_low": [1.5e7, 2.1e7], "npv_high": [2.5e7, 1.9e7]})
    _assert_readable(tornado_figure(sensitivity).axes[0], "x")


def test_routes_paying_back_in_the_same_month_share_one_marker_naming_both():
    months = np.arange(1, 13)
    cumulative = {f"cumulative_{q}": months * 1e3 * f for q, f in zip(Q, (0.9, 1, 1.1), strict=True)}
    flow = pd.concat([pd.DataFrame({"route": r, "month": months, "extrapolated": False, **cumulative})
                      for r in ("batch_api", "prompt_caching")], ignore_index=True)
    summary = pd.DataFrame({"route": ["batch_api", "prompt_caching"], "one_time_cost_usd": [2.5e3, 2.6e3],
                            "payback_month_p50": [3.0, 3.0]})
    ax = cashflow_figure(flow, summary, Q).axes[0]
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["payback month 3 (batch_api, prompt_caching)"]


def _forecast(targets: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    ds = pd.date_range("2026-06-01", periods=60, freq="D")
    history = pd.DataFrame([{"series": "m", "target": t, "ds": d, "y": v} for t, v in targets.items() for d in ds])
    future = pd.date_range("2026-07-31", periods=30, freq="D", tz="UTC")
    forecast = pd.DataFrame([{"series": "m", "target": t, "timestamp": d, "p10": 0.9 * v, "p50": v, "p90": 1.1 * v}
                             for t, v in targets.items() for d in future])
    return forecast, history


def test_an_all_zero_panel_has_one_zero_tick_and_says_it_is_all_zero():
    forecast, history = _forecast({"requests": 3e7, "cache_write_tokens": 0.0, "output_tokens": 0.3})
    figure = forecast_figures(forecast, history, 90, Q)["forecast_m.png"]
    requests, cache_write, output = figure.axes[:3]
    assert "M" in "".join(_assert_readable(requests))
    assert _assert_readable(cache_write) == ["0"]
    assert any("all zero" in text.get_text() for text in cache_write.texts)
    assert len(_assert_readable(output)) > 2  # small values: decimals, not a column of "0"
    # The note stays inside its panel (one line ran over the y-axis label of a three-column figure).
    renderer = figure.canvas.get_renderer()
    note = next(t for t in cache_write.texts if "all zero" in t.get_text()).get_window_extent(renderer)
    panel = cache_write.get_window_extent(renderer)
    assert panel.x0 <= note.x0 and note.x1 <= panel.x1, (note, panel)


def _drivers() -> pd.DataFrame:
    rows = []
    for period, growth in (("2026-10", 0.02), ("2026-11", 0.05), ("2026-12", 0.08)):
        rows += [("model-a", period, "level at the origin", "anchor", np.nan),
                 ("model-a", period, "seasonality", "learned", 0.03),
                 ("model-a", period, "growth (trend anchor)", "growth", growth),
                 ("model-a", period, "Old launch (stated x1.95)", "stated, in force", 0.95)]
    frame = pd.DataFrame(rows, columns=["series", "period", "driver", "kind", "effect"])
    return frame.assign(target="requests", volume=1.0)


def test_the_drivers_chart_leaves_a_standing_event_out_of_the_bars_and_names_every_model():
    figure = drivers_figure(_drivers(), "requests", not_explained={"model-b": "MSTL"})
    ax = figure.axes[0]
    drivers = [t.get_text() for t in ax.get_yticklabels()]
    assert "Old launch (stated x1.95)" not in drivers and "growth (trend anchor)" in drivers
    # The bars stay on the scale of what moves the months (here under +10%).
    assert max(abs(v) for v in ax.get_xlim()) < 0.2
    assert "not drawn: Old launch (stated x1.95), in force before the horizon (+95.0%" in ax.get_title(loc="left")
    # On the level the table's column multiplies too: one with the event divided out, not "the recent usage".
    assert "which has it divided out" in ax.get_title(loc="left")
    assert "in the recent usage already" not in ax.get_title(loc="left")
    labels = _assert_readable(ax, "x")
    assert all(label.endswith("%") for label in labels)
    notes = " ".join(t.get_text() for t in figure.texts)
    assert "model-b (forecast by MSTL)" in notes


def test_tick_labels_write_each_tick_exactly():
    from tokenplan.reporting.plots import HumanFormatter

    formatter = HumanFormatter()
    formatter.set_locs([0, 2.5e6, 5e6, 7.5e6, 1e7])
    assert [formatter(v) for v in (0, 2.5e6, 5e6, 7.5e6, 1e7)] == ["0", "2.5M", "5.0M", "7.5M", "10.0M"]
    formatter.set_locs([0, 5_000, 10_000, 15_000])  # one suffix for the axis: not "5,000" beside "10K"
    assert [formatter(v) for v in (5_000, 10_000, 15_000)] == ["5K", "10K", "15K"]
    formatter.set_locs([0.0, 0.05, 0.1])
    assert formatter(0.05) == "0.05"


def test_a_capacity_figure_in_millions_has_no_offset_and_marks_the_first_days_over():
    from tokenplan.planning.capacity_plots import capacity_figure

    days = pd.date_range("2026-10-01", periods=30, freq="D")
    forecast = pd.DataFrame({"ds": days, "metric": "itpm", "p50": 1.2e6, "p90": 1.8e6, "limit": 2.0e6})
    history = pd.DataFrame({"ds": days - pd.Timedelta(days=30), "metric": "itpm", "peak": 1.1e6})
    plan = pd.DataFrame({"metric": ["itpm"], "period": ["horizon"], "first_crossing_p90": [pd.Timestamp("2026-10-12")],
                         "first_crossing_p50": [pd.NaT]})
    axis = capacity_figure("Opus", forecast, history, 60, plan).axes[0]
    assert "2.0M" in _assert_readable(axis)
    marked = [line for line in axis.get_lines() if line.get_label().startswith("limit hit by here, 1 in 10 (P90)")]
    assert len(marked) == 1 and pd.Timestamp(marked[0].get_xdata()[0]) == pd.Timestamp("2026-10-12")
    assert not [line for line in axis.get_lines() if "(P50)" in line.get_label()]


def test_a_capacity_figure_without_history_has_no_history_line_called_measured():
    from tokenplan.planning.capacity_plots import capacity_figure

    days = pd.date_range("2026-10-01", periods=30, freq="D")
    forecast = pd.DataFrame({"ds": days, "metric": "rpm", "p50": 40.0, "p90": 60.0, "limit": 100.0})
    history = pd.DataFrame({"ds": pd.Series(dtype="datetime64[ns]"), "metric": pd.Series(dtype=str),
                            "peak": pd.Series(dtype=float), "measured": pd.Series(dtype=bool)})
    labels = [line.get_label() for line in capacity_figure("m", forecast, history, 60).axes[0].get_lines()]
    assert not [label for label in labels if label.startswith("history")], labels


def _lines(axis) -> dict[str, object]:
    return {line.get_label(): line for line in axis.get_lines()}


def test_a_capacity_figure_draws_the_busiest_minute_so_far_that_crosses_the_limit_at_the_marked_days():
    """No day's P90 reaches the limit, but the busiest minute so far does: the figure draws the line the first
    days over are read off, it meets the limit where the markers are, and the legend says what each line is."""
    from tokenplan.planning.capacity_plots import capacity_figure

    days = pd.date_range("2026-10-01", periods=30, freq="D")
    so_far = np.linspace(1.5e6, 2.3e6, 30)
    forecast = pd.DataFrame({"ds": days, "metric": "itpm", "p50": 1.2e6, "p90": 1.6e6, "limit": 2.0e6,
                             "p50_so_far": so_far * 0.9, "p90_so_far": so_far, "whole_day": True})
    first_p90 = days[np.argmax(so_far > 2.0e6)]
    first_p50 = days[np.argmax(so_far * 0.9 > 2.0e6)]
    history = pd.DataFrame({"ds": days - pd.Timedelta(days=30), "metric": "itpm", "peak": 1.1e6, "measured": True})
    plan = pd.DataFrame({"metric": ["itpm"], "period": ["horizon"], "first_crossing_p90": [first_p90],
                         "first_crossing_p50": [first_p50]})
    figure = capacity_figure("Opus", forecast, history, 60, plan)
    lines = _lines(figure.axes[0])
    for quantile, first in (("P90", first_p90), ("P50", first_p50)):
        line = lines[f"forecast: busiest minute since 2026-10-01 so far, {quantile}"]
        over = np.asarray(line.get_ydata()) > 2.0e6
        assert pd.Timestamp(np.asarray(line.get_xdata())[over][0]) == first
        chance = "1 in 10" if quantile == "P90" else "1 in 2"
        (marker,) = [v for k, v in lines.items() if k.startswith(f"limit hit by here, {chance} ({quantile})")]
        assert pd.Timestamp(marker.get_xdata()[0]) == first
    assert "forecast: busiest minute of each day, P50 (band to P90)" in lines
    assert "history: busiest minute of each day, measured" in lines
    assert max(lines["forecast: busiest minute of each day, P50 (band to P90)"].get_ydata()) < 2.0e6
    caption = " ".join(t.get_text() for t in figure.texts)
    assert "busiest minute from the horizon's start to each day" in caption and "first days over" in caption


def test_an_hourly_capacity_figure_labels_assumed_history_and_leaves_out_part_days():
    """History without per-minute data is labelled as assumed, with the assumption; a day the history ends an
    hour into, or the horizon ends an hour into, is not drawn as a whole day's busiest minute."""
    from tokenplan.planning.capacity_plots import capacity_figure

    hours = pd.date_range("2015-04-20 00:00", "2015-04-23 01:00", freq="h")  # the 23rd: two hours
    history = pd.DataFrame({"ds": hours, "metric": "rpm", "peak": 100.0, "measured": False})
    days = pd.date_range("2015-04-23", "2015-04-30", freq="D")
    forecast = pd.DataFrame({"ds": days, "metric": "rpm", "p50": 100.0, "p90": 150.0, "limit": np.nan,
                             "p50_so_far": 110.0, "p90_so_far": 160.0,
                             "whole_day": [False, True, True, True, True, True, True, False]})
    figure = capacity_figure("m", forecast, history, 30, None, freq="h", assumed_peak_to_mean={"h": 2.5, "D": 6.0})
    lines = _lines(figure.axes[0])
    (past_label,) = [k for k in lines if k.startswith("history")]
    assert past_label == ("history: busiest minute of each day, ASSUMED: mean minute x2.5 (hourly usage) "
                          "or Poisson arrivals' if more")
    past_days = pd.DatetimeIndex(lines[past_label].get_xdata())
    assert list(past_days) == list(pd.date_range("2015-04-20", "2015-04-22", freq="D"))
    daily = pd.DatetimeIndex(lines["forecast: busiest minute of each day, P50 (band to P90)"].get_xdata())
    assert pd.Timestamp("2015-04-30") not in daily and pd.Timestamp("2015-04-23") not in daily
    caption = " ".join(t.get_text() for t in figure.texts)
    assert "only part of the day is in the data: 2015-04-23, 2015-04-30" in caption
    # No limit was given: the caption speaks of none.
    assert "no rate limit was given" in caption and "cross the limit" not in caption


def test_a_daily_exports_assumed_history_names_the_daily_factor_alone():
    """A daily export's busiest minutes rest on the daily factor alone; the legend listed the hourly one too."""
    from tokenplan.planning.capacity_plots import capacity_figure

    days = pd.date_range("2026-09-01", "2026-09-30", freq="D")
    history = pd.DataFrame({"ds": days, "metric": "rpm", "peak": 100.0, "measured": False})
    future = pd.date_range("2026-10-01", "2026-10-10", freq="D")
    forecast = pd.DataFrame({"ds": future, "metric": "rpm", "p50": 100.0, "p90": 150.0, "limit": np.nan,
                             "p50_so_far": 110.0, "p90_so_far": 160.0, "whole_day": True})
    figure = capacity_figure("m", forecast, history, 30, None, freq="D", assumed_peak_to_mean={"h": 2.5, "D": 6.0},
                             usage_freq="D")
    (past_label,) = [k for k in _lines(figure.axes[0]) if k.startswith("history")]
    assert past_label == ("history: busiest minute of each day, ASSUMED: mean minute x6 (daily usage) "
                          "or Poisson arrivals' if more")


def test_a_forecast_figure_with_every_panel_used_keeps_its_legend_off_the_data():
    forecast, history = _forecast({"requests": 3e3, "input_tokens": 3e6, "output_tokens": 4e5})
    figure = forecast_figures(forecast, history, 90, Q)["forecast_m.png"]
    assert all(ax.get_legend() is None for ax in figure.axes)
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["history", "forecast P10–P90", "forecast P50"]


def test_the_backtest_figure_says_why_a_scored_pair_has_no_bar():
    """A series whose history never changes (cache tokens of a model that never caches) has no MASE (no naive error
    to scale by), now stored as missing: its missing bars are still explained on the panel."""
    from tokenplan.reporting.plots import backtest_figure

    metrics = pd.DataFrame({"series": ["m1", "m1", "m2", "m2"], "target": "cache_read_tokens",
                            "method": ["chosen", "seasonal_naive", "chosen", "seasonal_naive"],
                            "mase": [0.8, 1.1, np.nan, np.nan]})
    texts = [t.get_text() for t in backtest_figure(metrics).axes[0].texts]
    assert any(t.startswith("2 bar(s) not drawn: MASE undefined") for t in texts), texts


def test_a_forecast_figure_over_three_months_names_each_ticks_month_and_no_wrong_one():
    """Six weeks of hourly history from 12 October and two weeks of forecast: the ticks were "15, Nov, 15, Dec"
    under an offset "2026-Dec", so October's 15th read as December's; each day tick now names its month and the
    offset only the year."""
    ds = pd.date_range("2026-10-12", "2026-11-22 23:00", freq="h")
    history = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": 100.0})
    future = pd.date_range("2026-11-23", periods=336, freq="h", tz="UTC")
    forecast = pd.DataFrame({"series": "m", "target": "requests", "timestamp": future,
                             "p10": 90.0, "p50": 100.0, "p90": 110.0})
    ax = forecast_figures(forecast, history, 42, Q, "h")["forecast_m.png"].axes[0]
    labels, offset = _ticks(ax, "x")
    assert offset == "2026", offset
    assert labels and all(label[:3] in {"Oct", "Nov", "Dec"} for label in labels), labels


def test_a_forecast_figure_across_a_new_year_names_the_year_on_each_month():
    """History from 28 November 2026, a forecast from 1 January 2027: one offset "2027" made December 2026 read as
    December 2027; each month's tick now names its year."""
    ds = pd.date_range("2026-11-28", "2026-12-31 23:00", freq="h")
    history = pd.DataFrame({"series": "m", "target": "requests", "ds": ds, "y": 100.0})
    future = pd.date_range("2027-01-01", periods=31 * 24, freq="h", tz="UTC")
    forecast = pd.DataFrame({"series": "m", "target": "requests", "timestamp": future,
                             "p10": 90.0, "p50": 100.0, "p90": 110.0})
    ax = forecast_figures(forecast, history, 34, Q, "h")["forecast_m.png"].axes[0]
    labels, offset = _ticks(ax, "x")
    assert (labels, offset) == (["Dec 2026", "Dec 15", "Jan 2027", "Jan 15", "Feb"], "")
    short = history[history["ds"] >= "2026-12-31"]  # a day of hours and a day ahead: hour ticks, the days dated
    ahead = forecast[forecast["timestamp"] < pd.Timestamp("2027-01-02", tz="UTC")]
    labels, offset = _ticks(forecast_figures(ahead, short, 1, Q, "h")["forecast_m.png"].axes[0], "x")
    assert offset == "" and "Dec 31 2026" in labels and "Jan 01 2027" in labels, labels


def test_month_ticks_across_a_new_year_do_not_run_into_each_other_on_a_narrow_panel():
    """A Console export of 54 days to 30 November, four token types (panels a third of the figure wide), planned to
    the end of March: every tick read "Oct 2026 Nov 2026 Dec 2026 2027 Feb 2027 ...", each label over the next.
    The year is on the first tick and on January's; the labels are apart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    targets = ["input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"]
    days = pd.date_range("2026-10-08", "2026-11-30", freq="D")
    future = pd.date_range("2026-12-01", "2027-03-31", freq="D", tz="UTC")
    history = pd.concat([pd.DataFrame({"series": "m", "target": t, "ds": days, "y": 100.0}) for t in targets])
    forecast = pd.concat([pd.DataFrame({"series": "m", "target": t, "timestamp": future, "p10": 90.0, "p50": 100.0,
                                        "p90": 110.0}) for t in targets])
    figure = forecast_figures(forecast, history, 120, Q, "D")["forecast_m.png"]
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    (ax,) = [ax for ax in figure.axes if any(t.get_text() for t in ax.get_xticklabels())][:1]
    shown = [t for t in ax.get_xticklabels() if t.get_text()]
    assert [t.get_text() for t in shown] == ["Oct 2026", "Nov", "Dec", "Jan 2027", "Feb", "Mar", "Apr"]
    boxes = [t.get_window_extent(canvas.get_renderer()) for t in shown]
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:], strict=False)), boxes


def test_each_series_keeps_its_colour_whatever_order_a_chart_draws_them_in():
    """Notebook 01 drew its daily chart by size and its weekly profile by name: Opus was one colour in the first
    and another in the second."""
    from tokenplan.reporting.plots import series_colours

    by_size = series_colours(["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"])
    by_name = series_colours(sorted(["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"]))
    assert by_size == by_name and len(set(by_size.values())) == 3
    many = series_colours([f"key-{k:02d}" for k in range(15)])
    assert len(set(many.values())) == 15  # past ten series, twenty colours


def _figure_text(figure) -> str:
    return " ".join(t.get_text() for t in figure.texts).replace("\n", " ")


def test_no_shap_figure_says_the_model_sits_in_every_ensemble_when_it_does():
    """Every series keeps the ensemble, the tuned model a member of each: the placeholder had blamed too short a
    history or a simpler method's win, though the model was trained."""
    from tokenplan.pipelines.reporting.nodes import plot_drivers, plot_shap_summary

    keys = ["a|requests", "b|requests"]
    selection = {"model_trained": True, "single_method_allowed": False, "methods": dict.fromkeys(keys, "ensemble"),
                 "ensemble_members": dict.fromkeys(keys, ["xgboost", "mstl", "seasonal_mean"])}
    shap = _figure_text(plot_shap_summary(pd.DataFrame(), {"quantile": 0.5, "max_display": 10}, selection))
    assert "too short a history" not in shap and "won on the tuning folds" not in shap
    assert ("The tuned model was trained and is a member of the ensemble of 2 of 2 series-targets, but forecasts "
            "none alone (the windows are too short for the horizon for one method to win, so every series keeps "
            "the ensemble)") in shap, shap
    empty = pd.DataFrame(columns=["series", "target", "period", "driver", "kind", "effect", "volume"])
    allowed = _figure_text(plot_drivers(empty, {**selection, "single_method_allowed": True}))
    assert "(no method alone beat the ensemble on the tuning folds)" in allowed, allowed
    untrained = _figure_text(plot_shap_summary(pd.DataFrame(), {"quantile": 0.5, "max_display": 10},
                                               {"model_trained": False, "methods": {"a|requests": "mstl"}}))
    assert "was not trained" in untrained


def test_the_diagnostics_notebook_counts_the_drivers_panels_it_draws():
    """Two of four models shown are forecast by the tuned model: notebook 02 read "one panel per model (4 of 4)"
    over a figure of two panels."""
    import json

    from tests.project_copy import PROJECT_ROOT
    from tokenplan.reporting.explained_series import drawn_panels

    drivers = pd.DataFrame({"series": ["a", "a", "b", "c"], "target": ["requests", "input_tokens", "requests",
                                                                       "input_tokens"]})
    shown = {"series": ["a", "b", "c", "d"], "of": 4, "by": "requests", "limited": False}
    assert drawn_panels(drivers, "requests", shown) == "2 of the 4 models planned"
    assert drawn_panels(drivers, "requests", {**shown, "series": ["a", "d"], "of": 5, "limited": True}) \
        == "1 of the 2 models shown"
    cells = json.loads((PROJECT_ROOT / "notebooks" / "02_forecast_diagnostics.ipynb").read_text())["cells"]
    panels = next("".join(c["source"]) for c in cells if "plot_drivers(drivers" in "".join(c["source"]))
    assert "drawn_panels(drivers, target, shown)" in panels and "len(shown['series'])} of" not in panels


def test_a_series_chosen_for_the_model_that_fell_back_to_the_ensemble_is_named_by_the_ensemble():
    """The model selection gave model-b's requests to XGBoost, but at the origin the plan fell back to the ensemble
    (the guard dropped XGBoost there): it has no drivers, and the breakdown names it by the method the plan used."""
    from tokenplan.reporting.explained_series import not_explained

    selection = {"methods": {"model-a|requests": "xgboost", "model-b|requests": "xgboost"}}
    drivers = pd.DataFrame({"series": ["model-a"], "target": ["requests"]})
    forecast = pd.DataFrame({"series": ["model-a", "model-b"], "target": "requests", "method": ["xgboost", "ensemble"]})
    assert not_explained(selection, drivers)["method"].tolist() == ["tuned model (XGBoost)"]
    assert not_explained(selection, drivers, None, forecast)[["series", "method"]].values.tolist() == [
        ["model-b", "ensemble"]]
