"""Peak forecast and crossing dates on series with a known growth; the planning pipeline on an in-memory catalog."""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tokenplan.forecasting.migrations import MIGRATION_COLUMNS
from tokenplan.planning.capacity import PLAN_COLUMNS, PeakModel, capacity_tables, extrapolated_crossing
from tokenplan.planning.peaks import forecast_bucket_peaks, usage_peaks

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GROWTH_PER_DAY = 0.01      # 1% a day
BURST = 2.0                # busiest minute = 2x the hour's mean minute
GROWTH = 0.008
HISTORY_END = pd.Timestamp("2026-03-01", tz="UTC")
HOUR_SHAPE = np.where((np.arange(24) >= 9) & (np.arange(24) < 17), 1.0, 0.25)


NO_EVENTS = pd.DataFrame({"start": pd.to_datetime([], utc=True), "end": pd.to_datetime([], utc=True), "name": [],
                          "kind": [], "scope": [], "effect": [], "basis": []})


def _usage(days: int = 70) -> pd.DataFrame:
    """Hourly usage of one model growing 1% a day, with a fixed daily shape and burst factor."""
    hours = pd.date_range(HISTORY_END - pd.Timedelta(days=days), HISTORY_END, freq="h", inclusive="left")
    age = (hours - HISTORY_END) / pd.Timedelta(days=1)
    requests = 600.0 * HOUR_SHAPE[hours.hour] * np.exp(GROWTH_PER_DAY * age)
    return pd.DataFrame({"timestamp": hours, "series": "claude-sonnet-4-5", "requests": requests,
                         "input_tokens": requests * 1000, "cache_write_tokens": requests * 100,
                         "cache_read_tokens": requests * 500, "output_tokens": requests * 200,
                         "peak_rpm": requests / 60 * BURST, "peak_itpm": requests * 1100 / 60 * BURST,
                         "peak_otpm": requests * 200 / 60 * BURST})


def _forecast(days: int = 91, width: float = 0.1) -> pd.DataFrame:
    """A daily forecast continuing the same growth, +-``width`` at P10/P90."""
    ds = pd.date_range(HISTORY_END, periods=days, freq="D")
    daily = 600.0 * HOUR_SHAPE.sum() * np.exp(GROWTH_PER_DAY * ((ds - HISTORY_END) / pd.Timedelta(days=1) + 0.5))
    rows = []
    for target, per_request in (("requests", 1), ("input_tokens", 1000), ("cache_write_tokens", 100),
                                ("cache_read_tokens", 500), ("output_tokens", 200)):
        total = daily * per_request
        rows.append(pd.DataFrame({"series": "claude-sonnet-4-5", "target": target, "timestamp": ds,
                                  "p10": total * (1 - width), "p50": total, "p90": total * (1 + width)}))
    return pd.concat(rows, ignore_index=True)


class _KeptDataset(MemoryDataset):
    """A memory dataset the runner does not empty once its consumers are done, for inspection."""

    def _release(self) -> None:
        pass


