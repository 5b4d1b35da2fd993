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
    # out, so 26 days of 100 requests here and 320 there: 26 x 220 apart.
    assert skipped["reason"] == ("its history disagrees with this run's on the 26 series-days both record (their "
                                 "requests differ by 5,720 day by day, 220% of this run's 2,600 on them, where at most "
                                 "10% is allowed), so it was made from other usage data")


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
        "its history disagrees with this run's on the 27 series-days both record (their input_tokens differ by "
        "135,000,000 day by day, 400% of this run's 33,750,000 on them, where at most 10% is allowed), so it was "
        "made from other usage data")


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
    assert "on the 26 series-days both record (their requests differ by 5,720 day by day" in since["skipped"][0][
        "reason"]


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


def test_a_later_plan_of_the_same_usage_is_named_as_one():
    """Last quarter re-run after this quarter's plan: the later report is the same usage exported later, not other
    usage data."""
    later = _report("v2")
    for name in ("forecast_totals", "cost_forecast"):
        later[name] = later[name].assign(start=pd.Timestamp("2026-10-11"), end=pd.Timestamp("2026-10-20"))
    since = _since([later, _report("v1")])
    assert since["version"] == "v1"
    assert since["skipped"] == [{"version": "v2", "reason": "it is a later plan: its history ends after this run's "
                                                           "(its horizon starts 2026-10-11, this run's 2026-10-01)"}]


def test_histories_whose_totals_agree_but_days_do_not_are_told_apart_by_the_measure_the_rule_uses():
    """Another service's days swing 60% either way around this run's: the two totals are 1.5% apart, the rule
    (the days' differences added up, at most 10% of this run's total) is far over, and the reason quotes it."""
    now = data_source_identity(False, USER["source"], ["model-a"], _tail(_history()))
    tail = _tail(_history())
    days = tail["by_target"]["requests"]["model-a"]
    for at, day in enumerate(sorted(days)):
        days[day] = 160.0 if at % 2 else 40.0
    other = data_source_identity(False, "raw_usage (other_service.csv)", ["model-a"], tail)
    (skipped,) = _since([_report(source=other)], source=now)["skipped"]
    # By hand: of the 26 days both record (09-03 to 09-29 without 09-28), 13 read 160 and 13 read 40 there
    # (sorted, 09-28 skipped here: 09-03 is the first, at 0), 100 each here: 60 apart each, 1,560 in all.
    assert skipped["reason"] == ("its history disagrees with this run's on the 26 series-days both record (their "
                                 "requests differ by 1,560 day by day, 60% of this run's 2,600 on them, where at most "
                                 "10% is allowed), so it was made from other usage data")


# A plan of the reviewer's shape: its horizon 2026-08-16 to 2026-12-31, printed by month (August from the 16th), of
# a flat 100 requests and 1M input tokens a day at $3 a million. Each month's P10-P90 is narrower, relative to its
# P50, than the horizon's (a level error grows with the distance ahead): +-8% for a whole month, +-10% for August's
# 16 days, +-25% for the horizon.
MONTHS = {"2026-08": ("2026-08-16", "2026-08-31", 0.10), "2026-09": ("2026-09-01", "2026-09-30", 0.08),
          "2026-10": ("2026-10-01", "2026-10-31", 0.08), "2026-11": ("2026-11-01", "2026-11-30", 0.08),
          "2026-12": ("2026-12-01", "2026-12-31", 0.08), "horizon": ("2026-08-16", "2026-12-31", 0.25)}
PER_DAY = {"requests": 100.0, "input_tokens": 1e6}


def _by_month(widths: dict | None = None) -> dict:
    rows = []
    for period, (start, end, width) in MONTHS.items():
        width = (widths or {}).get(period, width)
        days = len(pd.date_range(start, end))
        for target, per_day in PER_DAY.items():
            p50 = per_day * days
            rows.append({"series": "model-a", "target": target, "period": period, "start": pd.Timestamp(start),
                         "end": pd.Timestamp(end), "buckets": days, "p10": p50 * (1 - width), "p50": p50,
                         "p90": p50 * (1 + width)})
    totals = pd.DataFrame(rows)
    tokens = totals[totals["target"] == "input_tokens"]
    cost = tokens.assign(**{q: tokens[q] * INPUT_USD for q in Q}, p50_input=tokens["p50"] * INPUT_USD)
    days = pd.date_range("2026-08-16", "2026-12-31")
    forecast = pd.DataFrame([{"series": "model-a", "target": t, "timestamp": d.tz_localize("UTC"), "p50": v}
                             for d in days for t, v in PER_DAY.items()])
    return {"version": "v1", "data_source": USER, "forecast_totals": totals,
            "cost_forecast": cost.drop(columns="target"), "forecast": forecast}


