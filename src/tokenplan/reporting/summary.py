"""The report's one-screen summary, computed from the run's tables (the template words it).

``plan_summary`` gives the numbers a planning meeting decides from: the quarter's totals
across models (requests, each token type, cost P10–P90), the change against the last
full calendar quarter of history (usage and cost priced the same way), the first rate
limit to bind and the best route (when the capacity plan and the ROI summary exist),
and the three largest risks of this run, ranked (the others named in a line).

Totals across models add the models' quantiles, i.e. assume the models move together:
the widest interval the models allow, wider than a sum of independent models (the
organisation's added daily P10-P90 held 96% of the demo organisation's backtest days against
80%). The same holds for cost, which already adds token types' quantiles
(``tokenplan.cost_forecast``).

Risks are ranked by a score that reads as "the share of the quarter's P50 cost the
caveat puts in doubt": a baseline that beats the model on a series weighs that series'
share of cost (per target lost); stated event effects and the anchor's extrapolated
growth weigh the share of cost they add; a trend of the history's last weeks the forecast does
not carry weighs what it adds faded in as a damped trend (``tokenplan.reporting.carried_trend``);
a history shorter than two years weighs the share of two years it lacks (every series
is affected); interval coverage off its nominal level in the backtest weighs the gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.outages import mask_outages
from tokenplan.forecasting.diagnostics import uses_baseline
from tokenplan.forecasting.ended_series import ended_since
from tokenplan.forecasting.explanations import CORRECTION
from tokenplan.forecasting.migrations import combine_migrations, describe, join_migrations, traffic_ids
from tokenplan.forecasting.successors import likely_successors
from tokenplan.forecasting.token_ratios import ratio_drifts
from tokenplan.planning.prices import UnitPrices, usd_per_token
from tokenplan.planning.recorded_prices import history_rate_lookup
from tokenplan.planning.stated_events import added_by_events
from tokenplan.reporting.carried_trend import DAMPING, carried_trends
from tokenplan.reporting.capacity_section import (assumed_note, first_limit_row, first_limit_sentence, history_note,
                                                   spike_note)
from tokenplan.reporting.data_notes import observed_days
from tokenplan.reporting.forecast_method_section import baseline_wins, compared_series
from tokenplan.reporting.last_days import followed_moves, masked_tail, recent_departures, young_ramps
from tokenplan.reporting.number_format import apart
from tokenplan.reporting.since_last_report import since_last_report

__all__ = ["CAPACITY_COLUMNS", "ROI_COLUMNS", "PlanSummary", "changes_by_day", "plan_summary"]

CAPACITY_COLUMNS = ["model_group", "period", "metric", "p50", "p90", "limit", "headroom_p90",
                    "first_crossing_p50", "first_crossing_p90"]
ROI_COLUMNS = ["route", "one_time_cost_usd", "monthly_saving_p10", "monthly_saving_p50", "monthly_saving_p90",
               "payback_month_p50", "npv_12m_p10", "npv_12m_p50", "npv_12m_p90", "annual_discount_rate"]
# What a route's "a month" is (``roi.route_summary``): the forecast months' days, the saving over the
# horizon as forecast, and whether the months after it grow; absent from older tables.
ROI_BASIS_COLUMNS = ["forecast_months", "forecast_days", "forecast_month_days", "horizon_saving_p50",
                     "months_extrapolated", "growth_enough_history", "growth_fit_history_months"]
TARGET_ORDER = ["requests", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"]
_FULL_HISTORY_DAYS = 730  # two years: every month of the horizon seen twice
_RISKS_SHOWN = 3


@dataclass
class PlanSummary:
    """What the summary states; every number comes from the run's tables."""

    simulated: bool
    horizon_start: pd.Timestamp
    horizon_end: pd.Timestamp
    horizon_buckets: int
    quantiles: list[str]
    totals: pd.DataFrame                  # target, <quantiles>, last_quarter, change
    cost: dict[str, float]                # <quantiles>, last_quarter, change
    last_quarter: dict[str, Any] | None   # label, start, end, buckets, missing_buckets, outage_buckets, cost_usd
    first_limit: dict[str, Any] | None
    best_route: dict[str, Any] | None
    risks: list[dict[str, Any]] = field(default_factory=list)
    more_risks: list[dict[str, Any]] = field(default_factory=list)  # ranked below the risks shown, named in a line
    since_last_run: dict[str, Any] | None = None  # report compared, ones skipped, totals then and now, grade
    not_forecast: list[dict[str, Any]] = field(default_factory=list)  # series, observed, buckets
    # The organisation's teams most at risk of their budget (rows of teams_at_risk.csv), when it has teams.
    teams_at_risk: list[dict[str, Any]] = field(default_factory=list)
    # Every series whose history's weekly trend the plan does not carry (``_trend_risk``), risks cut or not.
    trends_not_carried: list[dict[str, Any]] = field(default_factory=list)
    stale: dict[str, Any] | None = None  # last, today, days: a user's history that ends well before the run
    # Tokens per request (tokenplan.forecasting.token_ratios): the series whose requests and tokens were put
    # on one growth path, and the token targets whose ratio still drifts from the history's.
    pooled_ratios: list[dict[str, Any]] = field(default_factory=list)
    drifting_ratios: list[dict[str, Any]] = field(default_factory=list)
    # Models that look like another's successor (tokenplan.forecasting.successors), newest first, at most 3.
    successors: list[dict[str, Any]] = field(default_factory=list)
    # Traffic that moved to a successor, forecast as one series (tokenplan.forecasting.migrations.describe).
    migrations: list[dict[str, Any]] = field(default_factory=list)
    # Planned series without usage in the history's last IDLE_DAYS or more (fewer than the days that end one).
    idle: list[dict[str, Any]] = field(default_factory=list)
    # Series whose last days each lie beyond the plan's first week (a move the level has not read yet).
    departures: list[dict[str, Any]] = field(default_factory=list)
    followed: list[dict[str, Any]] = field(default_factory=list)  # young moves of the last days the plan follows
    ramps: list[dict[str, Any]] = field(default_factory=list)  # series launched days ago, still rising past the plan
    masked_tail: list[dict[str, Any]] = field(default_factory=list)  # last buckets left out as a suspected outage
    # List price changes inside the horizon, per model and day: its token types' rates before and from it.
    price_changes: list[dict[str, Any]] = field(default_factory=list)


