"""OpenAI-style limits: a limits file's ``tpm`` (total tokens per minute) is planned from every token type.

An OpenAI-shaped usage (requests, uncached input, cached input as cache reads, output; no
cache writes, no per-minute peaks) of one model, flat from hour to hour, so every bucket's
busiest minute is its mean minute times the assumed factor and the TPM peak can be
computed by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.planning.test_capacity import NO_EVENTS
from tokenplan.forecasting.migrations import MIGRATION_COLUMNS
from tokenplan.planning.peaks import forecast_bucket_peaks, usage_peaks
from tokenplan.planning.rate_limits import SPLIT_METRICS, limits_from_file, planned_metrics
from tokenplan.schemas import InvalidInputError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HISTORY_END = pd.Timestamp("2026-03-01", tz="UTC")
REQUESTS_PER_HOUR = 600.0
# Tokens per request: uncached input, cached input (cache reads), output.
INPUT, CACHED, OUTPUT = 800.0, 1200.0, 400.0
ASSUMED_PEAK_TO_MEAN = 2.5  # conf/base: planning.capacity.assumed_peak_to_mean.h
TPM_LIMIT, RPM_LIMIT = 2_000_000.0, 100.0


def _usage(days: int = 70) -> pd.DataFrame:
    hours = pd.date_range(HISTORY_END - pd.Timedelta(days=days), HISTORY_END, freq="h", inclusive="left")
    return pd.DataFrame({"timestamp": hours, "series": "gpt-4.1", "requests": REQUESTS_PER_HOUR,
                         "input_tokens": REQUESTS_PER_HOUR * INPUT, "cache_read_tokens": REQUESTS_PER_HOUR * CACHED,
                         "output_tokens": REQUESTS_PER_HOUR * OUTPUT})


def _forecast(days: int = 28, start: pd.Timestamp = HISTORY_END) -> pd.DataFrame:
    """Daily totals continuing the flat history, +-10% at P10/P90."""
    ds = pd.date_range(start.tz_localize(None), periods=days, freq="D")
    rows = [pd.DataFrame({"series": "gpt-4.1", "target": target, "timestamp": ds,
                          "p10": 0.9 * REQUESTS_PER_HOUR * 24 * k, "p50": REQUESTS_PER_HOUR * 24 * k,
                          "p90": 1.1 * REQUESTS_PER_HOUR * 24 * k})
            for target, k in (("requests", 1.0), ("input_tokens", INPUT), ("cache_read_tokens", CACHED),
                              ("output_tokens", OUTPUT))]
    return pd.concat(rows, ignore_index=True)


def _limits_file(**columns) -> pd.DataFrame:
    frame = pd.DataFrame({"model_group": ["GPT-4.1", "Claude Sonnet 4.x"], "models": ["gpt-4.1", "claude-sonnet-4-5"],
                          "rpm": ["100", "1000"], "itpm": ["", "450000"], "otpm": ["", "90000"], **columns})
    frame.attrs["source"] = "rate_limits_raw (limits.csv)"
    return frame


class _KeptDataset(MemoryDataset):
    """A memory dataset the runner does not empty once its consumers are done, for inspection."""

    def _release(self) -> None:
        pass


def test_tpm_is_optional_and_a_group_with_it_is_planned_against_rpm_and_tpm():
    limits = limits_from_file(_limits_file(tpm=["2,000,000", ""])).set_index("model_group")
    assert limits.loc["GPT-4.1", "tpm"] == TPM_LIMIT and np.isnan(limits.loc["Claude Sonnet 4.x", "tpm"])
    assert planned_metrics(limits, "GPT-4.1") == ("rpm", "tpm")
    assert planned_metrics(limits, "Claude Sonnet 4.x") == SPLIT_METRICS
    # A group that sets an OTPM beside its TPM is planned against both.
    both = limits_from_file(_limits_file(tpm=["2000000", ""], otpm=["50000", "90000"])).set_index("model_group")
    assert planned_metrics(both, "GPT-4.1") == ("rpm", "otpm", "tpm")
    # No tpm column (every limits file so far, the demo's included): no TPM anywhere.
    without = limits_from_file(_limits_file()).set_index("model_group")
    assert without["tpm"].isna().all() and planned_metrics(without, "GPT-4.1") == SPLIT_METRICS


@pytest.mark.parametrize(("value", "reason"), [("lots", "a limit must be a number"),
                                               ("-5", "a limit must be a positive number"),
                                               ("0", "a limit must be a positive number")])
def test_a_bad_tpm_value_is_refused_naming_file_column_row_and_value(value, reason):
    with pytest.raises(InvalidInputError) as error:
        limits_from_file(_limits_file(tpm=["2000000", value]))
    message = str(error.value)
    assert f"rate_limits_raw (limits.csv): column 'tpm' has an invalid value at row 2: '{value}'" in message
    assert reason in message


def test_tpm_counts_input_cache_writes_cache_reads_and_output():
    """By hand: an hour of 600 requests has 600 x (800 + 1200 + 400) = 1.44M tokens; with no per-minute peaks its
    busiest minute is 1.44M / 60 x 2.5 = 60,000, three times what ITPM (uncached input alone) would say."""
    usage = _usage(2)
    peaks = usage_peaks(usage, {"gpt-4.1": "GPT-4.1"}, {}, "h", ASSUMED_PEAK_TO_MEAN,
                        {"GPT-4.1": ("rpm", "itpm", "tpm")}).set_index(["metric", "timestamp"])
    hour_tokens = REQUESTS_PER_HOUR * (INPUT + CACHED + OUTPUT)
    assert (peaks.loc["tpm", "total"] == hour_tokens).all() and hour_tokens == 1_440_000
    np.testing.assert_allclose(peaks.loc["tpm", "peak"], 60_000.0)
    np.testing.assert_allclose(peaks.loc["tpm", "peak"], 3 * peaks.loc["itpm", "peak"])
    assert not peaks.loc["tpm", "measured"].any()
    # Measured peaks (request logs): the busiest input minute, scaled by the hour's share of cache reads and
    # writes over uncached input + writes, plus the busiest output minute.
    logged = usage.assign(cache_write_tokens=REQUESTS_PER_HOUR * 200.0, peak_rpm=20.0, peak_itpm=30_000.0,
                          peak_otpm=8_000.0)
    measured = usage_peaks(logged, {"gpt-4.1": "g"}, {}, "h", ASSUMED_PEAK_TO_MEAN, {"g": ("rpm", "tpm")})
    tpm = measured[measured["metric"] == "tpm"]
    assert set(measured["metric"]) == {"rpm", "tpm"} and tpm["measured"].all()
    assert tpm["total"].eq(REQUESTS_PER_HOUR * (INPUT + 200.0 + CACHED + OUTPUT)).all()
    assert tpm["peak"].to_numpy() == pytest.approx(30_000.0 * (800 + 200 + 1200) / (800 + 200) + 8_000.0)
    daily = forecast_bucket_peaks(measured, "h", "D").set_index("metric")
    assert daily.loc["tpm", "ratio"].iloc[0] == pytest.approx(74_000.0 / (24 * 1_560_000 / 1440))


def _run_capacity(rate_limits_raw: pd.DataFrame, series: str = "gpt-4.1") -> DataCatalog:
    """The planning pipeline's capacity nodes on the synthetic usage, forecast and one backtest fold (``series``:
    the model id the usage names), with the shipped parameters."""
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    origin = HISTORY_END - pd.Timedelta(days=29)
    backtest = _forecast(28, origin).rename(columns={"timestamp": "ds"}).assign(
        origin=origin.tz_localize(None) - pd.Timedelta(days=1), method="chosen")
    params = {name: yaml.safe_load((PROJECT_ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())[name]
              for name in ("planning", "ingestion", "feature_engineering", "training")}
    params["planning"]["capacity"]["n_draws"] = 400
    catalog = DataCatalog()
    for name, value in {"usage_buckets": _usage().assign(series=series), "forecast": _forecast().assign(series=series),
                        "backtest_predictions": backtest.assign(series=series),
                        "rate_limits_raw": rate_limits_raw, "forecast_layout": {"window": 28},
                        "forecast_events": NO_EVENTS, "migrations": pd.DataFrame(columns=MIGRATION_COLUMNS)}.items():
        catalog[name] = value
    for name in ("planning", "ingestion", "feature_engineering", "training"):
        catalog[f"params:{name}"] = params[name]
    catalog["params:planning.capacity"] = params["planning"]["capacity"]
    catalog["params:planning.routes.providers"] = params["planning"]["routes"]["providers"]
    for name in ("rate_limits", "capacity_peak_history", "capacity_plan", "capacity_peak_forecast",
                 "capacity_series_demand", "gateway_config", "capacity_backtest", "capacity_calibration",
                 "capacity_gaps"):
        catalog[name] = _KeptDataset(copy_mode="assign")
    nodes = pipelines["planning"].only_nodes("build_rate_limits", "build_peak_history", "plan_capacity",
                                             "explain_capacity_gaps", "backtest_capacity", "build_gateway_config")
    SequentialRunner().run(nodes, catalog)
    return catalog


@pytest.fixture(scope="module")
def openai_run() -> DataCatalog:
    return _run_capacity(_limits_file(tpm=["2000000", ""]).iloc[:1])


def test_tpm_rows_peak_at_every_token_type(openai_run):
    """Each day's P50 busiest TPM minute is the day's P50 total of every token over its mean minute times the
    history's ratio (2.5, flat hours): 600 x 24 x 2,400 / 1,440 x 2.5 = 60,000; ITPM would have said 20,000."""
    plan = openai_run["capacity_plan"].load()
    assert set(plan["metric"]) == {"rpm", "tpm"}  # no ITPM or OTPM rows: the group has no such limits
    tpm = plan[plan["metric"] == "tpm"].set_index("period")
    assert list(tpm.index) == ["2026-03", "horizon"] and (tpm["limit"] == TPM_LIMIT).all()
    daily = openai_run["capacity_peak_forecast"].load()
    daily = daily[daily["metric"] == "tpm"]
    np.testing.assert_allclose(daily["p50"], 60_000.0, rtol=0.03)
    # The same draws give every window: the horizon's P90 is at least each month's, P50 below P90.
    months = tpm.drop(index="horizon")
    assert tpm.loc["horizon", "p90"] >= months["p90"].max() and (tpm["p50"] <= tpm["p90"]).all()
    horizon = tpm.loc["horizon"]
    assert horizon["headroom_p90"] == pytest.approx((TPM_LIMIT - horizon["p90"]) / TPM_LIMIT)
    assert pd.isna(horizon["first_crossing_p90"]) and horizon["peak_method"] == "assumed"
    backtest = openai_run["capacity_backtest"].load()
    assert set(backtest["metric"]) == {"rpm", "tpm"}
    day = backtest[(backtest["metric"] == "tpm") & (backtest["kind"] == "day")]
    np.testing.assert_allclose(day["realised"], 60_000.0)  # history's flat days, by hand as above
    gaps = openai_run["capacity_gaps"].load()
    (gap,) = gaps[gaps["metric"] == "tpm"].itertuples()  # no cache writes at OpenAI: counted as zero, and said
    assert gap.planned and "without cache write tokens" in gap.reason


