"""The report's method section: what it says about series the folds do not cover."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


def test_the_rule_names_how_the_ensembles_members_are_picked_and_which_they_are():
    rule = {"min_folds": 3, "margin": 0.05, "z": 1.0, "min_win_share": 0.66, "min_series": 3, "ensemble_size": 3}
    members = {f"model-{i}|requests": ["mstl", "lag_xgboost", "seasonal_naive"] for i in range(5)}
    section = render_method_section({}, {"rule": rule, "ensemble_members": members, "methods": {}}, METRICS,
                                    ["p10", "p50", "p90"], _history())
    assert "the per-step median of the 3 candidates with the lowest error on the earlier folds" in section
    assert "a fold where the guard dropped a candidate counts as that fold's worst error" in section
    assert "folds before the history could fit a candidate count as it did" in section
    assert "model-0 requests: mstl, lag_xgboost, seasonal_naive" in section and "model-3" not in section
    assert "2 more in `data/06_models/model_selection.json`" in section


def test_the_members_listed_are_those_the_forecast_combined_after_the_guards_drops():
    """A member the guard dropped at the forecast origin gave way to the next in the ranking: the section
    lists what the median combined, not the member the drops table says was left out."""
    rule = {"min_folds": 3, "margin": 0.05, "z": 1.0, "min_win_share": 0.66, "min_series": 3, "ensemble_size": 3}
    ranking = {"model-0|input_tokens": ["xgboost", "seasonal_naive", "seasonal_mean", "mstl", "lag_xgboost"]}
    selection = {"rule": rule, "ensemble_members": {k: v[:3] for k, v in ranking.items()},
                 "ensemble_ranking": ranking, "methods": {}}
    drops = pd.DataFrame([{"series": "model-0", "target": "input_tokens", "origin": "2026-09-30", "method": "xgboost",
                           "side": "above", "step": 82, "point": 1.0, "bound": 0.9, "ratio": 1.16, "role": "final"}])
    section = render_method_section({}, selection, METRICS, ["p10", "p50", "p90"], _history(), guard_drops=drops)
    # One of the seasonal naive and its near-copy the seasonal mean: the next in the ranking takes the place.
    assert "model-0 input_tokens: seasonal_naive, mstl, lag_xgboost" in section
    assert "gives way to the next best" in section
    assert "model-0 input_tokens: xgboost" not in section


def test_windows_too_short_for_the_horizon_are_named_as_the_reason_for_the_ensemble():
    history = _history()
    layout = plan_layout(history, "D", "quarter").to_dict()
    rule = {"min_folds": 3, "margin": 0.05, "z": 1.0, "min_win_share": 0.66, "min_series": 3, "ensemble_size": 3,
            "min_window_share": 0.25}
    selection = {"rule": rule, "methods": {"model-a|requests": "ensemble"}, "single_method_allowed": False}
    section = render_method_section(layout, selection, METRICS, ["p10", "p50", "p90"], history)
    assert "only where the backtest windows span at least 25% of the horizon" in section
    assert (f"here the windows are {layout['window']} steps against a horizon of {layout['horizon']}, so every "
            "series keeps the ensemble") in section
    allowed = render_method_section(layout, {**selection, "single_method_allowed": True}, METRICS,
                                    ["p10", "p50", "p90"], history)
    assert "so every series keeps the ensemble" not in allowed


def test_a_baseline_scored_on_fewer_folds_is_not_said_to_beat_the_chosen_method():
    # After a long gap every method missed the next fold by 30%, except MSTL, which had no
    # forecast there: over its other folds its MASE is lower, but on different rows.
    from tokenplan.forecasting.diagnostics import comparable_mase, where_model_loses
    from tokenplan.reporting.forecast_method_section import baseline_wins

    rows = [("chosen", 1.46, 53), ("mstl", 0.75, 22), ("seasonal_naive", 1.58, 53)]
    metrics = pd.DataFrame([{"series": "m", "target": "requests", "method": m, "mase": v, "wape": 0.1,
                             "coverage": 0.8, "n": n} for m, v, n in rows])
    assert np.isnan(comparable_mase(metrics).loc[("m", "requests"), "mstl"])
    assert baseline_wins(metrics).empty
    assert (where_model_loses(metrics)["best_baseline"] == "seasonal_naive").all()
    # On the same rows it is a loss, and said so.
    same = metrics.assign(n=53)
    assert list(baseline_wins(same)["best_baseline"]) == ["mstl"]


def test_a_member_with_no_backtest_score_is_named_with_the_reason():
    """On three weeks of days the lag model forecasts the last fold only: it joins the forecast's median
    but has no calibrated score, so the table has no column for it; the section says which and why."""
    rows = [(m, v) for m, v in (("chosen", 0.8), ("mstl", 0.9), ("seasonal_naive", 0.7))]
    metrics = pd.DataFrame([{"series": s, "target": "requests", "method": m, "mase": v, "wape": 0.1, "coverage": 0.8,
                             "n": 9} for s in ("all", "model-0") for m, v in rows])
    members = {"model-0|requests": ["lag_xgboost", "mstl", "seasonal_naive"],
               "model-1|requests": ["mstl", "seasonal_naive", "seasonal_mean"]}
    selection = {"rule": {"min_folds": 3, "margin": 0.05, "z": 1.0, "ensemble_size": 3}, "ensemble_members": members,
                 "methods": {"model-0|requests": "ensemble"}}
    section = render_method_section({}, selection, metrics, ["p10", "p50", "p90"], _history())
    assert ("Members of the forecast's median with no column in the table: lag_xgboost (1 series/targets), "
            "seasonal_mean (1 series/targets). Each has an error at one fold only") in section
    scored = render_method_section({}, {**selection, "ensemble_members": {"model-0|requests": ["mstl"]}}, metrics,
                                   ["p10", "p50", "p90"], _history())
    assert "no column in the table" not in scored


def test_the_layout_states_the_level_share_the_extrapolation_grows_by():
    """Windows shorter than the horizon: the section gives the formula past the window and, beside it,
    each method's measured share of level error per target (the forecast's methods only)."""
    history = _history()
    layout = plan_layout(history, "D", "quarter").to_dict()
    assert layout["window"] < layout["horizon"]
    selection = {"methods": {"model-a|requests": "mstl"},
                 "level_shares": {"ensemble": {"__all__": 0.5, "requests": 0.41},
                                  "mstl": {"__all__": 0.9, "requests": 0.87},
                                  "xgboost": {"__all__": 0.2, "requests": 0.2}}}
    section = render_method_section(layout, selection, METRICS, ["p10", "p50", "p90"], history)
    assert "sqrt(s x step / window + 1 - s)" in section
    assert "Here s is, for the ensemble: requests 0.41; for mstl: requests 0.87." in section
    assert "xgboost: requests" not in section


def _xgboost_everywhere() -> dict:
    rule = {"min_folds": 3, "margin": 0.05, "z": 1.0, "min_win_share": 0.66, "min_series": 3, "ensemble_size": 3}
    keys = [f"model-{i}|requests" for i in range(3)]
    members = {k: ["xgboost", "mstl", "seasonal_mean"] for k in keys}
    return {"rule": rule, "ensemble_members": members, "methods": {k: "xgboost" for k in keys}}


def test_ensemble_members_are_listed_only_where_the_forecast_uses_the_ensemble():
    """Every series forecast by XGBoost alone: listing the ensemble's members 'in the forecast' was false."""
    selection = _xgboost_everywhere()
    section = render_method_section({}, selection, METRICS, ["p10", "p50", "p90"], _history())
    assert "Its members" not in section and "model-0 requests: xgboost" not in section
    assert "The forecast uses it for no series/target: each is forecast by one method, xgboost (3 series/targets)." \
        in section
    # One of them on the ensemble: its members alone are listed.
    mixed = {**selection, "methods": {**selection["methods"], "model-1|requests": "ensemble"}}
    section = render_method_section({}, mixed, METRICS, ["p10", "p50", "p90"], _history())
    assert "Its members, where the forecast uses it: model-1 requests: xgboost, mstl, seasonal_mean." in section
    # What the forecast used (its method column) decides over the selection, and an ended series is not forecast.
    planned = {"model-0|requests": "ensemble", "model-2|requests": "xgboost"}
    section = render_method_section({}, mixed, METRICS, ["p10", "p50", "p90"], _history(), planned=planned,
                                    ended={"model-1": "2026-08-14"})
    assert "Its members, where the forecast uses it: model-0 requests: xgboost, mstl, seasonal_mean." in section
    # A series newer than the folds has no ranking: the forecast combines every candidate for it, and says so.
    newer = {**selection, "ensemble_members": {}}
    planned = {"model-0|requests": "xgboost", "model-1|requests": "xgboost", "pilots|requests": "ensemble"}
    section = render_method_section({}, newer, METRICS, ["p10", "p50", "p90"], _history(), planned=planned)
    assert "uses it for no series/target" not in section
    assert ("The forecast uses it for 1 series/targets that no fold ranked the candidates for, so every candidate the "
            "guard kept is combined; the others are each forecast by one method, xgboost (2 series/targets).") in section