_STALE_DAYS = 7  # a user's history ending more days than this before the run is called out
IDLE_DAYS = 7  # a planned series without usage for this many days at the history's end is named


def _stale_history(history: pd.DataFrame, today: pd.Timestamp | None, simulated: bool) -> dict[str, Any] | None:
    """The history's last day and how many days before ``today`` (the run's UTC date) it ends, when that
    is more than ``_STALE_DAYS``: the forecast starts the bucket after the history, so that much of its
    horizon is already past (a Console export from September planned in December). None for the
    simulated demo, whose calendar is its own, or without ``today``."""
    observed = history.loc[np.isfinite(history["y"]), "ds"]
    if simulated or today is None or observed.empty:
        return None
    last = pd.Timestamp(observed.max()).normalize()
    days = int((pd.Timestamp(today).normalize() - last).days)  # 1: the history ends yesterday
    return {"last": last, "today": pd.Timestamp(today).normalize(), "days": days} if days > _STALE_DAYS else None


def _not_forecast(history: pd.DataFrame, horizon: pd.DataFrame, ended: dict[str, str] | None = None
                  ) -> list[dict[str, Any]]:
    """Series of the history the forecast leaves out, with how many of their buckets were complete
    and their last observed bucket: "all models together" must not drop one silently. ``retired``:
    ended (``ended``, the forecast's ``attrs["ended"]``: no usage in the history's last
    ``feature_engineering.ended_days``; ``days`` since its last usage), or mostly complete buckets but none
    in the last 28 days (a forecast without that record), as opposed to a series whose buckets are
    mostly incomplete (an export without zero rows); ``mostly_complete``: at least half its buckets are
    complete (it is not left out for incomplete buckets, and the report must not say so)."""
    planned = set(horizon["series"].astype(str))
    end = pd.Timestamp(history["ds"].max())
    ended = ended or {}
    out = []
    for series, rows in history.groupby(history["series"].astype(str)):
        if series not in planned:
            per_bucket = rows.groupby("ds")["y"].apply(lambda y: y.notna().any())
            last = per_bucket.index[per_bucket.to_numpy()].max() if per_bucket.any() else None
            retired = last is not None and per_bucket.mean() >= 0.5 and end - pd.Timestamp(last) > pd.Timedelta(days=28)
            if series in ended:
                last, retired = pd.Timestamp(ended[series]), True
            out.append({"series": series, "observed": int(per_bucket.sum()), "buckets": len(per_bucket),
                        "last": last, "retired": retired, "mostly_complete": bool(per_bucket.mean() >= 0.5),
                        "days": None if last is None else int((end.normalize() - pd.Timestamp(last).normalize()).days)})
    return out