def test_a_tpm_crossing_is_found_and_reported(openai_run):
    from tokenplan.reporting.capacity_section import render_capacity_section

    catalog = _run_capacity(_limits_file(tpm=["55000", ""]).iloc[:1])
    plan = catalog["capacity_plan"].load()
    horizon = plan[(plan["metric"] == "tpm") & (plan["period"] == "horizon")].iloc[0]
    assert horizon["first_crossing_p50"] == pd.Timestamp("2026-03-01") and horizon["headroom_p90"] < 0
    params = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_planning.yml").read_text())
    text = render_capacity_section(plan, catalog["capacity_backtest"].load(), catalog["rate_limits"].load(),
                                   catalog["capacity_series_demand"].load(), catalog["gateway_config"].load(),
                                   params["planning"]["capacity"], catalog["capacity_calibration"].load(),
                                   catalog["capacity_gaps"].load())
    # The history's own (assumed) busiest minutes are over the limit every day: said before the horizon's crossing.
    assert ("The first limit to bind: GPT-4.1 TPM (limit 55.00K/min): already over on 70 days of history, the last "
            "2026-02-28, peak 60.00K; in the horizon, first over at P90 on 2026-03-01") in text
    assert "Limits planned against, per group: GPT-4.1: RPM, TPM." in text
    assert "TPM (total tokens per minute" in text and "| GPT-4.1 | TPM | horizon |" in text
    assert "| ITPM |" not in text and "| model_name | model | RPM | TPM |" in text


