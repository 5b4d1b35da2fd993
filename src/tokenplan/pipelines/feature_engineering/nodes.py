"""Feature engineering nodes: canonical usage -> forecast targets -> layout -> model input table."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.calendar_effects import known_holidays, year_end_events
from tokenplan.forecasting.ended_series import without_idle_tails
from tokenplan.forecasting.features import make_examples, origin_grid, spec_from_params
from tokenplan.forecasting.layout import plan_layout
from tokenplan.forecasting.migrations import combine_migrations, find_and_share
from tokenplan.forecasting.month_days import month_day_events
from tokenplan.forecasting.outages import mask_outages, outage_runs, suspected_outages
from tokenplan.forecasting.target_series import resample_targets

logger = logging.getLogger(__name__)


def build_target_series(usage_buckets: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """``usage_buckets`` -> long ``series, target, ds, y`` at the forecast frequency."""
    return resample_targets(usage_buckets, params["freq"], params["targets"], params["min_observed_fraction"])


def combine_migrated_traffic(target_series: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The history the forecast reads (``target_series`` with each migration's models as one series, a series
    idle for a day or more at the end up to its last usage: ``tokenplan.forecasting.ended_series``) and the
    migrations with each model's share (``tokenplan.forecasting.migrations``; ``migrations: false``: none)."""
    migrations = find_and_share(target_series if params.get("migrations", True) else target_series.iloc[:0])
    for traffic, rows in migrations.groupby("traffic"):
        logger.warning("traffic moved to %s from %s: forecast as one series, split by the last days' shares "
                       "(feature_engineering.migrations)", traffic, ", ".join(sorted(set(rows["series"]) - {traffic})))
    combined = combine_migrations(target_series, migrations)
    return without_idle_tails(combined), migrations


def plan_forecast_layout(target_series: pd.DataFrame, params: dict[str, Any],
                         training_params: dict[str, Any]) -> dict[str, Any]:
    """Horizon, seasons, warm-up and folds this history supports (``tokenplan.forecasting.layout``)."""
    backtest, tuning = training_params["backtest"], training_params["tuning"]
    layout = plan_layout(target_series, params["freq"], params["horizon"], level_weeks=params["level_weeks"],
                         backtest_folds=backtest["folds"], tuning_folds=tuning["folds"],
                         tuning_step_days=tuning.get("step_days"), min_train_seasons=training_params["min_train_seasons"],
                         origin_every=params.get("origin_every"))
    logger.info("forecast layout: %d steps of history, horizon %d, season %d, %d-step windows, "
                "%d tuning + %d backtest folds, model %s", layout.history_steps, layout.horizon, layout.season,
                layout.window, len(layout.tuning_origins), len(layout.backtest_origins),
                "trained" if layout.model else "not trained (simple methods)")
    for note in layout.notes:
        logger.info("forecast layout: %s", note)
    return layout.to_dict()


def _log_estimates(kind: str, estimates: list[tuple[str, bool, str, str]], listed: int = 4) -> None:
    """One line per measured effect applied, and one line for those not applied (a few named, with why), so a
    run over many models does not print a screen of effects it leaves out. ``estimates``: (scope, applied, why
    not, what was measured)."""
    for scope, applied, _, measured in estimates:
        if applied:
            logger.info("%s, %s: %s: applied", kind, scope, measured)
    left = [(scope, why, measured.split(" from ")[0]) for scope, applied, why, measured in estimates if not applied]
    if left:
        named = "; ".join(f"{scope} {effect} ({why})" for scope, why, effect in left[:listed])
        more = f"; and {len(left) - listed} more" if len(left) > listed else ""
        logger.info("%s measured but not applied for %d: %s%s", kind, len(left), named, more)


