"""The plan the month-to-date monitor compares with: the newest report folder made from the usage it reads.

A project folder holds plans of many files (last quarter's export, another team's, the
demo), and the model output (``data/07_model_output``) is whichever was run last. The
monitor therefore reads the report folders (``PreviousReportDataset``, newest first)
and takes the first that is a plan of this usage, by the check the report's "since the
last report" uses (``tokenplan.reporting.data_source.why_not_comparable``: the same kind
of data, a series in common, and the days both histories record agreeing), whose
forecast covers days of the month being monitored and which holds what the band needs
(``forecast.csv`` and the chosen method's ``backtest_predictions.csv``). The folders
passed over are named with the reason; when none is a plan of this usage, the monitor
stops with :class:`NoPlanError` instead of comparing with another file's plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tokenplan.datasets.previous_report import CHOSEN_BACKTEST, PER_BUCKET
from tokenplan.organisation.monitor import compared_days, observed_days
from tokenplan.organisation.monitor_errors import NoPlanError
from tokenplan.reporting.data_source import data_source_identity, history_tail, why_not_comparable
from tokenplan.schemas import COUNT_COLUMNS, naive_utc

__all__ = ["NoPlanError", "plan_named", "plan_of_usage", "usage_data_source"]

_SKIPPED_NAMED = 3


def usage_data_source(usage_buckets: pd.DataFrame, simulated: bool) -> dict[str, Any]:
    """The monitored usage as a report records its data (``data_source_identity``), its history tail spanning the
    whole usage, so a plan's last days are compared with whatever this usage records on them."""
    counts = [c for c in COUNT_COLUMNS if c in usage_buckets.columns]
    history = usage_buckets.melt(id_vars=["series", "timestamp"], value_vars=counts, var_name="target",
                                 value_name="y").rename(columns={"timestamp": "ds"})
    days = pd.to_datetime(history["ds"])
    span = int((days.max() - days.min()).days) + 1 if len(days) else 1
    return data_source_identity(simulated, usage_buckets.attrs.get("raw_source"),
                                usage_buckets["series"].astype(str).unique(), history_tail(history, days=span))


def _days(forecast: pd.DataFrame) -> pd.Series:
    """The forecast's buckets as naive UTC days (``forecast.csv`` spells them with or without an offset)."""
    return naive_utc(forecast["timestamp"]).dt.floor("D")


def _why_not_used(report: Mapping[str, Any], usage_buckets: pd.DataFrame, identity: dict[str, Any]) -> str | None:
    """Why ``report`` is not the plan to compare this usage with; None when it is."""
    reason = why_not_comparable(report["data_source"], identity)
    if reason:
        return reason
    missing = [f"{name}.csv" for name in (PER_BUCKET, "forecast_totals") if report[name] is None or report[name].empty]
    if missing:
        return f"it holds no {' or '.join(missing)}"
    first, last = compared_days(usage_buckets, _days(report[PER_BUCKET]))
    if first > last:
        days, (month_start, last_day) = _days(report[PER_BUCKET]), observed_days(usage_buckets)
        return (f"its forecast ({days.min():%Y-%m-%d} to {days.max():%Y-%m-%d}) covers none of the days monitored "
                f"({month_start:%Y-%m-%d} to {last_day:%Y-%m-%d})")
    if report[CHOSEN_BACKTEST] is None:
        return f"it holds no {CHOSEN_BACKTEST}.csv (made before reports kept it), which the band's intervals need"
    return None


def _made_at(version: str) -> str:
    """A report folder's name (``2026-12-07T21.55.43.107Z``, the run's start in UTC) as ``2026-12-07 21:55 UTC``."""
    try:
        return f"{pd.Timestamp(version.replace('.', ':', 2).removesuffix('Z')):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        return version


def plan_named(plan: Mapping[str, Any]) -> str:
    """``report 2026-12-07T21.55.43.107Z (made 2026-12-07 21:55 UTC, forecast 2026-07-01 to 2026-09-28)``."""
    return (f"report {plan['report']} (made {plan['made']}, forecast {plan['horizon_start']} to "
            f"{plan['horizon_end']})")


def plan_of_usage(reports: Sequence[Mapping[str, Any]], usage_buckets: pd.DataFrame, simulated: bool,
                  plan_command: str) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The newest report folder that is a plan of this usage: ``(which, forecast, backtest_predictions,
    forecast_totals)``; ``which`` holds ``report`` (its folder), ``made``, ``horizon_start``, ``horizon_end`` and
    ``skipped`` (newer folders passed over: version, reason).

    Raises :class:`NoPlanError` naming why the newest folder is not one and ``plan_command`` to make one.
    """
    identity = usage_data_source(usage_buckets, simulated)
    skipped = []
    for report in reports:
        reason = _why_not_used(report, usage_buckets, identity)
        if reason is not None:
            skipped.append({"version": report["version"], "reason": reason})
            continue
        forecast = report[PER_BUCKET].assign(series=lambda f: f["series"].astype(str),
                                             timestamp=lambda f: naive_utc(f["timestamp"]).dt.tz_localize("UTC"))
        days = _days(forecast)
        which = {"report": report["version"], "made": _made_at(report["version"]),
                 "horizon_start": f"{days.min():%Y-%m-%d}", "horizon_end": f"{days.max():%Y-%m-%d}",
                 "skipped": skipped[:_SKIPPED_NAMED], "skipped_more": max(len(skipped) - _SKIPPED_NAMED, 0)}
        backtest = report[CHOSEN_BACKTEST].assign(series=lambda f: f["series"].astype(str))
        return which, forecast, backtest, report["forecast_totals"]
    first, _ = observed_days(usage_buckets)
    if not reports:
        among = "no report folder yet"
    elif len(reports) == 1:
        among = f"the one report folder, {skipped[0]['version']}, is not one: {skipped[0]['reason']}"
    else:
        among = (f"none of the {len(reports)} report folders is one (the newest, {skipped[0]['version']}: "
                 f"{skipped[0]['reason']})")
    raise NoPlanError(
        f"monitor: no plan of this usage ({identity['source']}): {among}. "
        f"Make one with `{plan_command}` on this usage up to {first - pd.Timedelta(days=1):%Y-%m-%d} (the day before "
        f"the month monitored), then run the monitor again")