def test_a_groups_only_series_quotes_the_groups_peak_in_the_gateway_text():
    """One quantity, one value: the gateway paragraph's "P90 peak" of a group's only deployment was the series'
    own draws (another random stream) while the capacity table showed the group's (the reviewer's Console run:
    475.84K against 472.27K). The series demand of a group of one is the plan's horizon rows, exactly."""
    from tests.report_consistency import gateway_peak_disagreements
    from tokenplan.reporting.capacity_section import render_capacity_section

    catalog = _run_capacity(_limits_file(tpm=["55000", ""]).iloc[:1])
    plan, demand = catalog["capacity_plan"].load(), catalog["capacity_series_demand"].load()
    horizon = plan[plan["period"] == "horizon"].set_index("metric")
    own = demand.set_index("metric")
    assert list(own.index) == list(horizon.index) and (own["series"] == "gpt-4.1").all()
    assert own["p90"].tolist() == horizon["p90"].tolist() and own["p50"].tolist() == horizon["p50"].tolist()
    config = catalog["gateway_config"].load()
    params = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_planning.yml").read_text())
    text = render_capacity_section(plan, catalog["capacity_backtest"].load(), catalog["rate_limits"].load(), demand,
                                   config, params["planning"]["capacity"], catalog["capacity_calibration"].load(),
                                   catalog["capacity_gaps"].load())
    names = [e["model_name"] for e in config["model_list"]]
    p90 = text.split("| GPT-4.1 | TPM | horizon | ")[1].split(" | ")[1]
    assert f"gpt-4.1 TPM 49.50K against its P90 peak {p90}" in text  # held to the budget, 55K x 0.9
    assert gateway_peak_disagreements(text, names) == []
    # The check itself can fail: the paragraph quoting another number is caught.
    moved = text.replace(f"against its P90 peak {p90}", "against its P90 peak 1.23K")
    assert gateway_peak_disagreements(moved, names) == [
        f"gateway gpt-4.1 TPM: P90 peak 1.23K, but the capacity table's GPT-4.1 horizon P90 is {p90} (the group's "
        "only deployment)"]


