"""The peak forecast on real per-interval data: how often the realised peak falls under P50 and P90.

    .venv/bin/python benchmarks/capacity_peaks.py                 # every 5-minute series found
    .venv/bin/python benchmarks/capacity_peaks.py --only twitter_volume_AAPL

Data: the 5-minute request-volume series in ``../shared/realdata`` (NAB: Twitter
mentions of four companies, an AWS load balancer; two to eight weeks each), or the
folder named by ``TOKENPLAN_REALDATA``. Each is summed to hours (``requests``), and the
largest 5-minute count inside each hour stands in for the per-minute peak
(``peak_rpm``): the peak model learns busiest-interval / mean ratios and does not care
about the interval's length. Skips cleanly when the folder is absent.

For each series it runs the project's own nodes with the default parameters, hourly,
one week ahead (as ``benchmarks/forecast_accuracy.py`` runs Taylor): ingestion,
features, Optuna tuning, the rolling-origin backtest (``--folds`` non-overlapping
held-out weeks), then the planning pipeline's ``build_peak_history`` and
``backtest_capacity``: at each fold's origin, the peak forecast from the out-of-sample
totals and the ratios seen up to the origin, against the realised peak of each day and
of the whole week. It prints the share of windows whose realised peak fell under the
P50 and under the P90, and the share whose P90 is at most twice the realised peak, per
series and pooled: calibrated (each fold with the correction fitted on the other folds,
as the report shows) and raw (the simulation alone). Per series, calibration sees that
series' other folds only; pooled, it sees every series' other folds, as the pipeline
pools its model groups. Targets, on the pooled whole windows: realised peak under the
P90 in 80-95% of windows, and the P90 at most twice the realised peak in at least two
thirds of them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tokenplan.pipelines.feature_engineering.nodes import (  # noqa: E402
    add_calendar_effects,
    build_model_input_table,
    build_target_series,
    mask_suspected_outages,
    plan_forecast_layout,
)
from tokenplan.pipelines.ingestion.nodes import build_events_calendar, build_usage_buckets  # noqa: E402
from tokenplan.forecasting.forecaster import quantile_columns  # noqa: E402
from tokenplan.pipelines.planning.nodes import _members, _peak_model, build_peak_history, build_rate_limits  # noqa: E402
from tokenplan.pipelines.training import nodes as training  # noqa: E402
from tokenplan.planning.capacity_backtest import (  # noqa: E402
    PeakBacktest,
    coverage_summary,
    cross_calibrated,
    simulate_backtest,
)
from tokenplan.planning.rate_limits import group_of_series  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_accuracy import _merge, _params  # noqa: E402  (the same parameter loading)

ROOT = Path(__file__).resolve().parents[1]
SERIES = ("twitter_volume_AAPL", "twitter_volume_AMZN", "twitter_volume_FB", "twitter_volume_GOOG",
          "elb_request_count_8c0756")


def _realdata() -> Path:
    """``TOKENPLAN_REALDATA``, else the first ``shared/realdata`` beside the project or one of its parents."""
    if os.environ.get("TOKENPLAN_REALDATA"):
        return Path(os.environ["TOKENPLAN_REALDATA"])
    for parent in ROOT.parents:
        if (parent / "shared" / "realdata").is_dir():
            return parent / "shared" / "realdata"
    return ROOT.parent / "shared" / "realdata"


def hourly_usage(path: Path, name: str) -> pd.DataFrame:
    """Hourly ``requests`` (sum of 5-minute counts) and ``peak_rpm`` (the largest 5-minute count)."""
    raw = pd.read_csv(path)
    stamps = pd.to_datetime(raw["timestamp"]).dt.tz_localize("UTC")
    hours = stamps.dt.floor("h")
    grouped = raw.assign(hour=hours).groupby("hour")["value"]
    usage = pd.DataFrame({"requests": grouped.sum(), "peak_rpm": grouped.max(), "n": grouped.size()})
    usage = usage[usage["n"] >= 10]  # hours with most of their 12 intervals
    return usage.drop(columns="n").rename_axis("timestamp").reset_index().assign(model=name)


TARGET_UNDER_P90 = (0.80, 0.95)
TARGET_WITHIN_2X = 2 / 3


def run_series(usage: pd.DataFrame, name: str, folds: int, trials: int, workdir: Path) -> PeakBacktest:
    """The simulated peak backtest (RPM) of one series, as the planning node ``backtest_capacity`` builds it."""
    ingestion = _params("ingestion")
    fe = _merge(_params("feature_engineering"), {"freq": "h", "horizon": 168, "targets": ["requests"],
                                                 "level_weeks": 2, "trend_weeks": 4, "holiday_country": None})
    tr = _merge(_params("training"), {"backtest": {"folds": folds},
                                      "tuning": {"folds": 1, "n_trials": trials,
                                                 "storage_url": f"sqlite:///{workdir / f'{name}.db'}"}})
    capacity = _params("planning")["capacity"]
    buckets = build_usage_buckets(usage, ingestion)
    series = build_target_series(buckets, fe)
    events = build_events_calendar(pd.DataFrame({"start": [], "end": [], "name": [], "kind": [], "scope": []}),
                                   ingestion)
    layout = plan_forecast_layout(series, fe, tr)
    calendar = add_calendar_effects(series, events, fe, layout)
    history, _ = mask_suspected_outages(series, calendar, fe, layout)  # as the pipeline does
    examples = build_model_input_table(history, calendar, fe, layout)
    best = training.tune_hyperparameters(examples, fe, tr, layout)
    predictions, _, _, _ = training.backtest_forecaster(examples, history, fe, tr, best, layout)
    # The peak backtest grades the plan's own method per series, on the backtest folds.
    predictions = predictions[predictions["role"] == "backtest"]
    limits = build_rate_limits(pd.DataFrame({"model_group": [name], "models": [name], "rpm": [""], "itpm": [""],
                                             "otpm": [""]}), buckets)
    history = build_peak_history(buckets, limits, ingestion, fe, capacity)
    predictions = predictions[predictions["method"] == "chosen"]
    members = _members(group_of_series(predictions["series"].unique(), limits))
    simulated = simulate_backtest(predictions, history[history["level"] == "group"], limits.set_index("model_group"),
                                  members, quantile_columns(tr["quantiles"]), fe["freq"], _peak_model(capacity))
    return PeakBacktest(simulated.rows[simulated.rows["metric"] == "rpm"].reset_index(drop=True), simulated.blocks)


def week_spread(usage: pd.DataFrame) -> pd.Series:
    """Per whole week of the series: its busiest minute over its mean minute (how bursty that week was)."""
    hours = usage.assign(week=(usage["timestamp"] - usage["timestamp"].min()).dt.days // 7)
    weeks = hours.groupby("week").agg(peak=("peak_rpm", "max"), total=("requests", "sum"), n=("requests", "size"))
    weeks = weeks[weeks["n"] >= 150]  # most of the week's 168 hours
    return weeks["peak"] / (weeks["total"] / (weeks["n"] * 60))


def best_rescaling(ratios: pd.Series) -> str:
    """The most windows within twice the realised peak any one factor on these P90s gets at 80% of them covered.

    Fitted on the very windows it is graded on, so it is an upper bound on what recalibrating this P90
    by a single factor could reach, not a method: the ratios' own spread decides whether both targets
    can hold at once.
    """
    r = ratios.to_numpy()
    factors = np.concatenate([1 / r, 2 / r])  # where a window crosses under the P90 or within twice
    shares = [((f * r >= 1).mean(), (f * r <= 2).mean(), f) for f in factors]
    feasible = [s for s in shares if s[0] >= TARGET_UNDER_P90[0]]
    under, within, factor = max(feasible, key=lambda s: (s[1], s[0]))
    return (f"the best single factor on these P90s (x{factor:.2f}, fitted on these very windows): under the P90 in "
            f"{under:.1%}, within twice the realised peak in {within:.1%}; P90 / realised peak per window "
            f"{', '.join(f'{v:.2f}' for v in sorted(r))}")


def _print_summary(rows: pd.DataFrame) -> None:
    print(coverage_summary(rows).drop(columns="metric").to_string(index=False, float_format=lambda v: f"{v:.1%}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=SERIES)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    folder = _realdata()
    names = [n for n in SERIES if (folder / f"{n}.csv").exists() and args.only in (None, n)]
    if not names:
        print(f"(skipping: no 5-minute series under {folder}; set TOKENPLAN_REALDATA to the realdata folder)")
        return 0
    parts, spreads = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            started = time.monotonic()
            usage = hourly_usage(folder / f"{name}.csv", name)
            spread = week_spread(usage)
            spreads.append(spread / spread.median())
            try:
                simulated = run_series(usage, name, args.folds, args.trials, Path(workdir))
            except ValueError as error:  # e.g. two weeks are too short for warm-up, tuning and folds
                print(f"\n=== {name}: skipped ({error}) ===")
                continue
            parts.append(simulated)
            print(f"\n=== {name}: {usage['timestamp'].min():%Y-%m-%d} to {usage['timestamp'].max():%Y-%m-%d}, "
                  f"{simulated.rows['origin'].nunique()} held-out weeks; {time.monotonic() - started:.0f} s ===")
            _print_summary(cross_calibrated(simulated))
    if not parts:
        return 0
    # As the pipeline pools its model groups, the series are pooled for calibration: each fold
    # (origin) is calibrated on the other folds of every series.
    pooled = cross_calibrated(PeakBacktest.concat(parts))
    print("\n=== pooled over series (calibrated on the other folds of all series): share of windows whose "
          "realised peak fell under the forecast, and whose P90 is at most twice the realised peak ===")
    _print_summary(pooled)
    weeks = pooled[pooled["kind"] == "horizon"]
    under, within = float((weeks["realised"] <= weeks["p90"]).mean()), float((weeks["p90"] <= 2 * weeks["realised"]).mean())
    ratio = float((weeks["p90"] / weeks["realised"]).mean())
    low, high = TARGET_UNDER_P90
    print(f"\nwhole windows ({len(weeks)}): realised peak under the P90 in {under:.1%} (target {low:.0%}-{high:.0%}: "
          f"{'met' if low <= under <= high else 'NOT met'}); P90 at most twice the realised peak in {within:.1%} "
          f"(target at least {TARGET_WITHIN_2X:.0%}: {'met' if within >= TARGET_WITHIN_2X else 'NOT met'}); "
          f"P90 / realised peak on average {ratio:.2f}")
    print(best_rescaling(weeks["p90"] / weeks["realised"]))
    # The best a calibrated forecast can do on the second target: one knowing each week's volume
    # exactly still faces the spread of weekly burstiness (week peak / week mean minute).
    spread = pd.concat(spreads)
    p90, p80, p33 = (float(spread.quantile(q)) for q in (0.9, TARGET_UNDER_P90[0], 1 / 3))
    print(f"history's own weeks ({len(spread)}, each series over its median): the busiest minute over the week's "
          f"mean minute has P90 / P33 {p90 / p33:.2f} and P80 / P33 {p80 / p33:.2f}; a P90 knowing each week's "
          f"volume exactly would be at most twice the realised peak in {(spread >= p90 / 2).mean():.1%} of them, "
          f"one covering only 80% of them in {(spread >= p80 / 2).mean():.1%}")
    # Could a forecast know a week's burstiness from the week before? Consecutive weeks' log ratios
    # within each series (each series' ratios over its median, so series levels do not correlate).
    pairs = pd.concat([pd.DataFrame({"before": np.log(s.to_numpy()[:-1]), "after": np.log(s.to_numpy()[1:])})
                       for s in spreads if len(s) > 1])
    print(f"consecutive weeks' burstiness (log, {len(pairs)} pairs within series): correlation "
          f"{pairs['before'].corr(pairs['after']):+.2f}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
