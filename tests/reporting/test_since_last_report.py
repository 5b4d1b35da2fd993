"""Which earlier report a re-run compares with, and the grade of its forecast against what was recorded.

The grade is checked against numbers worked out by hand on a ten-day plan of one model,
four of whose days are in this run's history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.reporting import report_fixtures as fx
from tokenplan.reporting.data_source import data_source_identity, history_tail
from tokenplan.reporting.since_last_report import since_last_report
from tokenplan.run_record import run_record

Q = fx.Q
USER = data_source_identity(False, "raw_usage (/data/usage_q3.csv)", ["model-a"])
DEMO = data_source_identity(True, "raw_usage (data/01_raw/demo/usage.parquet)", ["claude-sonnet-4-5"])
THEN_DAYS = pd.date_range("2026-09-27", "2026-10-06", freq="D")  # the last plan's horizon: 10 days
INPUT_USD = 3e-6  # the last plan's price of an input token


def _history() -> pd.DataFrame:
    """September of model-a: 100 requests and 1.25M input tokens a day; requests not recorded on 09-28."""
    days = pd.date_range("2026-09-01", "2026-09-30", freq="D")
    frame = pd.DataFrame([{"series": "model-a", "target": t, "ds": d, "y": y} for d in days
                          for t, y in (("requests", 100.0), ("input_tokens", 1.25e6))])
    frame.loc[(frame["target"] == "requests") & (frame["ds"] == "2026-09-28"), "y"] = np.nan
    return frame


def _report(version: str = "v1", source=USER, per_bucket: bool = True) -> dict:
    """The last plan: 1,000 requests (800 – 1,200), 10M input tokens (8M – 12M) over 10 days, $30 ($24 – $36)."""
    row = {"series": "model-a", "period": "horizon", "start": THEN_DAYS[0], "end": THEN_DAYS[-1], "buckets": 10}
    totals = pd.DataFrame([{**row, "target": "requests", "p10": 800.0, "p50": 1_000.0, "p90": 1_200.0},
                           {**row, "target": "input_tokens", "p10": 8e6, "p50": 1e7, "p90": 1.2e7}])
    cost = pd.DataFrame([{**row, "p10": 24.0, "p50": 30.0, "p90": 36.0, "p50_input": 30.0}])
    # Its per-bucket P50: requests low on its first four days (50) and high after (125), 950 in all.
    forecast = pd.DataFrame([{"series": "model-a", "target": t, "timestamp": d.tz_localize("UTC"),
                              "p50": (50.0 if d <= pd.Timestamp("2026-09-30") else 125.0) if t == "requests" else 1e6}
                             for d in THEN_DAYS for t in ("requests", "input_tokens")])
    return {"version": version, "data_source": source, "forecast_totals": totals, "cost_forecast": cost,
            "forecast": forecast if per_bucket else None}


def _horizon() -> tuple[pd.DataFrame, pd.DataFrame]:
    totals = fx.totals()
    totals = totals[(totals["series"] == "model-a") & (totals["period"] == "horizon")
                    & totals["target"].isin(["requests", "input_tokens"])]
    return totals, fx.costs(totals)


def _since(reports, source=USER):
    horizon, cost = _horizon()
    return since_last_report(reports, _history(), horizon, cost, Q, source)


def test_the_newest_comparable_report_is_chosen_over_a_newer_demo_one():
    since = _since([_report("v3-demo", source=DEMO), _report("v2"), _report("v1")])
    assert since["compared"] and since["version"] == "v2"
    assert since["skipped"] == [{"version": "v3-demo", "reason": "it was made from the simulated demo, this run "
                                                                 "from your usage data"}]
    assert since["other_source"] is None


def test_incomparable_reports_are_skipped_with_the_reason():
    other_series = data_source_identity(False, USER["source"], ["model-z"])
    since = _since([_report("v3", source=other_series), _report("v2", source=None), _report("v1", source=DEMO)])
    assert not since["compared"] and since["version"] is None
    assert [(s["version"], s["reason"].split(" (")[0].split(",")[0]) for s in since["skipped"]] == [
        ("v3", "it was made from other series"), ("v2", "it does not record which data it was made from"),
        ("v1", "it was made from the simulated demo")]
    assert since["skipped"][0]["reason"].endswith("(only in it: model-z; only in this run: model-a)")


def test_a_report_from_another_file_is_compared_and_the_file_named():
    earlier = data_source_identity(False, "raw_usage (/data/usage_q2.csv)", ["model-a"])
    since = _since([_report(source=earlier)])
    assert since["compared"] and since["other_source"] == "raw_usage (/data/usage_q2.csv)"
    assert since["source_now"] == USER["source"]


def test_a_report_made_with_other_settings_says_so_and_a_new_files_path_does_not_count():
    def made(command_params: dict, env: str = "usage_csv") -> dict:
        return {**USER, "run": run_record({"env": env, "runtime_params": command_params})}

    now = made({"usage_file": "usage_q3.csv", "feature_engineering": {"freq": "h"}})
    horizon, cost = _horizon()
    other = since_last_report([_report(source=made({"usage_file": "usage_q2.csv"}))], _history(), horizon, cost, Q,
                              now)
    assert other["compared"] and other["other_settings"] == "kedro run --env usage_csv --params usage_file=usage_q2.csv"
    assert other["settings_now"] == ("kedro run --env usage_csv --params usage_file=usage_q3.csv,"
                                     "feature_engineering.freq=h")
    same = made({"usage_file": "usage_q2.csv", "feature_engineering": {"freq": "h"}})
    assert since_last_report([_report(source=same)], _history(), horizon, cost, Q, now)["other_settings"] is None
    assert _since([_report(source=made({"usage_file": "usage_q2.csv"}))])["other_settings"] is None  # no record now


def _tail(history: pd.DataFrame, scale: float = 1.0, last_day: float | None = None) -> dict:
    tail = history_tail(history.assign(y=history["y"] * scale))
    if last_day is not None:  # the export's last day, revised
        days = tail["by_target"]["requests"]["model-a"]
        days[max(days)] = last_day
    return tail


def test_a_report_from_another_file_whose_shared_days_disagree_is_not_compared():
    """Another service's usage under the same model id: its history's last four weeks record 3.2 times this
    run's requests on the days both cover, so its plan is neither compared nor graded."""
    now = data_source_identity(False, USER["source"], ["model-a"], _tail(_history()))
    other = data_source_identity(False, "raw_usage (other_service.csv)", ["model-a"], _tail(_history(), 3.2))
    since = _since([_report(source=other)], source=now)
    assert not since["compared"]
    (skipped,) = since["skipped"]
    # By hand: the last 28 days are 09-03 to 09-30; 09-28 records no requests and 09-30, the last day, is left
    # out, so 26 days of 100 requests here and 320 there.
    assert skipped["reason"] == ("its history disagrees with this run's on the 26 series-days both record "
                                 "(requests 8,320 there against 2,600 here), so it was made from other usage data")