def test_the_gateway_carries_tpm_and_loads_in_litellm(openai_run, tmp_path):
    from tokenplan.planning.gateway import gateway_yaml

    config = openai_run["gateway_config"].load()
    (entry,) = config["model_list"]
    assert entry["model_name"] == "gpt-4.1"
    assert entry["litellm_params"] == {"model": "openai/gpt-4.1", "api_key": "os.environ/OPENAI_API_KEY",
                                       "rpm": 90, "tpm": 1_800_000}  # x 0.9 safety margin, one series: share 1
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no price-map download
    litellm_types = pytest.importorskip("litellm.types.router")
    path = tmp_path / "litellm_config.yaml"
    path.write_text(gateway_yaml(config, "test config"))
    loaded = yaml.safe_load(path.read_text())["model_list"][0]
    deployment = litellm_types.Deployment(**loaded)
    assert deployment.litellm_params.tpm == 1_800_000 and deployment.litellm_params.rpm == 90
    assert set(loaded["litellm_params"]) <= set(litellm_types.LiteLLMParamsTypedDict.__annotations__)


def test_the_report_lists_as_planned_against_only_the_groups_the_plan_has(openai_run):
    """The tester's report: "Limits planned against, per group: GPT-4.1: RPM, TPM; GPT-4o mini: RPM, TPM." while
    no series was in GPT-4o mini and capacity_plan.csv had no row for it."""
    from tokenplan.reporting.capacity_section import render_capacity_section

    limits = openai_run["rate_limits"].load()
    extra = limits.iloc[:1].assign(model_group="GPT-4o mini", models="gpt-4o-mini", rpm=500.0, tpm=200_000.0)
    params = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_planning.yml").read_text())
    text = render_capacity_section(openai_run["capacity_plan"].load(), openai_run["capacity_backtest"].load(),
                                   pd.concat([limits, extra], ignore_index=True),
                                   openai_run["capacity_series_demand"].load(), openai_run["gateway_config"].load(),
                                   params["planning"]["capacity"], openai_run["capacity_calibration"].load(),
                                   openai_run["capacity_gaps"].load())
    assert "Limits planned against, per group: GPT-4.1: RPM, TPM." in text
    assert "GPT-4o mini (gpt-4o-mini; **not planned against**" in text