def _limits(rpm: float) -> pd.DataFrame:
    return pd.DataFrame({"rpm": [rpm], "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False]},
                        index=["Claude Sonnet 4.x"])


def _peak_rpm_today(day: int) -> float:
    """The true busiest minute on forecast day ``day`` (peak hours' mean minute x burst)."""
    return 600.0 * np.exp(GROWTH_PER_DAY * (day + 0.5)) / 60 * BURST


def test_crossing_date_on_a_series_with_known_growth():
    usage = _usage()
    ratios = forecast_bucket_peaks(usage_peaks(usage, {"claude-sonnet-4-5": "Claude Sonnet 4.x"}, {}, "h", 9.0),
                                   "h", "D")
    assert ratios["measured"].all()
    limit = _peak_rpm_today(40) * 0.999  # crossed on day 40 at P50
    # A narrow forecast (+-1%): with +-10% of mostly independent day noise some day before day 40 goes over
    # more likely than not (the crossing is the median first day over, see the next test).
    plan, buckets = capacity_tables(_forecast(width=0.01), ratios, _limits(limit),
                                    {"Claude Sonnet 4.x": ["claude-sonnet-4-5"]},
                                    ["p10", "p50", "p90"], "D", PeakModel(n_draws=400))
    assert list(plan.columns) == list(PLAN_COLUMNS)
    horizon = plan[(plan["period"] == "horizon") & (plan["metric"] == "rpm")].iloc[0]
    expected = HISTORY_END.tz_localize(None) + pd.Timedelta(days=40)
    assert abs((horizon["first_crossing_p50"] - expected).days) <= 1
    assert horizon["first_crossing_p90"] < horizon["first_crossing_p50"]
    # P50 of the busiest minute tracks the truth every day (the ratio is exact here).
    rpm = buckets[buckets["metric"] == "rpm"].reset_index(drop=True)
    truth = np.array([_peak_rpm_today(d) for d in range(len(rpm))])
    np.testing.assert_allclose(rpm["p50"], truth, rtol=0.02)
    # A row has a crossing exactly when its quantile is over the limit, and at the window's start or later.
    for q in ("p50", "p90"):
        over = plan[q] > plan["limit"]
        assert (plan[f"first_crossing_{q}"].notna() == over).all(), plan
        crossed = plan[over]
        assert (crossed[f"first_crossing_{q}"] >= pd.to_datetime(crossed["start"]).dt.normalize()).all()
    assert plan["period"].tolist()[:4] == ["2026-03", "2026-04", "2026-05", "horizon"]
    assert horizon["headroom_p90"] < 0


def _flat_plan(limit: float, model: PeakModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan of a flat forecast (every day at day 0's level, +-10% at P10/P90) against an RPM ``limit``."""
    usage = _usage()
    ratios = forecast_bucket_peaks(usage_peaks(usage, {"claude-sonnet-4-5": "Claude Sonnet 4.x"}, {}, "h", 9.0),
                                   "h", "D")
    flat = _forecast(width=0.1).assign(**{q: lambda f, q=q: f.groupby("target")[q].transform("first")
                                          for q in ("p10", "p50", "p90")})
    plan, buckets = capacity_tables(flat, ratios, _limits(limit), {"Claude Sonnet 4.x": ["claude-sonnet-4-5"]},
                                    ["p10", "p50", "p90"], "D", model)
    return plan[(plan["period"] == "horizon") & (plan["metric"] == "rpm")].iloc[0], buckets[buckets["metric"] == "rpm"]


def test_the_crossing_is_the_median_first_day_over_on_independent_days():
    """Known answer: independent days (no shared error), each over the limit with chance 1 in 4 (the limit at
    the day's P75 busiest minute; the ratio is exact). The chance the limit has been hit by day k is
    1 - 0.75^k: 25% on day 1 (so P90's crossing is day 1) and 44%, 58% on days 2 and 3 (so P50's is day 3),
    though no single day is over at P50."""
    sigma = np.log(1.1) / NormalDist().inv_cdf(0.9)
    limit = _peak_rpm_today(0) * np.exp(NormalDist().inv_cdf(0.75) * sigma)
    horizon, days = _flat_plan(limit, PeakModel(n_draws=4000, error_correlation=0.0))
    start = HISTORY_END.tz_localize(None)
    assert (days["p50"] < limit).all() and (days["p90"] > limit).all()
    assert horizon["first_crossing_p90"] == start
    assert horizon["first_crossing_p50"] == start + pd.Timedelta(days=2)


def test_a_limit_over_the_windows_p90_has_a_crossing_though_no_day_is_over_at_p90():
    """Every day is under the limit at P90 while the 91 days' busiest minute is over it at P90: the plan gives
    the day by which it has been hit in 1 draw in 10, never "not crossed" beside a P90 over the limit."""
    limit = _peak_rpm_today(0) * 1.1 * 1.03
    horizon, days = _flat_plan(limit, PeakModel(n_draws=2000))
    assert (days["p90"] < limit).all()
    assert horizon["p90"] > limit and horizon["headroom_p90"] < 0
    start = HISTORY_END.tz_localize(None)
    assert start < horizon["first_crossing_p90"] <= start + pd.Timedelta(days=90)
    assert pd.isna(horizon["first_crossing_p50"]) == (horizon["p50"] <= limit)


def test_the_busiest_minute_so_far_crosses_the_limit_on_the_first_days_over_and_history_over_it_is_counted():
    """The per-day table carries the busiest minute since the horizon began at P50 and P90: each first goes over
    the limit on the horizon row's first day over (which a day's own P90 need not reach). The plan counts the days
    history's own busiest minute was already over the limit, the last of them and history's highest."""
    limit = _peak_rpm_today(0) * 1.1 * 1.03
    horizon, days = _flat_plan(limit, PeakModel(n_draws=2000))
    assert (days["p90"] < limit).all() and days["whole_day"].all()
    assert pd.notna(horizon["first_crossing_p90"])
    for q in ("p50", "p90"):
        over = days.loc[days[f"{q}_so_far"] > limit, "ds"]
        first, stated = (over.iloc[0] if len(over) else pd.NaT), horizon[f"first_crossing_{q}"]
        assert first == stated or (pd.isna(first) and pd.isna(stated)), (q, first, stated)
    assert days["p90_so_far"].iloc[-1] == pytest.approx(horizon["p90"])
    # History's busiest minute of a day is 20 x exp(1% x its age in days) at 16:00, its last busy hour: 19.93,
    # 19.74, 19.54 and 19.35 on its last four days. Under the limit here; over a limit of 19.5 on the last three.
    assert horizon["history_days_over"] == 0
    assert horizon["history_peak"] == pytest.approx(20 * np.exp(-0.01 / 3), rel=1e-3)
    usage = _usage()
    ratios = forecast_bucket_peaks(usage_peaks(usage, {"claude-sonnet-4-5": "Claude Sonnet 4.x"}, {}, "h", 9.0),
                                   "h", "D")
    plan, _ = capacity_tables(_forecast(), ratios, _limits(19.5), {"Claude Sonnet 4.x": ["claude-sonnet-4-5"]},
                              ["p10", "p50", "p90"], "D", PeakModel(n_draws=100))
    row = plan[(plan["period"] == "horizon") & (plan["metric"] == "rpm")].iloc[0]
    assert row["history_days_over"] == 3
    assert row["history_last_over"] == (HISTORY_END - pd.Timedelta(days=1)).tz_localize(None)


def test_a_day_missing_hours_keeps_its_measured_busiest_minute_in_history_but_lends_no_ratio():
    """A day with two hours missing from the export is incomplete: its mean minute is unknown, so it lends no
    peak-to-mean ratio, but the busiest minute measured in the hours it has is history's, and over a limit it
    counts as a day over (left out, history's highest minute went unreported)."""
    usage = _usage()
    gap_day = HISTORY_END - pd.Timedelta(days=10)
    usage = usage[~usage["timestamp"].isin([gap_day + pd.Timedelta(hours=h) for h in (7, 8)])].copy()
    burst = usage["timestamp"] == gap_day + pd.Timedelta(hours=15)
    usage.loc[burst, "peak_rpm"] = 90.0  # a retry storm: 4.5 times any other day's busiest minute
    ratios = forecast_bucket_peaks(usage_peaks(usage, {"claude-sonnet-4-5": "Claude Sonnet 4.x"}, {}, "h", 9.0),
                                   "h", "D")
    row = ratios[(ratios["metric"] == "rpm") & (ratios["ds"] == gap_day.tz_localize(None))].iloc[0]
    assert row["peak"] == 90.0 and np.isnan(row["total"]) and np.isnan(row["ratio"])
    plan, _ = capacity_tables(_forecast(), ratios, _limits(50.0), {"Claude Sonnet 4.x": ["claude-sonnet-4-5"]},
                              ["p10", "p50", "p90"], "D", PeakModel(n_draws=100))
    horizon = plan[(plan["period"] == "horizon") & (plan["metric"] == "rpm")].iloc[0]
    assert horizon["history_days_over"] == 1 and horizon["history_peak"] == 90.0
    assert horizon["history_last_over"] == gap_day.tz_localize(None)
    # The day lends no ratio: the draws read the same complete days as without it.
    complete = ratios[ratios["ds"] != gap_day.tz_localize(None)]
    without, _ = capacity_tables(_forecast(), complete, _limits(50.0), {"Claude Sonnet 4.x": ["claude-sonnet-4-5"]},
                                 ["p10", "p50", "p90"], "D", PeakModel(n_draws=100))
    pd.testing.assert_series_equal(plan["p90"], without["p90"])


def test_extrapolated_crossing_after_the_horizon():
    ds = pd.date_range("2026-01-01", periods=91, freq="D")
    values = 100 * np.exp(GROWTH_PER_DAY * np.arange(91))
    limit = 100 * np.exp(GROWTH_PER_DAY * 150)
    when = extrapolated_crossing(ds, values, limit, max_days=730)
    assert abs((when - (ds[0] + pd.Timedelta(days=150))).days) <= 4  # weekly highs lead by up to 6 days
    assert pd.isna(extrapolated_crossing(ds, values[::-1], limit, max_days=730))  # shrinking: never


def test_a_p90_widening_with_the_step_is_not_growth_in_the_extrapolated_crossing():
    """A flat P50 whose P90 widens with the square root of the step (as the forecast's intervals do past the
    backtest window): its own log-linear fit read the widening as 3% a month and put a crossing after the
    horizon; at the P50's growth (none) there is none. With growth, the P90 crosses at the P50's rate from
    where the P90 ends."""
    ds = pd.date_range("2026-01-01", periods=151, freq="D")
    step = np.arange(1, 152)
    widening = 1 + 0.25 * np.sqrt(step / 18)
    flat = np.full(151, 100.0)
    limit = 100 * widening[-1] * 1.3
    assert pd.notna(extrapolated_crossing(ds, flat * widening, limit, max_days=730))  # what the old reading said
    assert pd.isna(extrapolated_crossing(ds, flat * widening, limit, max_days=730, growth_of=flat))
    growing = 100 * np.exp(0.002 * np.arange(151))
    p90 = growing * widening
    when = extrapolated_crossing(ds, p90, p90[-1] * np.exp(0.002 * 120), max_days=730, growth_of=growing)
    assert abs((when - (ds[-1] + pd.Timedelta(days=120))).days) <= 7
    as_own_growth = extrapolated_crossing(ds, p90, p90[-1] * np.exp(0.002 * 120), max_days=730)
    assert (ds[-1] + pd.Timedelta(days=120) - as_own_growth).days > 30  # the widening read as growth: weeks early


def test_the_plan_extrapolates_no_p90_crossing_for_a_flat_forecast_with_widening_intervals():
    """The plan's horizon row: a flat daily forecast whose P90 widens with the step has no growth to extrapolate."""
    ratios = forecast_bucket_peaks(usage_peaks(_usage(), {"claude-sonnet-4-5": "Claude Sonnet 4.x"}, {}, "h", 9.0),
                                   "h", "D")
    forecast = _forecast(days=151)
    for target, rows in forecast.groupby("target"):
        level = rows["p50"].iloc[0]
        widening = 1 + 0.25 * np.sqrt(np.arange(1, len(rows) + 1) / 18)
        forecast.loc[rows.index, "p50"] = level
        forecast.loc[rows.index, "p10"] = level / widening
        forecast.loc[rows.index, "p90"] = level * widening
    plan, _ = capacity_tables(forecast, ratios, _limits(_peak_rpm_today(0) * 2.2),
                              {"Claude Sonnet 4.x": ["claude-sonnet-4-5"]}, ["p10", "p50", "p90"], "D",
                              PeakModel(n_draws=200))
    horizon = plan[(plan["period"] == "horizon") & (plan["metric"] == "rpm")].iloc[0]
    assert pd.isna(horizon["first_crossing_p90"])
    assert pd.isna(horizon["extrapolated_crossing_p50"]) and pd.isna(horizon["extrapolated_crossing_p90"])


def test_a_stated_launch_in_the_horizon_is_a_step_not_growth_in_the_extrapolated_crossing():
    """Two series of one group grow 0.3% a day; one (Opus's, 60% of the group) steps up x1.3 from day 55 by a
    stated launch held after the horizon. Read as growth, the step steepened the weekly highs' fit and put the
    crossing months early; with the step divided out and held after, it is where the base growth, lifted by the
    held launch, meets the limit."""
    from tokenplan.planning.capacity import unit_step
    from tokenplan.planning.stated_events import daily_multipliers

    ds = pd.date_range("2026-10-01", periods=92, freq="D")
    base = np.exp(0.003 * np.arange(92))
    launch = np.where(np.arange(92) >= 55, 1.3, 1.0)
    quantiles = {"claude-opus-4-5/agents": pd.DataFrame({"p10": 54 * base * launch, "p50": 60 * base * launch,
                                                         "p90": 66 * base * launch}, index=ds),
                 "claude-sonnet-4-5/labs": pd.DataFrame({"p10": 36 * base, "p50": 40 * base, "p90": 44 * base},
                                                        index=ds)}
    events = pd.DataFrame({"start": [pd.Timestamp("2026-11-25", tz="UTC")], "end": [pd.Timestamp("2027-01-01",
                                                                                                  tz="UTC")],
                           "name": ["Agent v2"], "kind": ["launch"], "scope": ["claude-opus-4-5"], "effect": [1.3],
                           "basis": ["stated"]})
    daily, after = daily_multipliers(events, ["claude-opus-4-5", "claude-sonnet-4-5"], ds, ds[-1])
    step = unit_step(quantiles, daily, after)
    unit = sum(q["p50"] for q in quantiles.values()).to_numpy()
    assert step.after == pytest.approx(unit[-1] / (60 * base[-1] + 40 * base[-1]), rel=1e-9)
    np.testing.assert_allclose(unit / step.daily.to_numpy(), 100 * base, rtol=1e-9)
    limit = unit[-1] * np.exp(0.003 * 120)  # the base growth reaches it 120 days after the last day
    as_growth = extrapolated_crossing(ds, unit, limit, max_days=730)
    as_step = extrapolated_crossing(ds, unit, limit, max_days=730, step=step)
    expected = ds[-1] + pd.Timedelta(days=120)
    assert abs((as_step - expected).days) <= 7
    assert (expected - as_growth).days > 45  # read as growth: weeks early
    assert unit_step({"claude-sonnet-4-5/labs": quantiles["claude-sonnet-4-5/labs"]}, daily, after) is None
    # A campaign still running the day after the horizon ends with its own days: it is not held after it.
    campaign = events.assign(kind="campaign", end=pd.Timestamp("2027-01-10", tz="UTC"))
    _, after = daily_multipliers(campaign, ["claude-opus-4-5", "claude-sonnet-4-5"], ds, ds[-1])
    assert after.to_dict() == {"claude-opus-4-5": 1.0, "claude-sonnet-4-5": 1.0}


def test_hourly_forecast_gives_hourly_buckets():
    usage = _usage(28)
    ratios = forecast_bucket_peaks(usage_peaks(usage, {"claude-sonnet-4-5": "g"}, {}, "h", 9.0), "h", "h")
    daily = _forecast(7)
    hourly = []
    for row in daily.itertuples():
        hours = pd.date_range(row.timestamp, periods=24, freq="h")
        share = HOUR_SHAPE / HOUR_SHAPE.sum()
        hourly.append(pd.DataFrame({"series": row.series, "target": row.target, "timestamp": hours,
                                    "p10": row.p10 * share, "p50": row.p50 * share, "p90": row.p90 * share}))
    plan, buckets = capacity_tables(pd.concat(hourly), ratios, _limits(np.inf).rename(index={"Claude Sonnet 4.x": "g"}),
                                    {"g": ["claude-sonnet-4-5"]}, ["p10", "p50", "p90"], "h", PeakModel(n_draws=200))
    rpm = buckets[buckets["metric"] == "rpm"].set_index("ds")["p50"]
    assert len(rpm) == 7  # the busiest minute of each day, from hourly buckets
    # Ratios are learned per hour of the day; the day's busiest of 8 noisy peak hours sits a little above
    # the peak hours' median (each +-10% at P10/P90).
    assert _peak_rpm_today(6) <= rpm.iloc[-1] <= 1.15 * _peak_rpm_today(6)


def test_planning_pipeline_on_an_in_memory_catalog():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    # Two workspaces of one model, 3:1: one model group, two gateway deployments.
    shares = {"claude-sonnet-4-5/team-a": 0.75, "claude-sonnet-4-5/team-b": 0.25}
    counts = ["requests", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens",
              "peak_rpm", "peak_itpm", "peak_otpm"]
    usage = pd.concat([_usage().assign(series=name, **{c: lambda f, c=c, k=k: f[c] * k for c in counts})
                       for name, k in shares.items()], ignore_index=True)
    forecast = pd.concat([_forecast(28).assign(series=name, **{q: lambda f, q=q, k=k: f[q] * k
                                                               for q in ("p10", "p50", "p90")})
                          for name, k in shares.items()], ignore_index=True)
    # Out-of-sample predictions of the 28 days after an origin 36 days before the end (exact, +-10%).
    backtest = forecast.rename(columns={"timestamp": "ds"}).assign(
        ds=lambda f: f["ds"] - pd.Timedelta(days=35), origin=HISTORY_END.tz_localize(None) - pd.Timedelta(days=36),
        method="chosen")
    backtest[["p10", "p50", "p90"]] *= np.exp(-GROWTH_PER_DAY * 35)
    params = {name: yaml.safe_load((PROJECT_ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())[name]
              for name in ("planning", "ingestion", "feature_engineering", "training")}
    params["planning"]["capacity"]["n_draws"] = 200
    rate_limits_raw = pd.DataFrame({"model_group": ["Claude Sonnet 4.x"], "models": ["claude-sonnet-4-5"],
                                    "rpm": ["24"], "itpm": [""], "otpm": ["100000"]})
    catalog = DataCatalog()
    for name, value in {"usage_buckets": usage, "forecast": forecast, "backtest_predictions": backtest,
                        "rate_limits_raw": rate_limits_raw, "forecast_layout": {"window": 28},
                        "forecast_events": NO_EVENTS, "migrations": pd.DataFrame(columns=MIGRATION_COLUMNS)}.items():
        catalog[name] = value
    for name in ("planning", "ingestion", "feature_engineering", "training"):
        catalog[f"params:{name}"] = params[name]
    catalog["params:planning.capacity"] = params["planning"]["capacity"]
    catalog["params:planning.routes.providers"] = params["planning"]["routes"]["providers"]
    outputs = ("capacity_plan", "gateway_config", "capacity_backtest", "capacity_calibration", "capacity_figures")
    for name in outputs:
        catalog[name] = _KeptDataset(copy_mode="assign")
    capacity_nodes = pipelines["planning"].only_nodes("build_rate_limits", "build_peak_history", "plan_capacity",
                                                      "backtest_capacity", "build_gateway_config")
    capacity_nodes += pipelines["reporting"].only_nodes("plot_capacity")
    SequentialRunner().run(capacity_nodes, catalog)
    plan = catalog["capacity_plan"].load()
    rpm = plan[(plan["metric"] == "rpm") & (plan["period"] == "horizon")].iloc[0]
    assert rpm["limit"] == 24 and pd.notna(rpm["first_crossing_p50"])
    assert plan.loc[plan["metric"] == "itpm", "limit"].isna().all()
    entries = {e["model_name"]: e["litellm_params"] for e in catalog["gateway_config"].load()["model_list"]}
    assert set(entries) == {"claude-sonnet-4-5:team-a", "claude-sonnet-4-5:team-b"}
    assert abs(entries["claude-sonnet-4-5:team-a"]["rpm"] - 24 * 0.9 * 0.75) <= 1
    assert abs(entries["claude-sonnet-4-5:team-b"]["rpm"] - 24 * 0.9 * 0.25) <= 1
    assert sum(e["rpm"] for e in entries.values()) <= 24 * 0.9 and "itpm" not in entries["claude-sonnet-4-5:team-a"]
    backtest_rows = catalog["capacity_backtest"].load()
    assert set(backtest_rows["kind"]) == {"day", "month", "horizon"} and backtest_rows["under_p90"].dtype == bool
    # One fold: nothing to cross-calibrate with, so the reported coverage is the raw simulation's.
    assert (backtest_rows["p90"] == backtest_rows["p90_raw"]).all()
    calibration = catalog["capacity_calibration"].load()
    # Exact ratios: against the realised totals they need (almost) no correction; one fold has no other fold
    # to check a correction on, so none is applied.
    assert 0.9 <= calibration["fitted_scale"] <= 1.1 and calibration["by_kind"]["day"] == 28 * 3
    assert not calibration["applied"] and calibration["ratio_scale"] == 1.0
    assert list(catalog["capacity_figures"].load()) == ["capacity_Claude_Sonnet_4.x.png"]


def test_without_per_minute_data_peaks_are_assumed_and_labelled():
    from tokenplan.reporting.capacity_section import render_capacity_section

    usage = _usage().drop(columns=["peak_rpm", "peak_itpm", "peak_otpm"])
    ratios = forecast_bucket_peaks(usage_peaks(usage, {"claude-sonnet-4-5": "Claude Sonnet 4.x"}, {}, "h", BURST),
                                   "h", "D")
    assert not ratios["measured"].any()
    plan, _ = capacity_tables(_forecast(width=0.01), ratios, _limits(30.0),
                              {"Claude Sonnet 4.x": ["claude-sonnet-4-5"]}, ["p10", "p50", "p90"], "D",
                              PeakModel(n_draws=200))
    assert (plan["peak_method"] == "assumed").all()
    # The assumed burst factor equals the true one here, so the crossing still comes out right (a narrow
    # forecast, as in the known-growth test).
    horizon = plan[(plan["period"] == "horizon") & (plan["metric"] == "rpm")].iloc[0]
    expected_day = int(np.ceil(np.log(30.0 / _peak_rpm_today(0)) / GROWTH_PER_DAY))
    assert abs((horizon["first_crossing_p50"] - (HISTORY_END.tz_localize(None)
                                                 + pd.Timedelta(days=expected_day))).days) <= 1
    limits = pd.DataFrame({"model_group": ["Claude Sonnet 4.x"], "models": ["claude-sonnet-4-5"], "rpm": [30.0],
                           "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False], "as_of": [""],
                           "source": ["limits.csv"]})
    demand = pd.DataFrame({"model_group": ["Claude Sonnet 4.x"], "series": ["claude-sonnet-4-5"], "metric": ["rpm"],
                           "p50": [1.0], "p90": [1.0]})
    text = render_capacity_section(plan, pd.DataFrame(), limits, demand, {"model_list": []},
                                   {"gateway": {"safety_margin": 0.1}, "assumed_peak_to_mean": {"h": BURST}})
    assert "Peaks assumed, not measured, for Claude Sonnet 4.x" in text and "limits.csv, undated" in text
    assert f"busiest minute = mean minute x{BURST:g} for hourly usage buckets" in text
    # The usage's own buckets say which factor applied: a daily export's alone, not every configured one.
    text = render_capacity_section(plan, pd.DataFrame(), limits, demand, {"model_list": []},
                                   {"gateway": {"safety_margin": 0.1}, "assumed_peak_to_mean": {"h": BURST, "D": 6.0}},
                                   usage_freq="D")
    assert "busiest minute = mean minute x6 for daily usage buckets" in text and "hourly" not in text, text
    assert "at least the busiest minute Poisson arrivals of the bucket's requests give" in text  # the floor applies


def test_one_minute_buckets_are_their_own_per_minute_peaks():
    from tokenplan.ingestion.usage_buckets import to_buckets

    minutes = pd.date_range("2026-01-01", periods=120, freq="min", tz="UTC")
    usage = pd.DataFrame({"timestamp": minutes.repeat(2), "model": "claude-opus-4-5",
                          "service_tier": ["standard", "priority"] * 120,  # two rows per minute, one series
                          "input_tokens": 10.0, "cache_write_tokens": 5.0, "cache_read_tokens": 100.0,
                          "output_tokens": np.tile([1.0, 2.0], 120)})
    usage.loc[usage["timestamp"] == minutes[70], "input_tokens"] = 500.0
    hourly = to_buckets(usage, "h", ["model"]).set_index("timestamp")
    assert hourly["input_tokens"].tolist() == [1200.0, 1200.0 + 2 * 490.0]
    assert hourly["peak_itpm"].tolist() == [30.0, 1010.0]  # (input + cache writes) of the busiest minute
    assert hourly["peak_otpm"].tolist() == [3.0, 3.0] and "peak_rpm" not in hourly  # no request counts


def _noisy_daily_history(days: int, seed: int = 3) -> pd.DataFrame:
    """Hourly usage of one model with day-to-day noise and a noisy burst factor (the demo's shape, small)."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(HISTORY_END - pd.Timedelta(days=days), HISTORY_END, freq="h", inclusive="left")
    day_noise = np.repeat(np.exp(rng.normal(0, 0.15, days)), 24)
    requests = 600.0 * HOUR_SHAPE[hours.hour] * np.exp(GROWTH * (hours - HISTORY_END).days) * day_noise
    burst = np.exp(rng.normal(np.log(BURST), 0.25, len(hours)))
    return pd.DataFrame({"timestamp": hours, "series": "claude-sonnet-4-5", "requests": requests,
                         "input_tokens": requests * 1000, "cache_write_tokens": requests * 100,
                         "cache_read_tokens": requests * 500, "output_tokens": requests * 200,
                         "peak_rpm": requests / 60 * burst, "peak_itpm": requests * 1100 / 60 * burst,
                         "peak_otpm": requests * 200 / 60 * burst})


def _daily_quantiles(usage: pd.DataFrame, start: pd.Timestamp, days: int, spread: float) -> pd.DataFrame:
    """A daily forecast of ``days`` from ``start``: P50 the level of the 28 days before it grown at ``GROWTH``,
    +-``spread``."""
    daily = usage.set_index("timestamp")[["requests", "input_tokens", "cache_write_tokens", "cache_read_tokens",
                                          "output_tokens"]].resample("D").sum()
    level = daily[(daily.index < start) & (daily.index >= start - pd.Timedelta(days=28))].mean()
    ds = pd.date_range(start, periods=days, freq="D")
    grown = np.exp(GROWTH * (np.arange(days) + 14))
    return pd.concat([pd.DataFrame({"series": "claude-sonnet-4-5", "target": target, "timestamp": ds.tz_localize(None),
                                    "p10": level[target] * grown * (1 - spread), "p50": level[target] * grown,
                                    "p90": level[target] * grown * (1 + spread)}) for target in level.index],
                     ignore_index=True)


def test_a_window_peak_is_never_below_a_sub_window_peak_at_one_quantile():
    """Demo shape: daily buckets, a quarter ahead, backtested on quarters; the horizon's P50/P90 is at least every
    month's, and a month's at least every day's in it."""
    from tokenplan.pipelines.planning.nodes import backtest_capacity, build_peak_history, plan_capacity

    params = {name: yaml.safe_load((PROJECT_ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())[name]
              for name in ("planning", "ingestion", "feature_engineering", "training")}
    capacity = {**params["planning"]["capacity"], "n_draws": 300}
    fe = {**params["feature_engineering"], "freq": "D"}
    usage = _noisy_daily_history(600)
    origins = [HISTORY_END - pd.Timedelta(days=91 * k) for k in range(1, 6)]
    for origin in origins:  # an unforecast burst early in each held-out quarter (a campaign, a retry storm)
        burst = usage["timestamp"] == origin + pd.Timedelta(days=10, hours=12)
        usage.loc[burst, ["peak_rpm", "peak_itpm", "peak_otpm"]] *= 3.0
    limits = pd.DataFrame({"model_group": ["Claude Sonnet 4.x"], "models": ["claude-sonnet-4-5"], "rpm": [30.0],
                           "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False], "as_of": [""],
                           "source": ["limits.csv"]})
    history = build_peak_history(usage, limits, {**params["ingestion"], "bucket": "h"}, fe, capacity)
    assert set(history["usage_bucket"]) == {"h"}  # the width whose assumed factor the report states
    folds = []
    for origin in origins:  # five held-out quarters, forecast at their origin
        folds.append(_daily_quantiles(usage, origin, 91, 0.1).rename(columns={"timestamp": "ds"}).assign(
            origin=origin.tz_localize(None) - pd.Timedelta(days=1), method="chosen"))
    _, calibration = backtest_capacity(pd.concat(folds, ignore_index=True), history, limits, fe,
                                       params["training"], capacity)
    forecast = _daily_quantiles(usage, HISTORY_END, 91, 0.1)
    plan, days, _ = plan_capacity(forecast, history, limits, calibration, {**params["ingestion"], "bucket": "h"}, fe,
                                  params["training"], capacity)
    for metric, rows in plan.groupby("metric"):
        horizon = rows[rows["period"] == "horizon"].iloc[0]
        months = rows[rows["period"] != "horizon"]
        assert len(months) == 3
        for q in ("p50", "p90"):
            assert (months[q] <= horizon[q] + 1e-9).all(), (metric, q, months[q].tolist(), horizon[q])
            for month in months.itertuples():
                inside = days[(days["metric"] == metric) & (days["ds"] >= month.start) & (days["ds"] <= month.end)]
                assert (inside[q] <= getattr(month, q) + 1e-9).all(), (metric, q, month.period)


def test_itpm_is_planned_without_cache_columns_and_the_gap_is_said():
    from tokenplan.planning.capacity import capacity_gaps

    usage = _usage().drop(columns=["cache_write_tokens", "cache_read_tokens"])
    ratios = forecast_bucket_peaks(usage_peaks(usage, {"claude-sonnet-4-5": "Claude Sonnet 4.x"}, {}, "h", 9.0),
                                   "h", "D")
    forecast = _forecast()
    forecast = forecast[~forecast["target"].isin(["cache_write_tokens", "cache_read_tokens"])]
    limits = _limits(np.inf).assign(itpm=2e6)
    members = {"Claude Sonnet 4.x": ["claude-sonnet-4-5"]}
    plan, _ = capacity_tables(forecast, ratios, limits, members, ["p10", "p50", "p90"], "D", PeakModel(n_draws=200))
    itpm = plan[(plan["metric"] == "itpm") & (plan["period"] == "horizon")]
    assert len(itpm) == 1 and itpm["p50"].iloc[0] > 0 and itpm["limit"].iloc[0] == 2e6
    gaps = capacity_gaps(forecast, ratios, limits, members)
    note = gaps[gaps["metric"] == "itpm"].iloc[0]
    assert note["planned"] and "without cache write tokens" in note["reason"]
    # No request counts at all: RPM is not planned, and the reason says so.
    no_requests = capacity_gaps(forecast[forecast["target"] != "requests"], ratios, limits, members)
    rpm = no_requests[no_requests["metric"] == "rpm"].iloc[0]
    assert not rpm["planned"] and "no request counts" in rpm["reason"]
    # A series with no forecast at all (left out of the plan): every metric says why.
    missing = capacity_gaps(forecast.iloc[0:0], ratios, limits, members)
    assert len(missing) == 3 and not missing["planned"].any() and missing["reason"].str.contains("no forecast").all()


def test_a_run_that_plans_no_capacity_says_why_in_the_report_and_the_console(caplog):
    from tokenplan.pipelines.planning.nodes import explain_capacity_gaps, plan_capacity
    from tokenplan.reporting.capacity_section import render_capacity_section

    params = {name: yaml.safe_load((PROJECT_ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())[name]
              for name in ("planning", "ingestion", "feature_engineering", "training")}
    capacity = {**params["planning"]["capacity"], "n_draws": 100}
    usage = _usage()
    limits = pd.DataFrame({"model_group": ["Claude Sonnet 4.x"], "models": ["claude-sonnet-4-5"], "rpm": [30.0],
                           "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False], "as_of": [""],
                           "source": ["limits.csv"]})
    history = forecast_bucket_peaks(usage_peaks(usage, {"claude-sonnet-4-5": "Claude Sonnet 4.x"}, {}, "h", 2.0),
                                    "h", "D").assign(level="group")
    # The series was left out of the forecast (too few complete buckets): nothing to plan.
    empty_forecast = _forecast().iloc[0:0]
    plan, _, demand = plan_capacity(empty_forecast, history, limits, {}, params["ingestion"],
                                    {**params["feature_engineering"], "freq": "D"}, params["training"], capacity)
    assert plan.empty
    with caplog.at_level("WARNING"):
        gaps = explain_capacity_gaps(empty_forecast, history, limits, usage, params["ingestion"])
    assert len(gaps) == 3 and not gaps["planned"].any()
    assert "not planned for Claude Sonnet 4.x RPM: no forecast for its series" in caplog.text
    text = render_capacity_section(plan, pd.DataFrame(), limits, demand, {"model_list": []},
                                   {"gateway": {"safety_margin": 0.1}}, capacity_gaps=gaps)
    assert "No capacity is planned in this run" in text and "No rate limit applies" not in text
    assert "Claude Sonnet 4.x RPM: **not planned**: no forecast for its series (claude-sonnet-4-5)" in text


def test_a_series_the_limits_file_does_not_list_is_still_planned():
    from tokenplan.pipelines.planning.nodes import build_peak_history, plan_capacity

    params = {name: yaml.safe_load((PROJECT_ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())[name]
              for name in ("planning", "ingestion", "feature_engineering", "training")}
    capacity = {**params["planning"]["capacity"], "n_draws": 100}
    fe = {**params["feature_engineering"], "freq": "D"}
    limits = pd.DataFrame({"model_group": ["Other"], "models": ["some-other-model"], "rpm": [30.0],
                           "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False], "as_of": [""],
                           "source": ["limits.csv"]})
    history = build_peak_history(_usage(), limits, {**params["ingestion"], "bucket": "h"}, fe, capacity)
    plan, _, _ = plan_capacity(_forecast(), history, limits, {}, params["ingestion"], fe, params["training"], capacity)
    rpm = plan[(plan["model_group"] == "claude-sonnet-4-5") & (plan["metric"] == "rpm")]
    assert len(rpm) == 4 and rpm["limit"].isna().all() and (rpm["p50"] > 0).all()


@pytest.mark.parametrize("counts_cache_reads", [False, True])
def test_each_series_driver_sums_equal_one_series_at_a_time(counts_cache_reads):
    # The per-series plan reads every series' driver quantiles from one grouping of the
    # whole forecast; each must equal driver_quantiles of that series alone, to the bit
    # (targets added in the same order, missing values and series without a driver included).
    from tokenplan.planning.capacity import _each_series_driver_quantiles, driver_quantiles
    from tokenplan.planning.peaks import available_drivers

    rng = np.random.default_rng(7)
    stamps = pd.date_range("2026-10-01", periods=30, freq="D", tz="UTC")
    targets = ["input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens", "requests"]
    rows = []
    for i in range(12):
        mine = targets if i % 4 else ["output_tokens", "cache_read_tokens"]  # some series lack input tokens
        for target in mine:
            values = rng.gamma(1, 10.0 ** rng.uniform(0, 9), (len(stamps), 3)) * rng.choice([1, -0.0], (len(stamps), 1))
            values[rng.random(len(stamps)) < 0.1] = np.nan
            rows.append(pd.DataFrame({"series": f"s{i}", "target": target, "timestamp": stamps,
                                      "p10": values[:, 0], "p50": values[:, 1], "p90": values[:, 2]}))
    forecast = pd.concat(rows).sample(frac=1, random_state=1).reset_index(drop=True)  # targets interleaved
    names = ["p10", "p50", "p90"]
    for metric in ("rpm", "itpm", "otpm"):
        together = _each_series_driver_quantiles(forecast, metric, counts_cache_reads, names, "timestamp")
        for series in sorted(forecast["series"].unique()):
            alone = driver_quantiles(forecast, [series], metric, counts_cache_reads, names)
            present = available_drivers(metric, counts_cache_reads,
                                        forecast.loc[forecast["series"] == series, "target"].unique())
            if not present:
                assert alone.empty
                continue
            pd.testing.assert_frame_equal(together[series], alone, check_exact=True)


def test_past_the_backtested_window_the_widening_is_drawn_as_a_shared_level():
    """A flat P50 whose interval widens past a 10-day backtest window as a level error does: drawn as
    each day's own noise, the widening lifted the P50 of each month's busiest day month after month
    (133, 148, 162); drawn shared, the months' P50 peaks stay level, and each day keeps its quantiles."""
    from statistics import NormalDist

    from tokenplan.planning.capacity import _total_draws

    steps, z90 = np.arange(1, 93), NormalDist().inv_cdf(0.9)
    spread = 0.2 * np.sqrt(np.where(steps > 10, 0.5 * steps / 10 + 0.5, 1.0))
    quantiles = pd.DataFrame({"p10": 100 * np.exp(-z90 * spread), "p50": 100.0, "p90": 100 * np.exp(z90 * spread)},
                             index=pd.date_range("2026-10-01", periods=92, freq="D"))
    month = quantiles.index.month

    def month_peaks(level_after):
        totals, _ = _total_draws(quantiles, 4000, 0.5, np.random.default_rng(0), level_after)
        return totals, np.array([np.median(totals[:, month == m].max(axis=1)) for m in (10, 11, 12)])

    _, own = month_peaks(None)
    totals, shared = month_peaks(10)
    assert own[2] > 1.15 * own[0]
    assert shared.max() < 1.03 * shared.min()
    assert np.median(totals, axis=0) == pytest.approx(np.full(92, 100.0), rel=0.05)
    assert np.quantile(totals[:, -1], 0.9) == pytest.approx(quantiles["p90"].iloc[-1], rel=0.05)
    inside, _ = _total_draws(quantiles.iloc[:10], 500, 0.5, np.random.default_rng(1), 10)
    alone, _ = _total_draws(quantiles.iloc[:10], 500, 0.5, np.random.default_rng(1), None)
    np.testing.assert_array_equal(inside, alone)  # inside the window nothing changes

    # Hours whose widths differ by the hour but do not widen past the window: each is compared
    # with the same hour inside it, so nothing is read as a level error and nothing moves.
    hours = pd.date_range("2026-10-01", periods=24 * 7, freq="h")
    width = np.where((hours.hour >= 9) & (hours.hour < 18), 0.15, 0.5)
    hourly = pd.DataFrame({"p10": 100 * np.exp(-z90 * width), "p50": 100.0, "p90": 100 * np.exp(z90 * width)},
                          index=hours)
    for level_after in (24 * 2 + 12, 24 * 2 + 3):  # a window ending on a busy hour, and on a quiet one
        seasonal, _ = _total_draws(hourly, 300, 0.5, np.random.default_rng(2), level_after, season=24)
        plain, _ = _total_draws(hourly, 300, 0.5, np.random.default_rng(2), None)
        np.testing.assert_array_equal(seasonal, plain)


def test_a_bucket_forecast_empty_at_p50_is_not_extrapolated_into_billions():
    """A model used on some days (P10 and P50 0 on a third of them, P90 140K): its log spread read from a P50
    clipped to 1e-9 was ~25 per unit of score, and the shared level score drew a window's busiest day at 2.8e10
    at P90 (40 times anything in its history in a user's run). Past the top quantile the tail now grows no faster
    than a P90 ten times its P50 would, and the scores invert the draws."""
    from tokenplan.planning.capacity import _from_scores, _spreads, _top_score, _total_draws, total_scores

    n = 92
    quantiles = pd.DataFrame({"p10": np.zeros(n), "p50": np.where(np.arange(n) % 3 == 0, 0.0, 60_000.0),
                              "p90": np.full(n, 140_000.0)}, index=pd.date_range("2026-10-01", periods=n, freq="D"))
    for level_after in (None, 10):
        totals, _ = _total_draws(quantiles, 2000, 0.5, np.random.default_rng(0), level_after)
        assert np.quantile(totals.max(axis=1), 0.9) < 4 * 140_000
        back = _from_scores(*_spreads(quantiles), total_scores(quantiles, totals[0]), _top_score(quantiles))
        np.testing.assert_allclose(back, totals[0], rtol=1e-6, atol=1e-6)
    # An ordinary bucket (P90 1.5 times its P50) is drawn as before: the cap is not reached.
    ordinary = quantiles.assign(p10=40_000.0, p50=60_000.0, p90=90_000.0)
    log_mid, lo, hi = _spreads(ordinary)
    z = np.linspace(-3, 3, 13)[:, None]
    np.testing.assert_allclose(_from_scores(log_mid, lo, hi, z, _top_score(ordinary)),
                               np.exp(log_mid + z * np.where(z > 0, hi, lo)))


def test_a_groups_peak_is_never_below_a_members_at_one_quantile():
    """A member bursty while it was small (a model taking over its group's traffic) draws its own peaks from its
    own bursts; its group's history of summed peaks dilutes them. The group's busiest minute is at least the
    member's in every draw, so each quantile of it, month, horizon and day, is at least the member's, and a
    crossing of the group's limit by the member is the group's (a review read a member's P90 OTPM 27.01K beside its
    group's 26.78K)."""
    from tokenplan.pipelines.planning.nodes import build_peak_history, plan_capacity

    params = {name: yaml.safe_load((PROJECT_ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())[name]
              for name in ("planning", "ingestion", "feature_engineering", "training")}
    capacity = {**params["planning"]["capacity"], "n_draws": 200}
    fe = {**params["feature_engineering"], "freq": "D"}
    steady = _usage().assign(series="claude-sonnet-4", peak_rpm=lambda f: f["requests"] / 60 * 1.1)
    bursty = _usage().assign(series="claude-sonnet-4-5")
    bursty[["requests", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"]] *= 0.05
    bursty["peak_rpm"] = bursty["requests"] / 60 * 6.0  # its busiest minute 6 times its mean minute
    usage = pd.concat([steady, bursty], ignore_index=True)
    # The member takes over half the traffic: each forecast at the history's whole level.
    forecast = pd.concat([_forecast().assign(series=s) for s in ("claude-sonnet-4", "claude-sonnet-4-5")],
                         ignore_index=True)
    limits = pd.DataFrame({"model_group": ["Claude Sonnet 4.x"], "models": ["claude-sonnet-4 claude-sonnet-4-5"],
                           "rpm": [1.0], "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False],
                           "as_of": [""], "source": ["limits.csv"]})
    history = build_peak_history(usage, limits, {**params["ingestion"], "bucket": "h"}, fe, capacity)
    ingestion = {**params["ingestion"], "bucket": "h"}
    unlimited_plan, _, demand = plan_capacity(forecast, history, limits.assign(rpm=np.nan), {}, ingestion, fe,
                                              params["training"], capacity)
    member = demand[(demand["series"] == "claude-sonnet-4-5") & (demand["metric"] == "rpm")].iloc[0]
    group = unlimited_plan[(unlimited_plan["metric"] == "rpm") & (unlimited_plan["period"] == "horizon")].iloc[0]
    for q in ("p50", "p90"):
        assert group[q] >= member[q] - 1e-9, (q, group[q], member[q])
    # A limit between the group's own draws and the member's: the group crosses it where the member does.
    limit = float(member["p90"]) * 0.99
    plan, days, _ = plan_capacity(forecast, history, limits.assign(rpm=limit), {}, ingestion, fe,
                                  params["training"], capacity)
    rows = plan[plan["metric"] == "rpm"]
    assert len(rows) == 4
    for row in rows.itertuples():
        for q in ("p50", "p90"):
            assert pd.notna(getattr(row, f"first_crossing_{q}")) == (getattr(row, q) > limit), (row.period, q)
    horizon = rows[rows["period"] == "horizon"].iloc[0]
    assert horizon["p90"] >= member["p90"] - 1e-9 and pd.notna(horizon["first_crossing_p90"])
    assert (days.loc[days["metric"] == "rpm", "p90"] <= horizon["p90"] + 1e-9).all()


def test_a_groups_history_over_its_limit_by_summed_busiest_minutes_says_it_may_not_have_been():
    """A group of several models has no busiest minute of its own in hourly usage: each model's busiest minute of
    the hour is summed, an upper bound, so 'already over on N days' says which of them rest on such a sum (a
    review's Sonnet 4.x read 25,703 OTPM where its own busiest minute was 25,153)."""
    from tokenplan.planning.capacity import history_over_limit
    from tokenplan.reporting.capacity_section import history_note

    one = _usage(days=4).assign(series="claude-sonnet-4")
    two = one.assign(series="claude-sonnet-4-5")
    two.loc[two["timestamp"] < HISTORY_END - pd.Timedelta(days=2), ["peak_rpm", "requests"]] = 0.0  # unused then
    usage = pd.concat([one, two], ignore_index=True)
    groups = {"claude-sonnet-4": "Claude Sonnet 4.x", "claude-sonnet-4-5": "Claude Sonnet 4.x"}
    peaks = usage_peaks(usage, groups, {}, "h", 2.5, {"Claude Sonnet 4.x": ("rpm",)})
    daily = forecast_bucket_peaks(peaks, "h", "D")
    assert daily["summed"].tolist() == [False, False, True, True]
    alone = forecast_bucket_peaks(usage_peaks(one, {"claude-sonnet-4": "claude-sonnet-4"}, {}, "h", 2.5,
                                              {"claude-sonnet-4": ("rpm",)}), "h", "D")
    assert not alone["summed"].any()
    limit = float(daily["peak"].min()) * 0.9  # every day over
    past = history_over_limit(daily, limit)
    assert (past["history_days_over"], past["history_days_summed"], past["history_peak_summed"]) == (4, 2, True)
    note = history_note({**past, "history_last_over": past["history_last_over"]})
    assert note.startswith("already over on 4 days of history, the last 2026-02-28, peak ")
    assert note.endswith(" (an upper bound), though on 2 of them the busiest minute is an upper bound, the sum of "
                         "each model's busiest minute in the hour (they need not fall in the same minute), so it "
                         "may not have been over")
    assert "upper bound" not in history_note({**history_over_limit(alone, limit), "history_last_over": pd.NaT})
