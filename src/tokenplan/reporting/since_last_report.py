"""What changed since the last comparable report, and how its forecast did against what was then recorded.

Planners re-run the plan each quarter; in between, a demo run or a run on another file
may have written a report folder. ``since_last_report`` walks the earlier folders newest
first (``PreviousReportDataset``) and compares with the first one that is an earlier plan
of this run's usage: the same kind of data and at least one series in common
(``tokenplan.reporting.data_source.why_not_comparable``), tables that hold this run's
median, a forecast of at least one of this run's models and a horizon that does not
start after this one's (one that does is a later plan: its history ends after this one's).
The newer folders it passes over are named with the reason. A different source (another
file: each quarter's export is one) is stated beside the comparison, not a reason to skip
it, unless the report's horizon (and so its history) ended before this run's history
begins: then nothing ties it to this usage, and an earlier plan of this file is preferred.

Two statements come out of the chosen report:

- **the change**: its P50 totals and cost beside this run's, on the series both
  forecast (per day when the horizons differ in length by more than 5%);
- **the grade**: where its horizon is now in this run's history, what was recorded on
  those buckets against what it forecast for them, P50 and P10–P90, per target and for
  the cost. Only cells (series, target, bucket) recorded in this history count, in both
  the actual and the forecast. The forecast for them is what the report printed for the
  same days: its horizon totals where a series and target is recorded on every day of it,
  else its months' totals (a partial first month included) for the months recorded whole,
  P10s, P50s and P90s each added up, as the report holds its horizon inside its months'
  sums. A month recorded in part (a history that ends inside it, a missing bucket) is its
  P50 times the share of its per-bucket P50 (``forecast.csv``) those cells hold (without
  ``forecast.csv``, their share of its buckets), with the relative width of the report's
  period nearest in length and no upper quantile above the month's own. A horizon's width
  is never scaled onto part of it: a level error grows with the distance ahead, so the
  horizon's relative width is wider than its first months', and scaled onto them it read
  a first 46 days 13% over the plan's P50 as inside, where the months the plan printed
  for those days put it above their P90. The recorded tokens are priced at the report's
  own rates (its P50 cost per token, per model and token type), so the grade is the
  forecast's error, not a price change; its cost periods are added the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.reporting.data_source import (
    history_tail,
    other_settings,
    other_source,
    series_difference,
    why_not_comparable,
)
from tokenplan.schemas import naive_utc

__all__ = ["since_last_report"]

_SKIPPED_NAMED = 3  # newer folders named with their reason; the rest are counted
_PER_DAY_TOLERANCE = 0.5  # days: horizons of another length are compared per day (a 151-day plan after a 150-day
# one), and the report, which prints whole days, never says two horizons differ while printing the same length


def since_last_report(reports: Sequence[Mapping[str, Any]] | None, history: pd.DataFrame, horizon: pd.DataFrame,
                      horizon_cost: pd.DataFrame, quantiles: list[str],
                      data_source: dict[str, Any] | None) -> dict[str, Any] | None:
    """The comparison with the newest comparable earlier report (``compared``), the newer ones skipped and why
    (``skipped``: version, reason), and the grade of its forecast (``grade``); None on a first run.

    ``horizon``: this run's ``forecast_totals`` rows of period ``horizon``; ``horizon_cost`` its cost rows.
    """
    if isinstance(reports, Mapping):  # one report's tables, as a notebook may pass them
        reports = [reports] if reports else []
    if not reports:
        return None
    median = quantiles[len(quantiles) // 2]
    if data_source is not None and history is not None and len(history):
        # An earlier report's last days are compared with whatever this history records on them, not only with
        # this history's own last days: a report from a file that ended in March, beside this run's history
        # through December, shared no last day with it and was graded as an earlier plan of this usage.
        span = int((pd.to_datetime(history["ds"]).max() - pd.to_datetime(history["ds"]).min()).days) + 1
        data_source = {**data_source, "history_tail": history_tail(history, days=span)}
    first = _naive(pd.to_datetime(history["ds"]).min()) if history is not None and len(history) else None
    skipped = []
    for at, report in enumerate(reports):
        reason = _why_skipped(report, horizon, data_source, median, first)
        if reason is None:
            return {"compared": True, **_named(skipped), **_change(report, horizon, horizon_cost, median, data_source),
                    "grade": _newest_grade(reports[at:], history, horizon, quantiles, data_source, first)}
        skipped.append({"version": report["version"], "reason": reason})
    return {"compared": False, "version": None, **_named(skipped)}


def _named(skipped: list[dict[str, str]]) -> dict[str, Any]:
    return {"skipped": skipped[:_SKIPPED_NAMED], "skipped_more": max(len(skipped) - _SKIPPED_NAMED, 0)}


def _newest_grade(reports: Sequence[Mapping[str, Any]], history: pd.DataFrame, horizon: pd.DataFrame,
                  quantiles: list[str], data_source: dict[str, Any] | None,
                  first: pd.Timestamp | None) -> dict[str, Any] | None:
    """The grade of the newest comparable report whose horizon this history records, from ``reports[0]`` on.

    The report compared is usually that one; after a re-run on the same export (a parameter changed), it is a
    plan of the same quarter, nothing of which is recorded yet, and the plan before it is the one to grade.
    """
    median = quantiles[len(quantiles) // 2]
    for report in reports:
        if _why_skipped(report, horizon, data_source, median, first) is None:
            grade = _grade(report, history, _shared(report, horizon), quantiles)
            if grade is not None:
                return grade
    return None


def _naive(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def _planned(report: Mapping[str, Any], table: str) -> pd.DataFrame:
    frame = report[table]
    return frame[frame["period"] == "horizon"].assign(series=lambda f: f["series"].astype(str))


def _shared(report: Mapping[str, Any], horizon: pd.DataFrame) -> set[str]:
    """The series both the report and this run forecast."""
    return set(_planned(report, "forecast_totals")["series"]) & set(horizon["series"].astype(str))


def _why_skipped(report: Mapping[str, Any], horizon: pd.DataFrame, data_source: dict[str, Any] | None,
                 median: str, first: pd.Timestamp | None = None) -> str | None:
    """Why ``report`` is no earlier plan of this run's usage; None when it is. ``first``: this history's first
    bucket."""
    reason = why_not_comparable(report.get("data_source"), data_source)
    if reason:
        return reason
    totals, cost = report["forecast_totals"], report["cost_forecast"]
    if totals is None or cost is None or median not in totals or median not in cost:
        return f"it holds no forecast_totals.csv and cost_forecast.csv with a {median.upper()} column"
    if not _shared(report, horizon):
        return "it forecast none of this run's models"
    then = _planned(report, "forecast_totals")
    start, end = _naive(then["start"].min()), _naive(then["end"].max())
    now = _naive(horizon["start"].min())
    if start > now:
        # Nothing above found it other usage (same kind, shared series, no day that disagrees): a later export of
        # it, as when last quarter is re-run after this one, not "other usage data".
        return (f"it is a later plan: its history ends after this run's (its horizon starts {start:%Y-%m-%d}, this "
                f"run's {now:%Y-%m-%d})")
    source = other_source(report.get("data_source") or {}, data_source or {})
    if source and first is not None and end < first:
        # Its history ends before its horizon: neither shares a day with this history, so nothing ties another
        # file to this usage (last quarter's export forecast days this history records, and is graded on them).
        return (f"it was read from {source}, and its history and horizon (to {end:%Y-%m-%d}) end before this run's "
                f"history begins ({first:%Y-%m-%d}), so nothing shows it is an earlier plan of this usage")
    return None


def _change(report: Mapping[str, Any], horizon: pd.DataFrame, horizon_cost: pd.DataFrame, median: str,
            data_source: dict[str, Any] | None) -> dict[str, Any]:
    """The report's horizon and P50 totals beside this run's, on the series both forecast."""
    shared = _shared(report, horizon)
    then = _planned(report, "forecast_totals")
    then = then[then["series"].isin(shared)]
    now = horizon[horizon["series"].astype(str).isin(shared)]
    then_cost = _planned(report, "cost_forecast")
    then_cost = float(then_cost.loc[then_cost["series"].isin(shared), median].sum())
    now_cost = float(horizon_cost.loc[horizon_cost["series"].astype(str).isin(shared), median].sum())
    by_target, now_by_target = then.groupby("target")[median].sum(), now.groupby("target")[median].sum()
    days_then, days_now = _days_covered(then), _days_covered(horizon)
    # Horizons of other lengths (a week's plan after a quarter's) are compared per day: their totals differ by
    # the length alone (a week against the quarter before it read as -92%).
    scale = days_then / days_now if abs(days_then - days_now) >= _PER_DAY_TOLERANCE else 1.0
    rows = [{"target": t, "now": float(now_by_target[t]), "then": float(by_target[t]),
             "change": float(now_by_target[t] * scale / by_target[t] - 1)}
            for t in now_by_target.index if t in by_target.index and by_target[t]]
    then_series, now_series = set(_planned(report, "forecast_totals")["series"]), set(horizon["series"].astype(str))
    return {"version": report["version"], "start": _naive(then["start"].min()), "end": _naive(then["end"].max()),
            "targets": rows, "then_by_target": {r["target"]: r["then"] for r in rows}, "cost_then": then_cost,
            "per_day": scale != 1.0, "days_then": days_then, "days_now": days_now,
            "cost_change": now_cost * scale / then_cost - 1 if then_cost > 0 and now_cost > 0 else np.nan,
            "other_source": other_source(report.get("data_source") or {}, data_source or {}),
            "source_now": (data_source or {}).get("source"), "shared_series": len(shared),
            "other_settings": other_settings(report.get("data_source") or {}, data_source or {}),
            "settings_now": ((data_source or {}).get("run") or {}).get("command"),
            "series_left_out": series_difference({"series": then_series}, {"series": now_series})}


def _days_covered(horizon: pd.DataFrame) -> float:
    """Days from the first horizon row's start to the end of its last bucket (``end`` is the last bucket's start)."""
    start, end = pd.Timestamp(horizon["start"].min()), pd.Timestamp(horizon["end"].max())
    buckets = float(horizon["buckets"].max()) if "buckets" in horizon else 0.0
    span = (end - start) / pd.Timedelta(days=1)
    return span * buckets / (buckets - 1) if buckets > 1 else max(span, 1.0)


def _grade(report: Mapping[str, Any], history: pd.DataFrame, shared: set[str],
           quantiles: list[str]) -> dict[str, Any] | None:
    """What this history recorded over the report's horizon against what the report forecast for those cells.

    None when none of its horizon is in this history yet.
    """
    median = quantiles[len(quantiles) // 2]
    table = _table(report, "forecast_totals", shared)
    then = table[table["period"] == "horizon"]
    start, end = _naive(then["start"].min()), _naive(then["end"].max())
    cells = _recorded(history, shared, start, end)
    if cells.empty:
        return None
    per_bucket = _per_bucket(report, shared, start, end)
    parts = _whole_horizons(_period_parts(cells, table, per_bucket, median), table, by=["series", "target"])
    planned = _planned_for(parts, table, quantiles)
    days = cells["ds"].dt.normalize()
    periods = parts.reset_index().groupby("period", sort=False)["whole"].all()
    grade = {"version": report["version"], "first": days.min(), "last": days.max(), "days": int(days.nunique()),
             "days_then": _days_covered(then), "start": start, "end": end, "per_bucket": per_bucket is not None,
             "missing": _missing(history, shared, start, end),
             "whole_periods": sorted(periods.index[periods]), "part_periods": sorted(periods.index[~periods]),
             "by_target": {target: _verdict(target, float(rows["y"].sum()), planned.loc[target], quantiles)
                           for target, rows in cells.groupby("target", sort=False)}}
    grade["cost"] = _cost_grade(report, cells, per_bucket, table, quantiles)
    return grade


def _table(report: Mapping[str, Any], name: str, shared: set[str]) -> pd.DataFrame:
    """The report's ``name`` table (every period) of the shared series."""
    frame = report[name].assign(series=lambda f: f["series"].astype(str))
    if "target" in frame:
        frame = frame.assign(target=frame["target"].astype(str))
    return frame[frame["series"].isin(shared)]


