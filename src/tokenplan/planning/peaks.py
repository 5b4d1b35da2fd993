"""Per-minute peaks in history, per forecast bucket: how the busiest minute relates to the bucket total.

For each unit (a model group, or one series) and metric it is planned against (``rpm``,
``itpm``, ``otpm``, ``tpm``: ``rate_limits.planned_metrics``), every forecast bucket of
history (a day, or an hour) gets:

- ``total``: the bucket's total of the metric's driver (requests; uncached input +
  cache writes, plus cache reads where the group counts them; output tokens; for TPM,
  every token: uncached input, cache writes, cache reads and output);
- ``peak``: the highest per-minute value inside the bucket;
- ``ratio``: ``peak / (total / minutes in the bucket)``, the peak-to-mean ratio.

The ratio is what the capacity plan learns: it is scale-free, so forecast totals
times historical ratios give forecast peaks. Where the usage carries measured peaks
(request logs, ``bucket_width: 1m`` exports, peak columns) ``measured`` is true. Where
it does not, a usage bucket's peak is its mean minute times a configured
``assumed_peak_to_mean`` and ``measured`` is false, so every number built on it can
say so. That assumed minute is at least what Poisson arrivals of the bucket's requests
give (:func:`poisson_busiest_minute`): a model of a few hundred requests a day has whole
requests' tokens in its busiest minute, many times its mean minute's. A unit of several
series sums their per-bucket peaks: an upper bound, since their busiest minutes need not
coincide (``summed`` marks the buckets where two or more series' measured busiest minutes
were added, so the report can say that history's "already over" may not have been).
Usage buckets carry each series' busiest minute, not its minutes, so the group's own
busiest minute is not known from them. Usage has no measured TPM peak of its own: a
bucket's is its busiest input minute (scaled by its share of cache reads) plus its
busiest output minute, an upper bound for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from tokenplan.planning.rate_limits import SPLIT_METRICS

METRIC_DRIVERS: dict[str, tuple[str, ...]] = {
    "rpm": ("requests",),
    "itpm": ("input_tokens", "cache_write_tokens"),
    "otpm": ("output_tokens",),
    "tpm": ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"),
}
PEAK_OF_METRIC = {"rpm": "peak_rpm", "itpm": "peak_itpm", "otpm": "peak_otpm"}
MINUTES = {"D": 1440.0, "h": 60.0, "H": 60.0, "min": 1.0}

__all__ = ["METRIC_DRIVERS", "REQUIRED_DRIVERS", "available_drivers", "bucket_minutes", "driver_targets",
           "forecast_bucket_peaks", "poisson_busiest_minute", "usage_peaks", "whole_days"]


def bucket_minutes(freq: str) -> float:
    """Minutes in one bucket of ``freq`` (``D``, ``h``)."""
    try:
        return MINUTES[freq]
    except KeyError:
        return pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds() / 60.0


def whole_days(ds: pd.Series | pd.DatetimeIndex, freq: str) -> pd.Series:
    """Per day ``ds`` touches (its index, in order): whether its buckets of ``freq`` are all there (a history that
    ends, or a horizon that starts, an hour into a day has a part of a day; so has a day missing an hour)."""
    days = pd.DatetimeIndex(ds).normalize()
    per_day = max(int(round(1440.0 / bucket_minutes(freq))), 1)
    counts = pd.Series(1, index=days).groupby(level=0, sort=True).size()
    return counts >= per_day


# The drivers a metric cannot do without; the others (cache writes, cache reads) count
# as zero where the usage has no such column.
REQUIRED_DRIVERS: dict[str, tuple[str, ...]] = {"rpm": ("requests",), "itpm": ("input_tokens",),
                                                "otpm": ("output_tokens",), "tpm": ("input_tokens", "output_tokens")}


def available_drivers(metric: str, counts_cache_reads: bool, columns) -> tuple[str, ...]:
    """The metric's drivers among ``columns`` (empty without a required one: no requests, no RPM)."""
    drivers = driver_targets(metric, counts_cache_reads)
    present = tuple(d for d in drivers if d in set(columns))
    return present if set(REQUIRED_DRIVERS[metric]) <= set(present) else ()


def driver_targets(metric: str, counts_cache_reads: bool = False) -> tuple[str, ...]:
    """The forecast targets whose sum drives ``metric`` (ITPM adds cache reads only where they count)."""
    drivers = METRIC_DRIVERS[metric]
    return (*drivers, "cache_read_tokens") if metric == "itpm" and counts_cache_reads else drivers