def test_a_report_from_a_source_without_request_counts_is_checked_on_a_count_both_record():
    """A Console export (tokens, no request counts) of other traffic, then this run's request log: the two
    histories record different first counts, and the one they share, input tokens, disagrees 5 to 1."""
    tokens_only = _history()[lambda f: f["target"] == "input_tokens"]
    console = data_source_identity(False, "raw_usage (claude_api_usage.csv)", ["model-a"],
                                   history_tail(tokens_only.assign(y=tokens_only["y"] * 5)))
    now = data_source_identity(False, USER["source"], ["model-a"], history_tail(_history()))
    since = _since([_report(source=console)], source=now)
    assert not since["compared"]
    # By hand: 09-03 to 09-29 (the last day left out), 27 days of 1.25M input tokens here and 6.25M there.
    assert since["skipped"][0]["reason"] == (
        "its history disagrees with this run's on the 27 series-days both record (input_tokens 168,750,000 there "
        "against 33,750,000 here), so it was made from other usage data")


def test_a_report_whose_shared_days_agree_or_do_not_overlap_is_compared():
    now = data_source_identity(False, USER["source"], ["model-a"], _tail(_history()))
    # The earlier export's last day was cut short (40 requests, not 100): that day is not read.
    revised = data_source_identity(False, "raw_usage (/data/usage_q2.csv)", ["model-a"], _tail(_history(), 1.0, 40.0))
    assert _since([_report(source=revised)], source=now)["compared"]
    # Last quarter's export ends before this one's history starts: nothing to check, compared as before.
    before = _history().assign(ds=lambda f: f["ds"] - pd.Timedelta(days=60))
    earlier = data_source_identity(False, "raw_usage (/data/usage_q1.csv)", ["model-a"], _tail(before, 3.2))
    assert _since([_report(source=earlier)], source=now)["compared"]