def _recorded(history: pd.DataFrame, shared: set[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The history's recorded cells (finite ``y``) of the shared series inside [start, end] (``end``: last bucket)."""
    ds = naive_utc(history["ds"])
    keep = history["series"].astype(str).isin(shared) & (ds >= start) & (ds <= end) & np.isfinite(history["y"])
    out = history.loc[keep, ["series", "target", "y"]].assign(series=lambda f: f["series"].astype(str),
                                                             target=lambda f: f["target"].astype(str), ds=ds[keep])
    return out.reset_index(drop=True)


def _missing(history: pd.DataFrame, shared: set[str], start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Model-buckets of the overlap with no recorded value (left out of both sides of the grade)."""
    ds = naive_utc(history["ds"])
    gaps = history["series"].astype(str).isin(shared) & (ds >= start) & (ds <= end) & ~np.isfinite(history["y"])
    return int(pd.DataFrame({"series": history.loc[gaps, "series"].astype(str), "ds": ds[gaps]})
               .drop_duplicates().shape[0])


def _per_bucket(report: Mapping[str, Any], shared: set[str], start: pd.Timestamp,
                end: pd.Timestamp) -> pd.DataFrame | None:
    """The report's per-bucket forecast (``forecast.csv``) of the shared series over its horizon, or None."""
    forecast = report.get("forecast")
    if forecast is None or "timestamp" not in forecast:
        return None
    ds = naive_utc(forecast["timestamp"])
    keep = forecast["series"].astype(str).isin(shared) & (ds >= start) & (ds <= end)
    return forecast.loc[keep].assign(series=lambda f: f["series"].astype(str), target=lambda f: f["target"].astype(str),
                                     ds=ds[keep])


def _by_period(rows: pd.DataFrame, periods: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (``series, target, ds``) with the ``period`` of ``periods`` (the report's rows of the same series
    and target) whose ``start``-``end`` holds each; a row in none is dropped."""
    located = pd.merge_asof(rows.assign(ds=rows["ds"].astype("datetime64[ns]")).sort_values("ds"),
                            periods[["series", "target", "period", "start", "end"]]
                            .assign(start=lambda f: naive_utc(f["start"]).astype("datetime64[ns]"),
                                    end=lambda f: naive_utc(f["end"]).astype("datetime64[ns]")).sort_values("start"),
                            left_on="ds", right_on="start", by=["series", "target"], direction="backward")
    return located[located["ds"] <= located["end"]].drop(columns=["start", "end"])


def _months(table: pd.DataFrame, key: tuple[str, ...] = ("series", "target")) -> pd.DataFrame:
    """The report's periods under its horizon (its months, a partial first one included) per ``key`` (columns of
    ``table``); the horizon itself for a key that has none."""
    key = list(key)
    months = table[table["period"] != "horizon"]
    alone = table[(table["period"] == "horizon") & ~table.set_index(key).index.isin(months.set_index(key).index)]
    return pd.concat([months, alone], ignore_index=True)


_PART = ["series", "target", "period"]


def _period_parts(cells: pd.DataFrame, then: pd.DataFrame, per_bucket: pd.DataFrame | None,
                  median: str) -> pd.DataFrame:
    """Per series, target and period of the report that the recorded cells fall in: ``recorded`` (buckets),
    ``whole`` (all of the period's buckets recorded) and ``share``, the part of the period's P50 they hold.

    The share is from the report's per-bucket P50 when it has one that covers the cells, else from their count of
    the period's buckets; 1 for a whole period. ``then``: the report's rows (horizon and months) of the shared
    series.
    """
    months = _months(then)
    located = _by_period(cells, months)
    recorded = located.groupby(_PART).size().rename("recorded")
    buckets = months.set_index(_PART)["buckets"].reindex(recorded.index)
    whole = recorded >= buckets
    share = recorded / buckets
    if per_bucket is not None and not per_bucket.empty:
        forecast = per_bucket[["series", "target", "ds", median]]
        matched = located.merge(forecast, on=["series", "target", "ds"], how="left")
        part = matched.groupby(_PART)[median].sum(min_count=1).reindex(recorded.index)
        over = _by_period(forecast, months).groupby(_PART)[median].sum().reindex(recorded.index)
        from_p50 = part / over
        # A cell the per-bucket forecast does not hold, or a period forecast at zero, falls back to the count.
        unmatched = matched[median].isna().groupby([matched[c] for c in _PART]).any().reindex(recorded.index)
        share = from_p50.where(np.isfinite(from_p50) & ~unmatched.fillna(True), share)
    return pd.DataFrame({"recorded": recorded, "whole": whole, "share": share.where(~whole, 1.0)})


def _whole_horizons(parts: pd.DataFrame, then: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``parts`` with each group ``by`` whose every period under the horizon is recorded whole, for every target
    it records, taken as its horizon (which the report holds inside its months' added quantiles)."""
    horizon = then[then["period"] == "horizon"].set_index(["series", "target"])
    if horizon.empty:
        return parts
    months = _months(then).groupby(["series", "target"]).size()
    flat = parts.reset_index()
    per_key = flat.groupby(["series", "target"]).agg(periods=("period", "size"), whole=("whole", "all"))
    complete = per_key["whole"] & (per_key["periods"] == months.reindex(per_key.index)) & per_key.index.isin(
        horizon.index)
    complete = complete.groupby(level=by).transform("all")
    if not complete.any():
        return parts
    keys = complete[complete].index
    whole = pd.DataFrame({"recorded": horizon["buckets"].reindex(keys).to_numpy(), "whole": True, "share": 1.0},
                         index=pd.MultiIndex.from_arrays([keys.get_level_values(0), keys.get_level_values(1),
                                                          ["horizon"] * len(keys)], names=_PART))
    rest = flat.set_index(["series", "target"]).index.isin(keys)
    return pd.concat([parts[~rest], whole])


def _band(parts: pd.DataFrame, rows: pd.DataFrame, quantiles: list[str]) -> pd.DataFrame:
    """The report's quantiles for the recorded part of each of its periods (``parts``: indexed like ``rows``,
    with ``p50``, the forecast for the recorded cells, ``full``, the whole period's P50 in the same unit, and
    ``recorded`` and ``whole``).

    A period recorded whole is graded against what the report printed for it (moved with its P50, when the
    graded unit prices it otherwise); a part of one gets the relative width of the report's period nearest in
    length (of two, the one holding the part, then the shorter), and upper quantiles no higher than its whole
    period's. Its months, not its horizon: the horizon's width is its whole length's, and where a level error
    grows with the distance ahead, wider than its first months'.
    """
    median = quantiles[len(quantiles) // 2]
    key = list(rows.index.names[:-1])
    stated = rows[quantiles].reindex(parts.index)
    printed = stated.mul((parts["full"] / stated[median]).where(stated[median] > 0, 1.0), axis=0)
    partial = parts[~parts["whole"].astype(bool)]
    if partial.empty:
        return printed
    near = _months(rows.reset_index(), tuple(key))[lambda f: f[median] > 0][[*key, "period", "buckets", *quantiles]]
    pairs = partial[["recorded"]].reset_index().merge(near.rename(columns={"period": "near"}), on=key)
    pairs = pairs.assign(gap=(pairs["buckets"] - pairs["recorded"]).abs(), held=pairs["near"] != pairs["period"])
    nearest = pairs.sort_values(["gap", "held", "buckets"]).drop_duplicates(rows.index.names).set_index(
        rows.index.names)
    ratios = nearest[quantiles].div(nearest[median], axis=0).reindex(partial.index).fillna(1.0)
    values = ratios.mul(partial["p50"], axis=0)
    upper = quantiles[quantiles.index(median) + 1:]
    values[upper] = np.maximum(np.minimum(values[upper], printed.loc[partial.index, upper]),
                               partial["p50"].to_numpy()[:, None])
    band = printed.copy()
    band.loc[partial.index] = values
    return band


def _planned_for(parts: pd.DataFrame, then: pd.DataFrame, quantiles: list[str]) -> pd.DataFrame:
    """The report's forecast for the recorded cells per target: its periods' quantiles added (``_band``)."""
    median = quantiles[len(quantiles) // 2]
    rows = then.set_index(_PART)
    full = rows[median].reindex(parts.index)
    band = _band(parts.assign(p50=full * parts["share"], full=full), rows, quantiles)
    return band.groupby(level="target").sum()


def _verdict(target: str, actual: float, planned: pd.Series, quantiles: list[str]) -> dict[str, Any]:
    lo, median, hi = quantiles[0], quantiles[len(quantiles) // 2], quantiles[-1]
    where = "above" if actual > planned[hi] else "below" if actual < planned[lo] else "inside"
    error = actual / planned[median] - 1 if planned[median] else np.nan
    return {"target": target, "actual": actual, "lo": float(planned[lo]), "p50": float(planned[median]),
            "hi": float(planned[hi]), "where": where, "error": error}


def _rates(report: Mapping[str, Any], then: pd.DataFrame, median: str) -> pd.Series:
    """USD per token the report priced each (series, token target) at: its P50 cost of the type over its P50 tokens."""
    cost = _planned(report, "cost_forecast").set_index("series")
    split = {c: f"{c.removeprefix(f'{median}_')}_tokens" for c in cost if c.startswith(f"{median}_")}
    if not split:
        return pd.Series(dtype=float)
    usd = cost[list(split)].rename(columns=split).stack().rename("usd")
    usd.index.names = ["series", "target"]
    tokens = then.set_index(["series", "target"])[median]
    rate = (usd / tokens.reindex(usd.index)).replace([np.inf, -np.inf], np.nan)
    return rate[usd.index.get_level_values("series").isin(then["series"])]


def _cost_grade(report: Mapping[str, Any], cells: pd.DataFrame, per_bucket: pd.DataFrame | None,
                table: pd.DataFrame, quantiles: list[str]) -> dict[str, Any] | None:
    """The recorded tokens priced at the report's rates against its cost forecast for the same cells.

    Its periods' cost quantiles are added as its token totals' are (``_band``). None when the report records no
    cost split by token type (its rates are then unknown).
    """
    median = quantiles[len(quantiles) // 2]
    then = table[table["period"] == "horizon"]
    rates = _rates(report, then, median)
    if rates.empty:
        return None
    priced = cells.join(rates.rename("rate"), on=["series", "target"], how="inner")
    unpriced = priced[~np.isfinite(priced["rate"]) & (priced["y"] > 0)]
    priced = priced[np.isfinite(priced["rate"])]
    if priced.empty:
        return None
    parts = _whole_horizons(_period_parts(priced.drop(columns="rate"), table, per_bucket, median), table,
                            by=["series"])
    tokens = table.set_index(_PART)[median].reindex(parts.index).to_numpy(float)
    rate = rates.reindex(parts.index.droplevel("period")).to_numpy(float)
    usd = pd.DataFrame({"p50": tokens * parts["share"].to_numpy(float) * rate, "full": tokens * rate,
                        "recorded": parts["recorded"], "whole": parts["whole"]}, index=parts.index)
    usd = usd.groupby(level=["series", "period"]).agg(p50=("p50", "sum"), full=("full", "sum"),
                                                     recorded=("recorded", "max"), whole=("whole", "all"))
    cost = report["cost_forecast"].assign(series=lambda f: f["series"].astype(str)).set_index(["series", "period"])
    if usd.index.isin(cost.index).all():
        stated = _band(usd, cost[cost.index.get_level_values("series").isin(usd.index.get_level_values("series"))],
                       quantiles).sum()
    else:  # a report without a cost per month: its horizon's relative width
        horizon = cost.xs("horizon", level="period")
        planned_usd = usd.groupby(level="series")["p50"].sum()
        horizon = horizon.loc[horizon.index.isin(planned_usd.index)]
        stated = horizon[quantiles].mul(planned_usd.reindex(horizon.index) / horizon[median], axis=0).sum()
    actual = float((priced["y"] * priced["rate"]).sum())
    return {**_verdict("cost", actual, stated, quantiles),
            "unpriced": int(unpriced[["series", "target"]].drop_duplicates().shape[0])}