def _measured_peak(rows: pd.DataFrame, metric: str, drivers: tuple[str, ...]) -> pd.Series:
    """The bucket's measured busiest minute of ``metric`` from its peak columns (NaN where not measured).

    The ITPM peak column counts uncached input + cache writes: where cache reads count
    too, it is scaled by the bucket's share of cache reads (their minute-level mix is not
    known). TPM has no column: its input part so scaled, plus the OTPM peak.
    """
    if metric == "tpm":
        inputs = tuple(d for d in drivers if d != "output_tokens")
        return _measured_peak(rows, "itpm", inputs) + _measured_peak(rows, "otpm", ("output_tokens",))
    peak_column = PEAK_OF_METRIC[metric]
    peak = rows[peak_column] if peak_column in rows.columns else pd.Series(np.nan, index=rows.index)
    if metric == "itpm" and "cache_read_tokens" in drivers:
        total = rows[list(drivers)].sum(axis=1)
        base = rows[[d for d in drivers if d != "cache_read_tokens"]].sum(axis=1)
        peak = peak * (total / base.where(base > 0))
    return peak


def assumed_factor(assumed_peak_to_mean: Mapping[str, float], usage_freq: str) -> float:
    """The busiest-minute/mean-minute factor assumed for usage buckets of ``usage_freq``
    (``planning.capacity.assumed_peak_to_mean``; the hourly one for a width it does not list)."""
    return float(assumed_peak_to_mean.get(usage_freq, assumed_peak_to_mean.get("h")))


def poisson_busiest_minute(total: pd.Series, requests: pd.Series, minutes: float) -> pd.Series:
    """The busiest minute of a bucket where requests arrive as a Poisson process, at its median: ``total`` per minute.

    With ``requests / minutes`` requests a minute, the busiest of the bucket's minutes holds ``k`` of them at its
    median: the Poisson quantile at ``0.5 ** (1 / minutes)`` (the busiest of ``minutes`` independent minutes is at
    most ``k`` with probability ``CDF(k) ** minutes``; the quantile at ``1 - 1 / minutes``, the minute one in
    ``minutes`` reaches, is only about the 37th percentile of the busiest, since ``(1 - 1/n) ** n`` is about
    ``1/e``). Its share of ``total`` is ``k`` requests' worth (``total / requests`` each). NaN where the bucket
    has no requests (or a bucket of one minute, whose total is its minute). A model of 240 requests a day has a
    busiest minute of 3 requests at the median (2 or fewer on 37% of days), 18 times its mean minute.
    """
    if minutes <= 1:
        return pd.Series(np.nan, index=total.index)
    requests = requests.where(requests > 0)
    busiest = stats.poisson.ppf(0.5 ** (1.0 / minutes), requests / minutes)
    return pd.Series(busiest, index=total.index) * total / requests


def usage_bucket_of(peak_history: pd.DataFrame) -> str | None:
    """The usage's own bucket width a peak history was built from (its ``usage_bucket``), None if it does not say."""
    if "usage_bucket" not in peak_history or not len(peak_history):
        return None
    return str(peak_history["usage_bucket"].iloc[0])


def _empty(dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """A table of no rows with these columns and dtypes (an untyped empty table turns a concat's columns to object)."""
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in dtypes.items()})