def _losses() -> pd.DataFrame:
    """model-a and model-b lose to MSTL; old-model, ended before the forecast, too."""
    rows = [(s, m, v) for s in ("model-a", "model-b", "old-model") for m, v in (("chosen", 1.2), ("mstl", 1.0))]
    rows += [("model-c", "chosen", 0.8), ("model-c", "mstl", 1.0)]
    return pd.DataFrame([{"series": s, "target": "requests", "method": m, "mase": v, "wape": 0.1, "coverage": 0.8,
                          "n": 50} for s, m, v in rows])


def test_an_ended_series_is_marked_in_the_backtest_and_left_out_of_the_count_as_in_the_summary():
    from tests.reporting import report_fixtures as fx
    from tokenplan.reporting.summary import _baseline_risk

    metrics = _losses()
    methods = {f"{s}|requests": "xgboost" for s in ("model-a", "model-b", "model-c", "old-model")}
    planned = {k: v for k, v in methods.items() if not k.startswith("old-model")}
    section = render_method_section({}, {"methods": methods}, metrics, fx.Q, _history(), planned=planned,
                                    ended={"old-model": "2026-08-14"})
    assert "for 2 of 3 planned series/targets:**" in section and "old-model requests (chosen" not in section
    assert "| old-model (ended) | requests | xgboost |" in section
    assert "Rows marked (ended): old-model (last usage 2026-08-14) ended before the forecast" in section
    risk = _baseline_risk(metrics, pd.Series(dtype=float), methods, {"model-a", "model-b", "model-c"})
    assert (risk["lost"], risk["of"]) == (2, 3)
    # A series that ended before every fold has no backtest: no row of "nan"s for it.
    gone = {**methods, "gone-model|requests": "xgboost"}
    section = render_method_section({}, {"methods": gone}, metrics, fx.Q, _history(), planned=planned,
                                    ended={"old-model": "2026-08-14", "gone-model": "2026-03-01"})
    assert "gone-model" not in section and "nan" not in section