def add_calendar_effects(target_series: pd.DataFrame, events_calendar: pd.DataFrame, params: dict[str, Any],
                         forecast_layout: dict[str, Any]) -> pd.DataFrame:
    """The events calendar (``basis`` "stated" where it states an effect) plus the year-end
    holidays and the recurring days of the month per model, where the history measures them
    (``tokenplan.forecasting.calendar_effects``, ``tokenplan.forecasting.month_days``)."""
    unit = pd.Timedelta(1, unit=forecast_layout["freq"].lower())
    until = pd.Timestamp(forecast_layout["history_end"]) + forecast_layout["horizon"] * unit
    known = known_holidays(params.get("holiday_country"), events_calendar,
                           pd.Timestamp(forecast_layout["history_start"]), until)
    stated = events_calendar[events_calendar["effect"].notna()] if "effect" in events_calendar else None
    estimated, estimates = year_end_events(target_series, forecast_layout["freq"], until, params.get("year_end"),
                                           known, stated)
    _log_estimates("year-end holidays", [(row.scope, row.applied, row.why if not row.applied else "", (
        f"x{np.exp(row.log_effect):.2f} from {row.years} past year-end(s) (x{np.exp(row.period_effect):.2f} on the "
        f"days that are not public holidays, {row.z:.1f} standard errors from none)")) for row in estimates.itertuples()])
    monthly, month_estimates = month_day_events(target_series, forecast_layout["freq"], until, params.get("month_days"))
    _log_estimates("days of the month", [(f"day {row.day:+d}, {row.scope}", row.applied, row.why, (
        f"x{np.exp(row.log_effect):.2f} from {row.months} past month(s) ({row.z:.1f} standard errors from none)"))
        for row in month_estimates.itertuples()])
    stated = events_calendar["effect"].notna() if "effect" in events_calendar else False
    events = events_calendar.assign(basis=np.where(stated, "stated", ""))
    measured = [frame.astype({"effect": float}) for frame in (estimated, monthly) if not frame.empty]
    if not measured:
        return events
    return pd.concat([events, *measured], ignore_index=True).sort_values(
        "start", kind="stable").reset_index(drop=True)


def mask_suspected_outages(target_series: pd.DataFrame, forecast_events: pd.DataFrame, params: dict[str, Any],
                           forecast_layout: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The history every forecast method learns from (``target_series`` with suspected
    outages and bursts missing) and the buckets flagged (``tokenplan.forecasting.outages``)."""
    freq = forecast_layout["freq"]
    holidays = known_holidays(params.get("holiday_country"), forecast_events,
                              pd.Timestamp(forecast_layout["history_start"]), pd.Timestamp(forecast_layout["history_end"]))
    outages = suspected_outages(target_series, freq, forecast_layout["season"], forecast_events, holidays,
                                params.get("outages"))
    for run in outage_runs(outages, freq).itertuples():
        logger.warning("suspected %s, %s: %s to %s (%d bucket(s)), %s %.6g recorded against %.6g expected; "
                       "treated as missing for the forecast (feature_engineering.outages)", run.kind, run.series,
                       run.first, run.last, run.buckets, run.target, run.recorded, run.expected)
    return mask_outages(target_series, outages), outages


def build_model_input_table(target_series: pd.DataFrame, events_calendar: pd.DataFrame,
                            params: dict[str, Any], forecast_layout: dict[str, Any]) -> pd.DataFrame:
    """Origin-anchored examples for every origin on the grid and every fold origin; the last is the forecast origin,
    the history's last recorded bucket (the layout's ``history_end``) even where the outage check left the last
    buckets missing: the forecast starts after the history, never on a day it already holds."""
    spec = spec_from_params(params, forecast_layout)
    grid = origin_grid(target_series, spec, every=forecast_layout["origin_every"],
                       last=pd.Timestamp(forecast_layout["history_end"]))
    folds = [pd.Timestamp(t) for t in forecast_layout["tuning_origins"] + forecast_layout["backtest_origins"]]
    origins = sorted(set(grid) | set(folds))
    return make_examples(target_series, events_calendar, origins, spec)
