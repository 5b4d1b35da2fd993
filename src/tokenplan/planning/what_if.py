"""An event's effect restated on a finished run's forecast, for the capacity and routes notebook's what-if.

Every forecast method multiplies a stated effect in at the target time, so scaling the affected
buckets' quantiles by new over old effect is the forecast the pipeline would make with the new effect.
Without a planned event to restate, the notebook adds a campaign on the largest model over the
horizon's last ``CAMPAIGN_DAYS`` days, or the whole horizon when it is shorter. ``capacity_notes`` says why
the capacity plan's columns may not move, so an unchanged number does not read as "no effect".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CAMPAIGN_DAYS", "added_campaign", "capacity_notes", "restate_event", "restated_totals"]

CAMPAIGN_DAYS = 14


def added_campaign(totals: pd.DataFrame, first_bucket: pd.Timestamp, last_bucket: pd.Timestamp,
                   days: int = CAMPAIGN_DAYS) -> pd.Series:
    """A campaign with no effect yet (``effect`` 1) on the model with the largest horizon P50 (requests where
    forecast), over the horizon's last ``days`` days: from the day ``days - 1`` days before the last bucket, or
    from the first bucket when the horizon is shorter (a 7-day horizon's campaign began a week before it)."""
    horizon = totals[totals["period"] == "horizon"]
    requests = horizon[horizon["target"] == "requests"]
    rows = requests if len(requests) else horizon
    by_model = rows.groupby(rows["series"].astype(str).str.split("/").str[0])["p50"].sum()
    start = max((last_bucket - pd.Timedelta(days=days - 1)).normalize(), first_bucket)
    return pd.Series({"name": "what-if campaign", "start": start, "end": last_bucket + pd.Timedelta(days=1),
                      "scope": by_model.idxmax(), "effect": 1.0})


def restate_event(forecast: pd.DataFrame, event: pd.Series, new_effect: float, freq: str,
             quantile_names: list[str]) -> pd.DataFrame:
    """``forecast`` with ``event``'s effect (``effect``, over ``[start, end)``, on ``scope``'s series or all when
    empty) replaced by ``new_effect``; a bucket of width ``freq`` the event covers in part moves by that part."""
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    start, end = forecast["timestamp"], forecast["timestamp"] + step
    share = ((np.minimum(end, event["end"]) - np.maximum(start, event["start"])) / step).clip(0, 1)
    in_scope = forecast["series"].astype(str).str.split("/").str[0].eq(event["scope"]) if event["scope"] else True
    factor = np.where(in_scope, (1 + (new_effect - 1) * share) / (1 + (event["effect"] - 1) * share), 1.0)
    return forecast.assign(**{name: forecast[name] * factor for name in quantile_names})


def restated_totals(totals: pd.DataFrame, new_totals: pd.DataFrame, costs: pd.DataFrame, new_costs: pd.DataFrame
                    ) -> pd.DataFrame:
    """The horizon's totals the restated event moves, before and after: ``series, target, p50, p50 restated, p90,
    p90 restated``, every target (a Console export forecasts no requests) and each series' cost (target
    ``cost (USD)``, ``costs``: ``cost_forecast``'s rows), the series moved only."""
    columns = ["series", "target", "p50", "p90"]

    def horizon(frame: pd.DataFrame, target: str | None = None) -> pd.DataFrame:
        rows = frame[frame["period"] == "horizon"]
        return (rows.assign(target=target) if target else rows)[columns].astype({"series": str, "target": str})

    before = pd.concat([horizon(totals), horizon(costs, "cost (USD)")], ignore_index=True)
    after = pd.concat([horizon(new_totals), horizon(new_costs, "cost (USD)")], ignore_index=True)
    both = before.merge(after, on=["series", "target"], suffixes=("", " restated"))
    moved = ~np.isclose(both["p50"], both["p50 restated"]) | ~np.isclose(both["p90"], both["p90 restated"])
    return both.loc[moved, ["series", "target", "p50", "p50 restated", "p90", "p90 restated"]].reset_index(drop=True)


def _naive_day(value: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return (stamp.tz_convert("UTC").tz_localize(None) if stamp.tz else stamp).normalize()


def capacity_notes(plan: pd.DataFrame, days: pd.DataFrame, plan_after: pd.DataFrame, days_after: pd.DataFrame,
                   event: pd.Series, quantile: str = "p90", rtol: float = 1e-6) -> list[str]:
    """Lines saying why a what-if leaves the capacity plan's numbers where they were: no rate limit (no crossing
    to move), and, per model group and metric, a horizon peak (``plan``'s horizon rows, ``quantile``) that stays
    while ``event``'s days' own peaks (``days``: the plan's per-day peak forecast) rise. The horizon's P90 peak is
    that of the busiest minute over every day, bursts drawn from history included: a +30% campaign on the last
    14 days left Sonnet's OTPM at 11,505,023, set by days and bursts outside them."""
    lines = []
    if plan["limit"].isna().all():
        lines.append("No rate limits were given: no limit can be crossed, so the first_crossing columns stay empty "
                     f"(NaT) before and after; the {quantile.upper()} columns carry the what-if.")
    key = ["model_group", "metric"]
    start, end = _naive_day(event["start"]), _naive_day(event["end"] - pd.Timedelta(seconds=1))
    inside = days[days["ds"].between(start, end)].merge(days_after, on=[*key, "ds"], suffixes=("", " after"))
    moved = inside.groupby(key)[[quantile, f"{quantile} after"]].max()
    moved = moved[~np.isclose(moved[quantile], moved[f"{quantile} after"], rtol=rtol)]
    horizon = plan.merge(plan_after, on=key, suffixes=("", " after")).set_index(key)
    for (group, metric), row in moved.iterrows():
        if (group, metric) not in horizon.index:
            continue
        peak = horizon.loc[(group, metric)]
        if np.isclose(peak[quantile], peak[f"{quantile} after"], rtol=rtol):
            lines.append(f"{group} {str(metric).upper()}: the event's days ({start:%Y-%m-%d} to {end:%Y-%m-%d}) "
                         f"peak higher ({quantile.upper()} up to {row[f'{quantile} after']:,.0f}, was "
                         f"{row[quantile]:,.0f}), but the horizon's {quantile.upper()} peak stays at "
                         f"{peak[quantile]:,.0f}: it is the {quantile.upper()} of the busiest minute over the whole "
                         "horizon, bursts drawn from history included, and the event's days do not set it.")
    return lines