def usage_peaks(usage_buckets: pd.DataFrame, units: Mapping[str, str], counts_cache_reads: Mapping[str, bool],
                usage_freq: str, assumed_peak_to_mean: float,
                metrics: Mapping[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """Per usage bucket, unit and metric: ``timestamp, unit, metric, total, peak, measured, summed``.

    An assumed peak (no peak column) is the bucket's mean minute times ``assumed_peak_to_mean``, or the unit's
    :func:`poisson_busiest_minute` of its requests where that is more (usage with a ``requests`` column).
    ``summed``: the peak adds the measured busiest minutes of two or more series (an upper bound of the unit's own).

    ``units`` maps series ids to the unit they count toward (series not in it are
    ignored); ``metrics``: each unit's metrics (default RPM, ITPM and OTPM). A bucket
    whose driver total is unknown (NaN) is left out.
    """
    usage = usage_buckets[usage_buckets["series"].isin(list(units))].copy()
    usage["unit"] = usage["series"].map(units)
    minutes = bucket_minutes(usage_freq)
    metrics = metrics or {}
    frames = []
    for metric in METRIC_DRIVERS:
        for unit, rows in usage.groupby("unit", sort=True):
            if metric not in metrics.get(unit, SPLIT_METRICS):
                continue
            drivers = available_drivers(metric, bool(counts_cache_reads.get(unit, False)),
                                        rows.columns[rows.notna().any()])
            if not drivers:
                continue
            total = rows[list(drivers)].sum(axis=1, min_count=len(drivers))
            total = total.where(rows[list(drivers)].notna().all(axis=1))
            measured_peak = _measured_peak(rows, metric, drivers)
            measured = measured_peak.notna()
            peak = measured_peak.where(measured, total / minutes * assumed_peak_to_mean)
            requests = rows["requests"] if "requests" in rows else pd.Series(np.nan, index=rows.index)
            frame = pd.DataFrame({"timestamp": rows["timestamp"], "unit": unit, "metric": metric,
                                  "total": total, "peak": peak, "measured": measured, "requests": requests,
                                  "unknown_requests": requests.isna(),
                                  "peaked": (measured & (measured_peak > 0)).astype(int)})
            frames.append(frame[frame["total"].notna()])
    if not frames:  # no series in any unit: the same columns and dtypes, so a later concat keeps them
        return _empty({"timestamp": usage_buckets["timestamp"].dtype, "unit": object, "metric": object,
                       "total": float, "peak": float, "measured": bool, "summed": bool})
    out = pd.concat(frames, ignore_index=True)
    out = (out.groupby(["timestamp", "unit", "metric"], sort=True)
           .agg(total=("total", "sum"), peak=("peak", "sum"), measured=("measured", "all"), peaked=("peaked", "sum"),
                requests=("requests", "sum"), unknown_requests=("unknown_requests", "any"))
           .reset_index())
    # The Poisson floor from the unit's own requests: its series' floors summed would count one request per series.
    floor = poisson_busiest_minute(out["total"], out.pop("requests").where(~out.pop("unknown_requests")), minutes)
    out["peak"] = out["peak"].where(out["measured"], np.fmax(out["peak"], floor))
    return out.assign(summed=out.pop("peaked") > 1)


def forecast_bucket_peaks(peaks: pd.DataFrame, usage_freq: str, freq: str) -> pd.DataFrame:
    """Usage-bucket peaks rolled up to forecast buckets: ``unit, metric, ds, total, peak, ratio, measured``.

    ``ds`` is the naive-UTC bucket start, as in ``target_series``. A forecast bucket
    missing some of its usage buckets (an outage, a gap in the export) keeps the busiest
    minute of the buckets it has, a lower bound of its own, with no ``total`` and no
    ``ratio``: its mean minute is unknown, so it lends no ratio to the draws, but a
    measured minute over a limit is history over it. Left out, a day missing two hours
    lost its 335 requests a minute, history's highest, and the report's "already over on
    16 days, peak 188" read one day and 147 a minute short.
    """
    if peaks.empty:  # no series in any unit (e.g. a limits file that lists none of the usage's models)
        return _empty({"unit": object, "metric": object, "ds": "datetime64[ns]", "total": float, "peak": float,
                       "measured": bool, "ratio": float, "summed": bool})
    frame = peaks.copy()
    frame["ds"] = frame["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor(freq)
    expected = max(int(round(bucket_minutes(freq) / bucket_minutes(usage_freq))), 1)
    grouped = frame.groupby(["unit", "metric", "ds"], sort=True).agg(
        total=("total", "sum"), peak=("peak", "max"), measured=("measured", "all"), n=("total", "size"))
    grouped["total"] = grouped["total"].where(grouped["n"] >= expected)
    grouped = grouped.drop(columns="n").reset_index()
    mean_minute = grouped["total"] / bucket_minutes(freq)
    grouped["ratio"] = (grouped["peak"] / mean_minute).where(mean_minute > 0)
    if "summed" in frame:  # whether the bucket's busiest minute, that of its busiest usage bucket, is a sum
        busiest = frame.sort_values("peak", ascending=False, kind="stable").groupby(["unit", "metric", "ds"])
        grouped["summed"] = busiest["summed"].first().reindex(
            pd.MultiIndex.from_frame(grouped[["unit", "metric", "ds"]])).fillna(False).astype(bool).to_numpy()
    return grouped