def test_a_baseline_win_shows_the_digits_that_tell_the_two_apart():
    from tokenplan.reporting.summary import _baseline_risk

    metrics = pd.DataFrame([{"series": "model-a", "target": "input_tokens", "method": m, "mase": v, "wape": 0.1,
                             "coverage": 0.8, "n": 50} for m, v in (("chosen", 1.1032), ("mstl", 1.0987))])
    section = render_method_section({}, {"methods": {"model-a|input_tokens": "xgboost"}}, metrics,
                                    ["p10", "p50", "p90"], _history())
    assert "model-a input_tokens (chosen 1.103 vs mstl 1.099)" in section
    assert _baseline_risk(metrics, pd.Series(dtype=float))["cases"][0]["shown"] == ("1.103", "1.099")


def test_a_baseline_win_over_the_rules_ensemble_names_the_method_the_forecast_uses_and_its_score():
    """Two backtest folds, fewer than the rule needs: 'chosen' is the ensemble's score, while the forecast, chosen
    on every fold, uses XGBoost; the risk said a baseline beats 'the chosen method' without naming either."""
    from tokenplan.reporting.summary import _baseline_risk

    metrics = pd.DataFrame([{"series": "search", "target": "input_tokens", "method": m, "mase": v, "wape": 0.1,
                             "coverage": 0.8, "n": 50}
                            for m, v in (("chosen", 0.72), ("ensemble", 0.72), ("xgboost", 0.647), ("mstl", 0.685))])
    risk = _baseline_risk(metrics, pd.Series(dtype=float), {"search|input_tokens": "xgboost"})

    assert risk["cases"][0]["plan_method"] == "xgboost" and risk["cases"][0]["plan_mase"] == pytest.approx(0.647)
    assert "plan_method" not in _baseline_risk(metrics, pd.Series(dtype=float), {})["cases"][0]