def _recorded_to(last: str, scale: float) -> pd.DataFrame:
    """``scale`` times the plan's daily P50, recorded from 2026-07-01 to ``last``."""
    days = pd.date_range("2026-07-01", last)
    return pd.DataFrame([{"series": "model-a", "target": t, "ds": d, "y": v * scale}
                         for d in days for t, v in PER_DAY.items()])


def _graded(history: pd.DataFrame, report: dict) -> dict:
    horizon, cost = _horizon()
    return since_last_report([report], history, horizon, cost, Q, USER)["grade"]


def test_whole_months_of_the_last_plan_are_graded_against_what_it_printed_for_them():
    """The reviewer's case: 2026-08-16 to 09-30 recorded, 10% over the plan. Scaled from the horizon's width
    (+-25%: 3,450 - 5,750), that was inside; August's 16 days and September as printed add up to 4,200 - 5,000."""
    grade = _graded(_recorded_to("2026-09-30", 1.1), _by_month())
    requests = grade["by_target"]["requests"]
    # By hand: August 1,440 - 1,600 - 1,760 and September 2,760 - 3,000 - 3,240, added.
    assert (requests["lo"], requests["p50"], requests["hi"]) == pytest.approx((4_200.0, 4_600.0, 5_000.0))
    assert requests["actual"] == pytest.approx(5_060.0) and requests["where"] == "above"
    assert grade["whole_periods"] == ["2026-08", "2026-09"] and grade["part_periods"] == []
    # The cost is its months' cost, added the same way: 42M - 50M input tokens at $3 a million.
    cost = grade["cost"]
    assert (cost["lo"], cost["p50"], cost["hi"]) == pytest.approx((4.2e7 * INPUT_USD, 4.6e7 * INPUT_USD,
                                                                   5.0e7 * INPUT_USD))
    assert cost["where"] == "above"


def test_a_cut_inside_a_month_takes_the_width_of_the_plans_period_nearest_in_length():
    """History to 2026-09-20: August whole, and 20 days of September, nearer in length to August's 16 days than to
    a whole month: its share of September's P50 with August's relative width, never the horizon's."""
    grade = _graded(_recorded_to("2026-09-20", 1.12), _by_month())
    requests = grade["by_target"]["requests"]
    # By hand: August 1,440 - 1,600 - 1,760; September's 20 days 2,000 at P50, +-10%: 1,800 - 2,200.
    assert (requests["lo"], requests["p50"], requests["hi"]) == pytest.approx((3_240.0, 3_600.0, 3_960.0))
    # 4,032 recorded: inside the horizon's +-25% around the same P50 (2,700 - 4,500).
    assert requests["actual"] == pytest.approx(4_032.0) and requests["where"] == "above"
    assert grade["whole_periods"] == ["2026-08"] and grade["part_periods"] == ["2026-09"]
    assert _graded(_recorded_to("2026-09-20", 1.05), _by_month())["by_target"]["requests"]["where"] == "inside"
    # The cost is graded the same way: 32.4M - 39.6M input tokens at $3 a million.
    cost = grade["cost"]
    assert (cost["lo"], cost["p50"], cost["hi"]) == pytest.approx((3.24e7 * INPUT_USD, 3.6e7 * INPUT_USD,
                                                                   3.96e7 * INPUT_USD))


def test_a_part_of_a_month_is_never_graded_above_its_whole_months_p90():
    """22 days of September take August's width; where August's is wide (+-50%), the part's P90 would pass all
    of September's, which the plan printed at 3,240."""
    grade = _graded(_recorded_to("2026-09-22", 1.0), _by_month({"2026-08": 0.5}))
    requests = grade["by_target"]["requests"]
    # By hand: August 800 - 1,600 - 2,400; September's 22 days 2,200 at P50, 1,100 - 3,300, held to 3,240.
    assert (requests["lo"], requests["p50"], requests["hi"]) == pytest.approx((1_900.0, 3_800.0, 5_640.0))


def test_a_whole_horizon_recorded_is_graded_against_its_horizon_totals():
    """Every month recorded: the horizon's own totals, as printed (it holds them inside its months' sums)."""
    report = _by_month({"horizon": 0.05})
    grade = _graded(_recorded_to("2026-12-31", 1.0), report)
    requests = grade["by_target"]["requests"]
    assert (requests["lo"], requests["p50"], requests["hi"]) == pytest.approx((13_110.0, 13_800.0, 14_490.0))
    assert grade["whole_periods"] == ["horizon"]
    assert grade["cost"]["hi"] == pytest.approx(1.38e8 * 1.05 * INPUT_USD)