def test_a_dated_openai_id_takes_its_aliass_limits_and_a_row_matching_nothing_is_named():
    """The usage names the snapshot (``gpt-4.1-2025-04-14``), the limits row the model (``gpt-4.1``): the snapshot
    had been planned against no limit, as ITPM/OTPM, while the report listed the row as planned against. Now it
    is planned against RPM and TPM; the file's Claude row, which no model of the usage matches, is named as
    such and not listed as planned against."""
    from tokenplan.reporting.capacity_section import render_capacity_section

    catalog = _run_capacity(_limits_file(tpm=["2000000", ""]), series="gpt-4.1-2025-04-14")
    plan = catalog["capacity_plan"].load()
    assert set(zip(plan["model_group"], plan["metric"])) == {("GPT-4.1", "rpm"), ("GPT-4.1", "tpm")}
    assert plan["limit"].notna().all()
    gaps = catalog["capacity_gaps"].load()
    unmatched = gaps[gaps["model_group"] == "Claude Sonnet 4.x"]
    assert list(unmatched["metric"]) == ["rpm", "itpm", "otpm"] and not unmatched["planned"].any()
    assert unmatched["reason"].str.contains("lists claude-sonnet-4-5, which no model of the usage matches").all()
    (entry,) = catalog["gateway_config"].load()["model_list"]
    assert entry["litellm_params"] == {"model": "openai/gpt-4.1-2025-04-14", "api_key": "os.environ/OPENAI_API_KEY",
                                       "rpm": 90, "tpm": 1_800_000}
    params = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_planning.yml").read_text())
    text = render_capacity_section(plan, catalog["capacity_backtest"].load(), catalog["rate_limits"].load(),
                                   catalog["capacity_series_demand"].load(), catalog["gateway_config"].load(),
                                   params["planning"]["capacity"], catalog["capacity_calibration"].load(), gaps)
    assert "Limits planned against, per group: GPT-4.1: RPM, TPM." in text
    assert ("Claude Sonnet 4.x (claude-sonnet-4-5; **not planned against**: see \"Left out of the plan\")"
            in text)
    assert ("- Claude Sonnet 4.x RPM: **not planned**: its limits row lists claude-sonnet-4-5, which no model of "
            "the usage matches (the usage's models: gpt-4.1-2025-04-14)") in text
    assert "No rate limit known for" not in text