def test_a_target_with_nothing_to_scale_by_is_named_and_the_pooled_mase_shows_no_inf():
    # A model that never caches has no MASE on cache tokens; an old table's inf shows as "–", never as "inf".
    rows = [("model-a", "cache_read_tokens", "chosen", 1.1, 0.3), ("model-a", "cache_read_tokens", "xgboost", 1.2, 0.3),
            ("opus", "cache_read_tokens", "chosen", np.nan, np.nan),
            ("opus", "cache_read_tokens", "xgboost", np.nan, np.nan),
            ("opus", "requests", "chosen", 0.9, 0.2), ("opus", "requests", "xgboost", 1.0, 0.2),
            ("all", "cache_read_tokens", "chosen", 1.1, 0.31), ("all", "cache_read_tokens", "xgboost", np.inf, 0.35),
            ("all", "requests", "chosen", 0.9, 0.2), ("all", "requests", "xgboost", 1.0, 0.2)]
    metrics = pd.DataFrame([{"series": s, "target": t, "method": m, "mase": v, "wape": w, "coverage": 0.8, "n": 40}
                            for s, t, m, v, w in rows])
    selection = {"methods": {"model-a|cache_read_tokens": "ensemble", "opus|cache_read_tokens": "ensemble",
                             "opus|requests": "ensemble"}}
    section = render_method_section({}, selection, metrics, ["p10", "p50", "p90"])
    pooled = section.split("Pooled over series")[1].split("\n\n")[1]
    assert "inf" not in pooled and "| –" in pooled
    assert "The pooled MASE leaves out" in section and "Left out: cache_read_tokens: opus." in section


def test_the_guard_paragraph_states_its_numbers_not_their_names():
    guard = {"p50_multiple": 1.5, "p90_multiple": 3.0, "lower_divisor": 5.0, "recent_seasons": 4, "min_window": 28,
             "undamped_trend_seasons": 12}
    section = render_method_section({}, {"guard": guard, "methods": {}}, METRICS, ["p10", "p50", "p90"], _history())
    assert "P90 is capped at x3 the same base" in section and "each whole season's mean at least the lowest recent " \
        "season mean divided by 5" in section and "{" not in section.split("**Plausibility guard.**")[1]


def test_a_baseline_ahead_by_less_than_the_rules_margin_is_named_a_tie_not_a_win():
    """Within the selection rule's margin a lead is a tie on the folds: the section says the chosen method is as
    good or within 5% everywhere, and names the near tie; a lead beyond the margin stays a win."""
    rows = [("model-a", "chosen", 1.12), ("model-a", "mstl", 1.09), ("model-b", "chosen", 0.9), ("model-b", "mstl", 0.5)]
    metrics = pd.DataFrame([{"series": s, "target": "requests", "method": m, "mase": v, "wape": 0.1, "coverage": 0.8,
                             "n": 50} for s, m, v in rows])
    from dataclasses import asdict

    from tokenplan.forecasting.method_choice import SelectionRule

    selection = {"methods": {"model-a|requests": "xgboost", "model-b|requests": "ensemble"},
                 "rule": asdict(SelectionRule(margin=0.05))}
    section = render_method_section({}, selection, metrics, ["p10", "p50", "p90"], _history())
    assert ("beat the chosen method by more than the selection rule's 5% on the backtest folds for 1 of 2 "
            "series/targets:** model-b requests (chosen 0.90 vs mstl 0.50)") in section, section
    assert ("A baseline is ahead by less than the selection rule's margin (5% of the chosen method's MASE, a tie on "
            "these folds) for 1: model-a requests (chosen 1.12 vs mstl 1.09)") in section
    tied = metrics[metrics["series"] == "model-a"]
    section = render_method_section({}, selection, tied, ["p10", "p50", "p90"], _history())
    assert "at least as good as both simple baselines (seasonal naive, MSTL), or within the selection rule's 5% of "\
           "them, on every backtested series and target (1 of 2 series/targets; the others too young for a fold: " \
           "model-b (requests))" in section, section