def test_a_report_from_another_file_that_ended_before_this_history_gives_way_to_one_from_this_file():
    """Another team's daily file, planned for a quarter that ended before this half-hourly history begins, was
    compared (+162%) though an earlier plan of this file existed: nothing of it shares a day with this history."""
    other = data_source_identity(False, "raw_usage (/data/wiki_daily_usage.csv)", ["model-a"])
    ended = _report("v3-other", source=other)
    for name in ("forecast_totals", "cost_forecast"):
        ended[name] = ended[name].assign(start=pd.Timestamp("2026-01-01"), end=pd.Timestamp("2026-03-31"))
    since = _since([ended, _report("v2")])
    assert since["compared"] and since["version"] == "v2" and since["other_source"] is None
    assert since["skipped"] == [{"version": "v3-other", "reason": (
        "it was read from raw_usage (/data/wiki_daily_usage.csv), and its history and horizon (to 2026-03-31) end "
        "before this run's history begins (2026-09-01), so nothing shows it is an earlier plan of this usage")}]
    assert since["grade"]["version"] == "v2"
    # From this run's own file, the same old plan stays a baseline (the file may have been overwritten).
    assert _since([{**ended, "data_source": USER}])["version"] == "v3-other"


def test_a_report_whose_last_days_lie_inside_this_history_is_checked_against_them():
    """A report from a file that ended in early August, beside this run's history from July through September:
    its last days are not among this history's last four weeks, which had let it through as an earlier plan of
    this usage; this history records them, 3.2 times lower."""
    longer = pd.concat([_history().assign(ds=lambda f: f["ds"] - pd.Timedelta(days=days)) for days in (0, 30, 60)],
                       ignore_index=True).dropna()
    now = data_source_identity(False, USER["source"], ["model-a"], _tail(longer))
    early = longer[lambda f: f["ds"] <= "2026-08-10"]
    other = data_source_identity(False, "raw_usage (other_service.csv)", ["model-a"], _tail(early, 3.2))
    horizon, cost = _horizon()
    since = since_last_report([_report(source=other)], longer, horizon, cost, Q, now)
    assert not since["compared"]
    # By hand: its last 28 days, 07-14 to 08-10, less its last day (08-10) and 07-30 without requests: 26.
    assert "on the 26 series-days both record (requests 8,320 there against 2,600 here)" in since["skipped"][0]["reason"]


def test_series_in_common_are_compared_and_the_others_named():
    more = data_source_identity(False, USER["source"], ["model-a", "model-new"])
    horizon, cost = _horizon()
    new = horizon.assign(series="model-new")
    since = since_last_report([_report()], _history(), pd.concat([horizon, new]), pd.concat([cost, fx.costs(new)]), Q,
                              more)
    assert since["compared"] and since["shared_series"] == 1
    assert since["series_left_out"] == "only in this run: model-new"
    # The change covers model-a alone, in both runs.
    requests = next(t for t in since["targets"] if t["target"] == "requests")
    assert requests["now"] == pytest.approx(horizon.set_index("target").loc["requests", "p50"])


def test_horizons_a_day_apart_are_compared_per_day():
    """A 51-day plan after a 50-day one: compared whole, the extra day alone reads as +2%."""
    report = _report()
    for key in ("forecast_totals", "cost_forecast"):
        report[key] = report[key].assign(end=THEN_DAYS[0] + pd.Timedelta(days=49), buckets=50)
    horizon, cost = _horizon()
    longer = {"start": pd.Timestamp("2026-10-01"), "end": pd.Timestamp("2026-11-20"), "buckets": 51}
    horizon, cost = horizon.assign(**longer), cost.assign(**longer)
    since = since_last_report([report], _history(), horizon, cost, Q, USER)
    assert since["compared"] and since["per_day"]
    assert (since["days_now"], since["days_then"]) == (pytest.approx(51), pytest.approx(50))
    assert since["cost_change"] == pytest.approx(cost["p50"].sum() * 50 / 51 / 30.0 - 1)