def test_a_limits_file_whose_only_row_matches_no_model_plans_without_limits_and_names_the_row():
    """The reviewer's run: the usage's model is claude-haiku-4-5, the file's only row says claude-haiku-45. The
    peak history of no group was an untyped empty table (a FutureWarning where it joined the series'), and the
    gateway text indexed the empty demand by a list, which picked no column: ``KeyError: 'series'``, exit 1. The
    run plans the peaks against no limit, and the report names the row as left out."""
    import warnings

    from tokenplan.reporting.capacity_section import render_capacity_section

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        catalog = _run_capacity(_limits_file().iloc[1:])  # Claude Sonnet 4.x only; the usage is gpt-4.1
    history = catalog["capacity_peak_history"].load()
    assert set(history["level"]) == {"series"} and history["ds"].dtype == "datetime64[ns]"
    demand = catalog["capacity_series_demand"].load()
    assert demand["model_group"].isna().all() and demand["model_group"].dtype == object
    plan = catalog["capacity_plan"].load()
    assert set(plan["model_group"]) == {"gpt-4.1"} and plan["limit"].isna().all()
    (entry,) = catalog["gateway_config"].load()["model_list"]
    assert set(entry["litellm_params"]) == {"model", "api_key"}  # no limit, no gateway limit
    params = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_planning.yml").read_text())
    text = render_capacity_section(plan, catalog["capacity_backtest"].load(), catalog["rate_limits"].load(), demand,
                                   catalog["gateway_config"].load(), params["planning"]["capacity"],
                                   catalog["capacity_calibration"].load(), catalog["capacity_gaps"].load())
    assert ("**No rate limit applies to the forecast series**: no row of the limits given matches their models"
            in text)
    for metric in ("RPM", "ITPM", "OTPM"):
        assert (f"- Claude Sonnet 4.x {metric}: **not planned**: its limits row lists claude-sonnet-4-5, which no "
                "model of the usage matches (the usage's models: gpt-4.1)") in text
    assert "No rate limit known for: gpt-4.1" in text


def test_limits_without_tpm_plan_as_before():
    """The demo's limits file has no tpm column: its table's tpm is empty and no TPM row, peak or gateway key
    appears; a tpm column left empty plans the same."""
    demo = pd.read_csv(PROJECT_ROOT / "conf" / "base" / "rate_limits_demo_2026-09-30.csv", dtype=str,
                       keep_default_na=False)
    assert "tpm" not in demo.columns
    limits = limits_from_file(demo).set_index("model_group")
    assert limits["tpm"].isna().all()
    assert {planned_metrics(limits, g) for g in limits.index} == {SPLIT_METRICS}
    raw = _limits_file().iloc[:1].assign(itpm="500000", otpm="100000")
    without, with_empty = _run_capacity(raw), _run_capacity(raw.assign(tpm=""))
    for name in ("capacity_plan", "capacity_backtest", "capacity_series_demand"):
        pd.testing.assert_frame_equal(without[name].load(), with_empty[name].load())
    assert set(without["capacity_plan"].load()["metric"]) == set(SPLIT_METRICS)
    assert without["gateway_config"].load() == with_empty["gateway_config"].load()
    assert "tpm" not in without["gateway_config"].load()["model_list"][0]["litellm_params"]


def test_the_consistency_check_catches_a_deployments_peak_above_its_groups():
    """The review's report: a member's P90 OTPM 27.01K in the gateway paragraph beside its group's 26.78K."""
    from tests.report_consistency import member_peaks_above_group

    table = ("| Claude Sonnet 4.x | OTPM | horizon | 25.38K | {p90} | 20.00K | -34% | 2026-12-15 | 2026-12-08 |  |  "
             "| measured |  |\n")
    text = ("- Limits: limits.csv, as of 2026-12-01. Groups: Claude Sonnet 4.x (claude-sonnet-4-20250514 "
            "claude-sonnet-4-5-20250929); Claude Haiku 4.5 (claude-haiku-4-5-20251001).\n"
            "**The gateway holds back these deployments at their own P90 minute** (their group's ...): "
            "claude-sonnet-4 OTPM 1.48K against its P90 peak 2.20K; claude-sonnet-4-5 OTPM 18.00K against its P90 "
            "peak 27.01K.\n")
    assert member_peaks_above_group(text + table.format(p90="26.78K")) == [
        "gateway claude-sonnet-4-5 OTPM: P90 peak 27.01K above its group Claude Sonnet 4.x's horizon P90 26.78K in "
        "the capacity table"]
    assert member_peaks_above_group(text + table.format(p90="27.01K")) == []