def _young_beside_two(model_b_chosen: float) -> tuple[pd.DataFrame, dict[str, str], str]:
    """Two backtested models (model-b's chosen MASE ``model_b_chosen``, baselines 1.2 and 1.1) and one too young for
    a fold: the metrics, every planned method and the section."""
    rows = [(s, t, m, v) for s in ("model-a", "model-b") for t in ("requests", "output_tokens")
            for m, v in (("chosen", 0.9 if s == "model-a" else model_b_chosen), ("seasonal_naive", 1.2), ("mstl", 1.1))]
    metrics = pd.DataFrame([{"series": s, "target": t, "method": m, "mase": v, "wape": 0.1, "coverage": 0.8, "n": 50}
                            for s, t, m, v in rows])
    methods = {f"{s}|{t}": "ensemble" for s in ("model-a", "model-b", "young") for t in ("requests", "output_tokens")}
    return metrics, methods, render_method_section({}, {"methods": methods}, metrics, ["p10", "p50", "p90"],
                                                   _history(), planned=methods)


def test_the_verdict_covers_the_backtested_series_and_names_those_too_young_for_a_fold():
    """A model 14 days old has no backtest: "on every planned series and target" had covered its three targets."""
    metrics, methods, section = _young_beside_two(model_b_chosen=0.9)
    assert ("at least as good as both simple baselines (seasonal naive, MSTL) on every backtested series and target "
            "(4 of 6 planned series/targets; the others too young for a fold: young (requests, output_tokens)).") \
        in section, section
    backtested = {k: v for k, v in methods.items() if not k.startswith("young")}
    section = render_method_section({}, {"methods": backtested}, metrics, ["p10", "p50", "p90"], _history(),
                                    planned=backtested)
    assert "on every planned series and target." in section


def test_the_guard_paragraph_names_the_p90s_it_held_at_its_envelope_in_the_plan():
    guard = {"p50_multiple": 1.5, "p90_multiple": 3.0, "lower_divisor": 5.0, "recent_seasons": 4, "min_window": 28,
             "undamped_trend_seasons": 12}
    capped = [{"series": "claude-sonnet-4-5/research/new-svc", "target": "output_tokens", "buckets": 61, "of": 91,
               "ratio": 1.93}]
    section = render_method_section({}, {"guard": guard, "methods": {}}, METRICS, ["p10", "p50", "p90"], _history(),
                                    capped=capped)
    assert ("**Held at the envelope in the plan:** the upper quantiles of claude-sonnet-4-5/research/new-svc "
            "output_tokens on 61 of 91 buckets (by up to x1.93)") in section
    assert "Held at the envelope" not in render_method_section({}, {"guard": guard, "methods": {}}, METRICS,
                                                               ["p10", "p50", "p90"], _history())


def test_the_layout_names_the_series_that_took_their_targets_evidence_from_the_others():
    """A model used for the file's last 22 days beside others of 33 has no fold as long as its forecast's history:
    it takes its target's method and ensemble members from the other series' folds, and the layout says which."""
    history = _history()
    layout = plan_layout(history, "D", "quarter").to_dict()
    selection = {"methods": {"model-a|requests": "ensemble", "model-b|requests": "ensemble"},
                 "borrowed_evidence": ["model-b|requests", "model-b|output_tokens"]}
    section = render_method_section(layout, selection, METRICS, ["p10", "p50", "p90"], history)
    assert ("- 1 series started later than the history: no fold is as long as their forecast's history (the folds "
            "sit where their seasons were not yet there), so each takes its target's method and ensemble members "
            "from the other series' folds that are: model-b (`borrowed_evidence` in `model_selection.json`).") \
        in section
    assert "started later than the history" not in render_method_section(
        layout, {"methods": selection["methods"]}, METRICS, ["p10", "p50", "p90"], history)


def test_where_a_baseline_won_the_count_still_names_the_series_too_young_for_a_fold():
    """Review V: with a baseline ahead, the verdict read "1 of 24 planned series/targets" beside the drivers'
    "4 of the 30 planned", the six too young for a fold named nowhere."""
    _, _, section = _young_beside_two(model_b_chosen=1.5)
    assert ("for 2 of 4 planned series/targets backtested (of 6; the others too young for a fold: young (requests, "
            "output_tokens)):**") in section, section