def test_the_last_plan_is_graded_on_the_days_both_cover():
    grade = _since([_report()])["grade"]
    # Its horizon's first four days (09-27 to 09-30) are in this history; requests have no value on 09-28.
    assert (grade["first"], grade["last"], grade["days"], grade["missing"]) == (
        pd.Timestamp("2026-09-27"), pd.Timestamp("2026-09-30"), 4, 1)
    assert grade["per_bucket"] and grade["days_then"] == pytest.approx(10)
    # Requests: 3 recorded days of 100 = 300. Those days hold 3 x 50 of its 950 per-bucket P50,
    # so it forecast 1,000 x 150 / 950 = 157.9 for them (126.3 - 189.5): above its P90.
    requests = grade["by_target"]["requests"]
    assert requests["actual"] == pytest.approx(300.0)
    assert (requests["lo"], requests["p50"], requests["hi"]) == pytest.approx(
        (800 * 150 / 950, 1_000 * 150 / 950, 1_200 * 150 / 950))
    assert requests["where"] == "above" and requests["error"] == pytest.approx(300 / (1_000 * 150 / 950) - 1)
    # Input tokens: 4 days of 1.25M = 5M against 4/10 of 10M = 4M (3.2M - 4.8M): above, +25%.
    tokens = grade["by_target"]["input_tokens"]
    assert (tokens["actual"], tokens["lo"], tokens["p50"], tokens["hi"]) == pytest.approx((5e6, 3.2e6, 4e6, 4.8e6))
    assert tokens["where"] == "above" and tokens["error"] == pytest.approx(0.25)
    # Cost at its own price ($30 for 10M tokens: $3 a million): 5M tokens = $15 against 4/10 of $30 = $12
    # ($9.60 - $14.40).
    cost = grade["cost"]
    assert (cost["actual"], cost["lo"], cost["p50"], cost["hi"]) == pytest.approx((5e6 * INPUT_USD, 9.6, 12.0, 14.4))
    assert cost["where"] == "above" and cost["unpriced"] == 0


def test_without_its_per_bucket_forecast_the_totals_are_scaled_by_buckets():
    grade = _since([_report(per_bucket=False)])["grade"]
    requests = grade["by_target"]["requests"]
    # 3 of its 10 buckets: 300 (240 - 360), and the 300 recorded fall inside.
    assert (requests["lo"], requests["p50"], requests["hi"]) == pytest.approx((240.0, 300.0, 360.0))
    assert requests["where"] == "inside" and not grade["per_bucket"]


def _not_yet_recorded(version: str) -> dict:
    """A plan of the days after this history (a re-run on the same export): nothing of it is recorded."""
    later = _report(version)
    for name in ("forecast_totals", "cost_forecast"):
        later[name] = later[name].assign(start=pd.Timestamp("2026-10-01"), end=pd.Timestamp("2026-10-10"))
    return later


def test_a_last_plan_whose_horizon_is_not_yet_recorded_is_not_graded():
    since = _since([_not_yet_recorded("v2")])
    assert since["compared"] and since["grade"] is None


def test_after_a_re_run_on_the_same_export_the_plan_before_it_is_graded():
    since = _since([_not_yet_recorded("v3"), _report("v2-demo", source=DEMO), _report("v1")])
    assert since["version"] == "v3" and since["grade"]["version"] == "v1"


def test_a_last_plan_without_a_cost_per_token_type_has_its_usage_graded_not_its_cost():
    report = _report()
    report["cost_forecast"] = report["cost_forecast"].drop(columns="p50_input")
    grade = _since([report])["grade"]
    assert grade["cost"] is None and grade["by_target"]["input_tokens"]["where"] == "above"