def _with_last_quarter_cost(gone: list[dict[str, Any]], last: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``gone`` with each series' share of the last full quarter's actual cost (``last_quarter_usd``; None
    without a full quarter): the change against that quarter counts series the plan leaves out."""
    costs = (last or {}).get("cost_by_series") or {}
    return [{**g, "last_quarter_usd": costs.get(g["series"], 0.0) if last else None} for g in gone]


def _idle(history: pd.DataFrame, horizon_cost: pd.DataFrame, median: str) -> list[dict[str, Any]]:
    """Planned series (in ``horizon_cost``) that would have ended with ``ended_days`` of ``IDLE_DAYS`` (idle that
    long, and beyond their own rhythm: ``ended_series``), longest idle first: each is planned at its level
    before, and may have stopped."""
    used = history[history["y"] > 0]
    end = history["ds"].max()
    cost = horizon_cost.groupby(horizon_cost["series"].astype(str))[median].sum()
    idle = {s: last for s, last in ended_since(used["series"], used["ds"], end, IDLE_DAYS).items() if s in cost.index}
    return [{"series": s, "last": last, "days": int((pd.Timestamp(end).normalize() - last).days), "usd": float(cost[s])}
            for s, last in sorted(idle.items(), key=lambda item: item[1])]


def _rates(prices: dict[str, UnitPrices | None], series: pd.Series, target: pd.Series) -> np.ndarray:
    """USD per token for each (series, target) row; 0 for targets without a price (requests) and for
    models without one (``None``: the report names them and leaves them out of every cost)."""
    models = series.astype(str).str.split("/").str[0]
    return np.nan_to_num(usd_per_token(prices, models, target.astype(str)), nan=0.0)


@dataclass
class _HorizonRates:
    """USD per token of each (series, target) over the horizon, as ``cost_forecast`` priced it (its P50 cost of
    the type over the P50 tokens: each month at its own prices), so what a risk adds is priced as the cost it
    is a share of; the price date's rates (``prices``) where the table has no split by type."""

    prices: dict[str, UnitPrices | None]
    horizon: pd.Series  # (series, target) -> USD per token

    @classmethod
    def of(cls, prices: dict[str, UnitPrices | None], horizon_cost: pd.DataFrame, horizon: pd.DataFrame,
           median: str) -> _HorizonRates:
        split = {c: f"{c.removeprefix(f'{median}_')}_tokens" for c in horizon_cost if c.startswith(f"{median}_")}
        if not split:
            return cls(prices, pd.Series(dtype=float))
        usd = horizon_cost.assign(series=horizon_cost["series"].astype(str)).set_index("series")[list(split)]
        usd = usd.rename(columns=split).stack()
        tokens = horizon.assign(series=horizon["series"].astype(str)).set_index(["series", "target"])[median]
        rate = usd / tokens.reindex(usd.index).where(lambda t: t > 0)
        return cls(prices, rate[np.isfinite(rate)])

    def __call__(self, series: pd.Series, target: pd.Series) -> np.ndarray:
        keys = pd.MultiIndex.from_arrays([series.astype(str), target.astype(str)])
        stated = self.horizon.reindex(keys).to_numpy(dtype=float) if len(self.horizon) else np.full(len(keys), np.nan)
        return np.where(np.isfinite(stated), stated, _rates(self.prices, series, target))


def _last_full_quarter(history: pd.DataFrame) -> pd.Period | None:
    """The latest calendar quarter the history covers from its first to its last bucket."""
    times = pd.DatetimeIndex(history["ds"].unique()).sort_values()
    if len(times) < 2:
        return None
    step = pd.Series(times).diff().median()
    quarter = pd.Period(times[-1], freq="Q")
    while quarter.start_time >= times[0]:
        if times[-1] + step > quarter.end_time:
            return quarter
        quarter -= 1
    return None


def _last_quarter(history: pd.DataFrame, prices: dict[str, UnitPrices], outages: pd.DataFrame | None = None,
                  history_rates: pd.DataFrame | None = None) -> tuple[dict | None, pd.DataFrame, float]:
    """The last full quarter's facts, its total per target and its cost rate per bucket (USD).

    The totals and the cost (``facts["cost_usd"]``) are what was recorded, each day priced at its own
    rates (``history_rates``: the prices in force that day at its own split of 1-hour cache writes and long
    context, as ``history_costs`` prices it; without them, ``prices``, which hold every model of the
    history, a retired one too). The rate the change compares with leaves out missing buckets and a
    series' suspected outages (``outages`` rows of kind ``outage``, every target of the series at that
    bucket, as the forecast leaves them out): a month of zeros in the quarter would otherwise read as growth.
    """
    quarter = _last_full_quarter(history)
    if quarter is None:
        return None, pd.DataFrame(columns=["target", "total", "per_bucket"]), np.nan
    rows = history[(history["ds"] >= quarter.start_time) & (history["ds"] <= quarter.end_time)]
    buckets = rows["ds"].nunique()
    flagged = outages[outages["kind"] == "outage"] if outages is not None and "kind" in outages else outages
    rate_y = mask_outages(rows, flagged)["y"] if flagged is not None else rows["y"]
    outage_keys = rate_y.isna() & rows["y"].notna()
    price = (np.nan_to_num(history_rate_lookup(rows, history_rates), nan=0.0) if history_rates is not None
             else _rates(prices, rows["series"], rows["target"]))
    rows = rows.assign(rate_y=rate_y, usd=rows["y"] * price, rate_usd=rate_y * price)
    per_key = rows.groupby(["series", "target"], observed=True).agg(
        sum=("y", "sum"), mean=("rate_y", "mean"), usd=("usd", "sum"), mean_usd=("rate_usd", "mean"),
        present=("ds", "size")).reset_index()
    # A series' missing and outage buckets count at its own mean; a bucket it has no row for
    # (before its launch, after its retirement, a sparse model's idle day) counts as zero. Its
    # mean over its own rows alone counted a model migrated mid-quarter, old and new, over the
    # whole quarter each: requests read -18% against a true +1%.
    per_key["per_bucket"] = per_key["mean"].fillna(0.0) * per_key["present"] / max(int(buckets), 1)
    per_key["rate_usd"] = per_key["mean_usd"].fillna(0.0) * per_key["present"] / max(int(buckets), 1)
    by_target = per_key.groupby("target", observed=True).agg(total=("sum", "sum"), per_bucket=("per_bucket", "sum"))
    facts = {"label": f"{quarter.year} Q{quarter.quarter}", "start": quarter.start_time,
             "end": quarter.end_time.normalize(), "buckets": int(buckets),
             # A model's missing day counts once, not once per token type (18 days read as 54).
             "missing_buckets": int(rows.loc[rows["y"].isna(), ["series", "ds"]].drop_duplicates().shape[0]),
             "outage_buckets": int(rows.loc[outage_keys, ["series", "ds"]]
                                   .drop_duplicates().shape[0]),
             "cost_usd": float(per_key["usd"].sum()),
             "cost_by_series": per_key["usd"].groupby(per_key["series"].astype(str)).sum().to_dict()}
    return facts, by_target.reset_index(), float(per_key["rate_usd"].sum())


def _baseline_risk(backtest: pd.DataFrame, cost_share: pd.Series, methods: dict[str, str] | None = None,
                   planned: set[str] | None = None, margin: float = 0.0) -> dict[str, Any] | None:
    """Series and targets whose out-of-sample ``chosen`` score lost to a simple baseline by more than the
    selection rule's ``margin``, unless the forecast (chosen on every fold, ``methods``: ``series|target`` ->
    method) already uses that baseline. Only the ``planned`` series count: a model retired before the forecast
    is in the backtest, not the plan. The backtest section counts the same
    (``forecast_method_section.baseline_wins``) and names the near ties."""
    per_series = compared_series(backtest, planned)  # a baseline scored on fewer folds is not compared
    wins = baseline_wins(backtest, planned, margin)
    if wins.empty:
        return None
    uses = uses_baseline(wins.index, wins["best_baseline"], methods)
    lost = wins[~uses]
    if lost.empty:
        return None
    targets_per_series = per_series.groupby(level="series").size()
    score = sum(cost_share.get(s, 0.0) / targets_per_series[s] for s, _ in lost.index)
    cases = sorted(((s, t, row["chosen"], row["best_baseline"], row["best_baseline_mase"], row)
                    for (s, t), row in lost.iterrows()), key=lambda c: c[4] - c[2])
    return {"kind": "baseline_wins", "score": float(score), "lost": len(lost), "of": len(per_series), "margin": margin,
            "cases": [{"series": s, "target": t, "model_mase": m, "baseline": b, "baseline_mase": v,
                       "shown": apart(m, v), **_plan_method(row, (methods or {}).get(f"{s}|{t}"))}
                      for s, t, m, b, v, row in cases[:3]]}


def _plan_method(row: pd.Series, method: str | None) -> dict[str, Any]:
    """The method the forecast uses for a series and target, with its own backtest MASE on the same rows, where
    it is not what ``chosen`` graded: with fewer earlier folds than the rule needs, ``chosen`` is the ensemble's
    score while the forecast, chosen on every fold, may use another method."""
    if not method or method in ("ensemble", "chosen") or not np.isfinite(row.get(method, np.nan)):
        return {}
    return {"plan_method": method, "plan_mase": float(row[method])}


def _unexplained(frame: pd.DataFrame, drivers: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of ``frame`` whose series and target the driver breakdown does not explain (the breakdown and SHAP
    explain the tuned model's forecasts only)."""
    def keys(rows: pd.DataFrame) -> pd.Series:
        return rows["series"].astype(str) + "|" + rows["target"].astype(str)

    explained = set(keys(drivers)) if drivers is not None and len(drivers) else set()
    return frame[~keys(frame).isin(explained).to_numpy()]


def _stated_risk(forecast: pd.DataFrame | None, events: pd.DataFrame | None, median: str, rates: _HorizonRates,
                 total_cost: float) -> dict | None:
    """The stated event effects planned in the horizon (taken as given) and the share of the quarter's cost each adds.

    What an event adds is its marginal amount on every series and target, read off the forecast and the calendar
    (``stated_events.added_by_events``): X·(e−1)/e, X the forecast in the event's buckets and e its stated
    multiplier, i.e. what the forecast would lose without it. The driver breakdown's volume of a stated event is
    its log-mean (Divisia) share of the forecast less the level, which grows with the other drivers' move: the
    table's reading, not what the event adds (a x1.50 promo over 44,534 requests adds 14.84K; its Divisia volume
    read 21.46K)."""
    if forecast is None or events is None or not total_cost:
        return None
    added = added_by_events(forecast, events, median)
    stated = added[(added["kind"] == "stated") & (added["volume"].abs() > 0)]
    if stated.empty:
        return None
    stated = stated.assign(usd=stated["volume"] * rates(stated["series"], stated["target"]))
    found = []
    for driver, rows in stated.groupby("driver"):
        requests = rows[rows["target"] == "requests"]
        found.append({"driver": driver, "added_usd": float(rows["usd"].sum()),
                      "share": float(rows["usd"].sum() / total_cost),
                      "series": sorted(rows.loc[rows["usd"].abs() > 0, "series"].unique()),
                      "added_requests": float(requests["volume"].sum()) if len(requests) else np.nan})
    found.sort(key=lambda e: -abs(e["share"]))
    return {"kind": "stated_effect", "score": float(sum(abs(e["share"]) for e in found)), "events": found}


def _growth_risk(drivers: pd.DataFrame | None, rates: _HorizonRates, total_cost: float,
                 horizon: pd.DataFrame, median: str, trend_steps: int | None = None,
                 flat_anchor: bool = False) -> dict | None:
    """What the anchor's extrapolated growth adds to the quarter's cost (an assumption, not an observation).

    ``trend_steps``: the steps of the horizon the anchor carries its growth through before holding it (the
    backtest window where that is shorter than the horizon, ``FeatureSpec.trend_steps``; None: the whole
    horizon), so the report says how far the growth goes, not "through the horizon" where it stops after 34 days.

    The breakdown measures growth only on the series and targets the tuned model forecasts; the others'
    P50 cost over the horizon (``horizon``: the totals' horizon rows) is ``unmeasured_usd``, and only
    without any does ``without_usd`` say what the horizon would cost if growth stalled. Two years of
    growth to 10 times (a steady 2.2% a week), the model chosen for input tokens and the ensemble for
    output tokens: "adds $1,050 (9.0%); if growth stalls, the horizon's cost comes in near $10,606", while
    the ensemble's output tokens, priced five times as high, grew at the same rate.

    ``flat_anchor``: the tuned anchor is flat (``level``) and extrapolates no growth, so what growth the forecast
    carries is the trees' level and growth correction (``learned``: its volume is read instead; it holds the
    correction of the level too). A Console export of five months read +7.0% to +23.0% there, October to December.
    """
    if drivers is None or drivers.empty or not total_cost:
        return None
    growth = drivers[drivers["driver"] == CORRECTION] if flat_anchor else drivers[drivers["kind"] == "growth"]
    added = float((growth["volume"] * rates(growth["series"], growth["target"])).sum())
    if not added:
        return None
    others = _unexplained(horizon, drivers)
    unmeasured = float((others[median] * rates(others["series"], others["target"])).sum())
    return {"kind": "growth", "score": abs(added) / total_cost, "added_usd": added, "share": added / total_cost,
            "without_usd": total_cost - added if not unmeasured else np.nan,
            "unmeasured_usd": unmeasured, "unmeasured_share": unmeasured / total_cost,
            "carried_steps": int(trend_steps) if trend_steps and not flat_anchor else None, "learned": flat_anchor}


def _trend_risk(history: pd.DataFrame, forecast: pd.DataFrame | None, rates: _HorizonRates,
                total_cost: float, median: str) -> dict | None:
    """The series whose history's weekly trend the forecast does not carry (``carried_trends``), and what
    the gap faded in as a damped trend adds to the horizon's P50 cost (its share of the cost, the score;
    where nothing is priced, the largest relative change of a total)."""
    trends = carried_trends(history, forecast, median)
    missed = trends[~trends["carried"].astype(bool)].copy()
    if missed.empty:
        return None
    missed["added"] = missed["damped_total"] - missed["plan_total"]
    missed["usd"] = missed["added"] * rates(missed["series"], missed["target"])
    usd = float(missed["usd"].sum())
    relative = float((missed["added"].abs() / missed["plan_total"].where(missed["plan_total"] > 0)).max())
    score = abs(usd) / total_cost if total_cost and usd else (relative if np.isfinite(relative) else 0.0)
    # One case per series: its requests where they are among the missed, else its costliest target.
    missed["order"] = (missed["target"] != "requests").astype(int)
    by_series = missed.groupby("series", observed=True)["usd"].sum().abs().sort_values(ascending=False)
    cases = []
    for series in by_series.index[:3]:
        row = missed[missed["series"] == series].sort_values(["order", "usd"], ascending=[True, False]).iloc[0]
        cases.append({"series": str(series), "target": row["target"], "weeks": int(row["weeks"]),
                      "history_weekly": float(np.expm1(row["history_weekly"])),
                      "forecast_weekly": float(np.expm1(row["forecast_weekly"])),
                      "first_week": float(row["first_week"]), "last_week": float(row["last_week"]),
                      "added": float(row["added"]), "plan_total": float(row["plan_total"]),
                      "usd": float(by_series[series]), "start_change": float(row["start_change"])})
    # Every series the plan leaves a trend out of (a budget's team line names its own, ``_team_trends``).
    every = [{"series": str(r.series), "history_weekly": float(np.expm1(r.history_weekly)),
              "forecast_weekly": float(np.expm1(r.forecast_weekly))}
             for r in missed.sort_values(["order", "usd"], ascending=[True, False]).drop_duplicates("series")
             .itertuples()]
    return {"kind": "trend_not_carried", "score": score, "added_usd": usd,
            "share": usd / total_cost if total_cost else np.nan, "cases": cases, "more": max(0, len(by_series) - 3),
            "damping": DAMPING, "every": every}


def team_trends(teams: list[dict[str, Any]], trends: list[dict[str, Any]],
                series: pd.DataFrame | None) -> list[dict[str, Any]]:
    """``teams`` (rows of ``teams_at_risk``) each with ``trend_not_carried``: its series among ``trends``
    (``PlanSummary.trends_not_carried``), by ``series`` (``organisation_series``: series, team). A team whose app
    grew 10.9% a week, planned at 0.8%, read "52% likely over" with no word that the plan leaves its growth out."""
    team_of = {} if series is None or series.empty else dict(
        zip(series["series"].astype(str), series["team"].astype(str), strict=True))
    return [{**t, "trend_not_carried": [c for c in trends if team_of.get(c["series"]) == str(t["team"])]}
            for t in teams]


def _history_risk(history: pd.DataFrame, horizon_start: pd.Timestamp, horizon_end: pd.Timestamp) -> dict | None:
    observed = history.loc[np.isfinite(history["y"]), "ds"]
    first, last = pd.Timestamp(observed.min()), pd.Timestamp(observed.max())
    days = observed_days(history)
    if days >= _FULL_HISTORY_DAYS:
        return None
    months = pd.period_range(horizon_start, horizon_end, freq="M")
    seen = pd.DatetimeIndex(history["ds"].unique()).to_period("M").value_counts()
    # A month counts as seen once it has at least 28 days (or 28 * 24 hours) of buckets.
    per_day = max(1, round(pd.Timedelta(days=1) / pd.Series(sorted(history["ds"].unique())).diff().median()))
    full_years = {m: sum(seen.get(pd.Period(year=m.year - k, month=m.month, freq="M"), 0) >= 28 * per_day
                         for k in range(1, 4)) for m in months}
    return {"kind": "short_history", "score": 1 - days / _FULL_HISTORY_DAYS, "days": days, "first": first,
            "last": last, "months_seen": {str(m): n for m, n in full_years.items()},
            "fewest_seen": min(full_years.values()) if full_years else 0}


def _coverage_risk(backtest: pd.DataFrame, nominal: float) -> dict | None:
    pooled = backtest[(backtest["series"] == "all") & (backtest["method"] == "chosen")]
    if pooled.empty or not np.isfinite(pooled["coverage"]).any():
        return None
    worst = pooled.loc[(pooled["coverage"] - nominal).abs().idxmax()]
    gap = float(worst["coverage"] - nominal)
    if abs(gap) < 0.05:
        return None
    return {"kind": "coverage", "score": abs(gap), "target": worst["target"], "coverage": float(worst["coverage"]),
            "nominal": nominal}


def _guard_risk(drops: pd.DataFrame | None, cost_share: pd.Series) -> dict[str, Any] | None:
    """Candidates the plausibility guard dropped at the forecast origin: the series whose plan a
    method would have made implausible. Scored by those series' share of the cost, at least 0.2:
    a method leaving the history's envelope is a warning about the series, whatever it costs."""
    if drops is None or drops.empty or "role" not in drops:
        return None
    final = drops[drops["role"] == "final"]
    if final.empty:
        return None
    worst = final.sort_values("ratio", ascending=False)
    series = sorted(final["series"].astype(str).unique())
    share = float(sum(cost_share.get(s, 0.0) for s in series))
    cases = [{"series": r.series, "target": r.target, "method": r.method, "side": r.side, "ratio": float(r.ratio)}
             for r in worst.drop_duplicates(["series", "method"]).head(3).itertuples()]
    return {"kind": "guard", "score": max(share, 0.2), "dropped": len(final), "series": series, "cases": cases}


def _with_cost(ramps: list[dict[str, Any]], horizon_cost: pd.DataFrame, median: str) -> list[dict[str, Any]]:
    """Each young ramp with ``usd``: what its series' horizon P50 cost would gain at the level of its last days."""
    cost = horizon_cost.groupby(horizon_cost["series"].astype(str))[median].sum()
    return [{**r, "usd": float(cost.get(r["series"], np.nan)) * r["gap"]} for r in ramps]


def _drifting(history: pd.DataFrame, forecast: pd.DataFrame | None, median: str) -> list[dict[str, Any]]:
    """Token targets whose forecast tokens per request still drift from the history's, the largest first."""
    if forecast is None or forecast.empty:
        return []
    drifts = ratio_drifts(history, forecast, median)
    return drifts[drifts["drifts"].astype(bool)].to_dict("records")


def _when(value: Any) -> str | None:
    """A crossing as the capacity plan states it (``YYYY-MM`` or a date), None when there is none."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp | np.datetime64) or hasattr(value, "isoformat"):
        return f"{pd.Timestamp(value):%Y-%m-%d}"
    return str(value)


def _first_limit(capacity_plan: pd.DataFrame | None) -> dict[str, Any] | None:

    """The first limit crossed (at P90, else P50) and when; else the tightest one over the horizon."""
    if capacity_plan is None or capacity_plan.empty:
        return None
    plan = capacity_plan
    row = first_limit_row(plan)  # the capacity section names the same limit in the same words
    if row is not None:
        return {"crossed": True, "no_limits": False, **{c: row[c] for c in CAPACITY_COLUMNS},
                "first_crossing_p50": _when(row["first_crossing_p50"]),
                "first_crossing_p90": _when(row["first_crossing_p90"]), "statement": first_limit_sentence(row)
                + (f". {spike}" if (spike := spike_note(row)) else "")}
    limited = plan[pd.to_numeric(plan["limit"], errors="coerce").notna()]
    if limited.empty:  # no limits given for these series: peaks planned, nothing to bind
        return {"crossed": False, "no_limits": True, **{c: None for c in CAPACITY_COLUMNS}}
    horizon = limited[limited["period"] == "horizon"]
    row = (horizon if len(horizon) else limited).sort_values("headroom_p90").iloc[0]
    past = history_note(row)
    return {"crossed": False, "no_limits": False, **{c: row[c] for c in CAPACITY_COLUMNS},
            "assumed_note": assumed_note(row), "history_note": f"; it is {past}" if past else ""}


_RISK_FREE_KINDS = ("batch", "caching")  # same provider, same terms: no migration risk to price


def _pays_back(row: pd.Series) -> bool:
    """Whether a route pays back within the ROI horizon at P50: a payback month and a positive NPV."""
    return bool(pd.notna(row["payback_month_p50"]) and row["npv_12m_p50"] > 0)


def _roi_row(row: pd.Series) -> dict[str, Any]:
    """A ``roi_summary`` row's headline numbers, and ``scaled``: its monthly saving is a month at the
    forecast's rate, scaled from fewer forecast days (``forecast_days`` of ``forecast_month_days``)."""
    basis = {c: None if pd.isna(v := row.get(c)) else v for c in ROI_BASIS_COLUMNS}
    if basis["growth_enough_history"] is not None:
        basis["growth_enough_history"] = bool(basis["growth_enough_history"])
    days, month_days = basis["forecast_days"], basis["forecast_month_days"]
    scaled = days is not None and month_days is not None and bool(days < month_days - 1e-9)
    demo = row.get("demo_assumptions")
    return {**{c: row[c] for c in ROI_COLUMNS}, **basis, "scaled": scaled,
            "demo_assumptions": demo if isinstance(demo, str) else ""}


def _best_route(roi_summary: pd.DataFrame | None) -> dict[str, Any] | None:
    """The route with the highest 12-month NPV at P50, and whether it pays back within the ROI horizon.

    Where that route pays back but carries risks the numbers do not price (a relay or a
    reseller, by its ``kind``), the risk-free routes (batch, caching) come with it, so the
    summary never shows a risky saving without the safe one beside it: the best of them
    that pays back (``risk_free``), or, when none does, how many there are and the
    closest (``risk_free_closest``). A route that never pays back is never called best, and one
    that carries none of the usage (``applies`` false, ``roi.moves_usage``) is not ranked at all.
    """
    if roi_summary is None or roi_summary.empty:
        return None
    if "applies" in roi_summary.columns:  # a route that carries none of the usage is no candidate
        applies = roi_summary["applies"].astype(bool)
        if not applies.any():
            return {"none_applies": True, "routes": len(roi_summary), "route_names": list(roi_summary["route"])}
        roi_summary = roi_summary[applies]
    ranked = roi_summary.sort_values("npv_12m_p50", ascending=False)
    row = ranked.iloc[0]
    months = int(row["months"]) if "months" in ranked.columns else 12
    out = {**_roi_row(row), "pays_back": _pays_back(row), "months": months, "none_applies": False,
           "routes": len(roi_summary), "risky": False, "risk_free": None, "risk_free_closest": None,
           "risk_free_routes": 0, "kind": row["kind"] if "kind" in ranked.columns else None}
    if "kind" in ranked.columns and row["kind"] not in _RISK_FREE_KINDS:
        safe = ranked[ranked["kind"].isin(_RISK_FREE_KINDS)]
        paying = safe[[_pays_back(r) for _, r in safe.iterrows()]]
        out["risky"], out["risk_free_routes"] = True, len(safe)
        if len(paying):
            out["risk_free"] = _roi_row(paying.iloc[0])
        elif len(safe):
            out["risk_free_closest"] = _roi_row(safe.iloc[0])
    return out


def _since_last_run(previous: list[dict[str, Any]] | None, history: pd.DataFrame, horizon: pd.DataFrame,
                    horizon_cost: pd.DataFrame, quantile_names: list[str],
                    data_source: dict[str, Any] | None) -> dict[str, Any] | None:
    """What changed since the newest earlier report of the same usage, and how its forecast did
    (``tokenplan.reporting.since_last_report``); None on a first run."""
    return since_last_report(previous, history, horizon, horizon_cost, quantile_names, data_source)


def plan_summary(history: pd.DataFrame, totals: pd.DataFrame, costs: pd.DataFrame, backtest: pd.DataFrame,
                 prices: dict[str, UnitPrices], quantile_names: list[str], simulated: bool,
                 drivers: pd.DataFrame | None = None, capacity_plan: pd.DataFrame | None = None,
                 roi_summary: pd.DataFrame | None = None, previous: list[dict[str, Any]] | None = None,
                 guard_drops: pd.DataFrame | None = None, data_source: dict[str, Any] | None = None,
                 methods: dict[str, str] | None = None, today: pd.Timestamp | None = None,
                 outages: pd.DataFrame | None = None, forecast: pd.DataFrame | None = None,
                 events: pd.DataFrame | None = None, baseline_margin: float = 0.0,
                 trend_steps: int | None = None, migrations: pd.DataFrame | None = None,
                 history_rates: pd.DataFrame | None = None,
                 price_changes: pd.DataFrame | None = None, trend_anchor: str | None = None) -> PlanSummary:
    """The summary's numbers: quarter totals, change against the last full quarter, the first
    limit to bind, the best route, the largest risks (see the module docstring) and, given
    the earlier reports (``previous``, newest first: ``PreviousReportDataset``), what changed since the newest
    made from the same usage as this run (``data_source``, ``data_source_identity``) and how its forecast did.
    ``methods``
    (``series|target`` -> the forecast's method) keeps a baseline that the forecast already uses out of
    the risks. ``today``: the run's UTC date, to say when a user's history ends well before it.
    ``outages``: the suspected outages the forecast left out, left out of the last quarter's rate too.
    ``forecast``: the buckets' forecast, for tokens per request (``tokenplan.forecasting.token_ratios``).
    ``baseline_margin``: the selection rule's margin, within which a baseline ahead of the chosen method is a tie
    and no risk. ``trend_steps``: how many steps of the horizon the trend anchor carries its growth (None: all of
    them; ``FeatureSpec.trend_steps``), for the growth risk. ``migrations``: traffic forecast as one series and
    split between its models (``tokenplan.forecasting.migrations``); the history's last days and trend are read
    against the traffic's forecast, not a model's share of it. ``history_rates``: each day of history's own
    rates (``tokenplan.planning.recorded_prices``), which price the last quarter's actual; ``price_changes``:
    the list price changes inside the horizon (``tokenplan.planning.dated_prices``), stated beside the cost.
    ``trend_anchor``: the tuned trend anchor (``model_selection["trend"]``); a flat one (``level``) leaves the growth
    to the trees' correction, which the growth risk reads instead."""
    horizon = totals[totals["period"] == "horizon"]
    traffic = combine_migrations(history, migrations)
    joined = join_migrations(forecast, migrations, quantile_names) if forecast is not None else None

    by_target = horizon.groupby("target", observed=True)[quantile_names].sum()
    by_target = by_target.reindex([t for t in TARGET_ORDER if t in by_target.index]
                                  + [t for t in by_target.index if t not in TARGET_ORDER])
    buckets = int(horizon["buckets"].max())
    last, history_by_target, history_cost_rate = _last_quarter(history, prices, outages, history_rates)
    median = quantile_names[len(quantile_names) // 2]
    history_by_target = history_by_target.set_index("target") if len(history_by_target) else history_by_target
    table = by_target.reset_index()
    table["last_quarter"] = table["target"].map(history_by_target["total"]) if last else np.nan
    rate = table["target"].map(history_by_target["per_bucket"]) if last else np.nan
    table["change"] = table[median] / buckets / rate - 1 if last else np.nan

    horizon_cost = costs[costs["period"] == "horizon"]
    cost = {q: float(horizon_cost[q].sum()) for q in quantile_names}
    cost["last_quarter"] = last["cost_usd"] if last else np.nan
    cost["change"] = cost[median] / buckets / history_cost_rate - 1 if last and history_cost_rate else np.nan

    share = horizon_cost.groupby("series")[median].sum() / cost[median] if cost[median] else pd.Series(dtype=float)
    nominal = (int(quantile_names[-1][1:]) - int(quantile_names[0][1:])) / 100
    rates = _HorizonRates.of(prices, horizon_cost, horizon, median)
    candidates = [_baseline_risk(backtest, share, methods, set(horizon["series"].astype(str)), baseline_margin),
                  _stated_risk(joined, events, median, rates, cost[median]),
                  _growth_risk(drivers, rates, cost[median], horizon, median, trend_steps, trend_anchor == "level"),
                  _history_risk(traffic, horizon["start"].min(), horizon["end"].max()),
                  _coverage_risk(backtest, nominal), _guard_risk(guard_drops, share),
                  (trend := _trend_risk(traffic, joined, rates, cost[median], median))]
    ranked = sorted((r for r in candidates if r and r["score"] > 0), key=lambda r: -r["score"])
    risks, more_risks = ranked[:_RISKS_SHOWN], ranked[_RISKS_SHOWN:]
    attrs = forecast.attrs if forecast is not None else {}  # what the forecast pooled and left out
    return PlanSummary(simulated=simulated, horizon_start=pd.Timestamp(horizon["start"].min()),
                       horizon_end=pd.Timestamp(horizon["end"].max()), horizon_buckets=buckets,
                       quantiles=quantile_names, totals=table, cost=cost, last_quarter=last,
                       trends_not_carried=trend["every"] if trend else [],
                       first_limit=_first_limit(capacity_plan), best_route=_best_route(roi_summary), risks=risks,
                       more_risks=more_risks,
                       since_last_run=_since_last_run(previous, history, horizon, horizon_cost, quantile_names,
                                                      data_source),
                       not_forecast=_with_last_quarter_cost(_not_forecast(traffic, horizon, attrs.get("ended")),
                                                            last),
                       stale=_stale_history(history, today, simulated),
                       idle=(idle := _idle(history, horizon_cost, median)),
                       masked_tail=(tail := masked_tail(outages, traffic)),
                       departures=(departures := recent_departures(
                           traffic, joined, quantile_names, {i["series"] for i in idle} | {t["series"] for t in tail},
                           events)),
                       followed=followed_moves(traffic, joined, quantile_names,
                                               {i["series"] for i in idle} | {d["series"] for d in departures}, events),
                       ramps=_with_cost(young_ramps(traffic, joined, quantile_names,
                                                    {d["series"] for d in departures}), horizon_cost, median),
                       pooled_ratios=list(attrs.get("token_ratios") or []),
                       drifting_ratios=_drifting(traffic, joined, median),
                       successors=[p for p in likely_successors(history) if p["successor"] in share.index
                                   and p["predecessor"] not in traffic_ids(migrations)][:3],
                       migrations=describe(migrations), price_changes=changes_by_day(price_changes))


def changes_by_day(price_changes: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The list price changes (``price_changes``' rows), one entry per model and day with each token type's
    rate before and from it (USD per million tokens) and the prices' source, in date order."""
    if price_changes is None or price_changes.empty:
        return []
    rows = price_changes.sort_values(["date", "model"], kind="stable")
    return [{"model": model, "date": pd.Timestamp(day).date(), "source": group["source"].iloc[0],
             "rates": [{"token_type": r.token_type, "before": float(r.usd_per_mtok_before),
                        "from": float(r.usd_per_mtok_from)} for r in group.itertuples()]}
            for (day, model), group in rows.groupby(["date", "model"], sort=False)]
