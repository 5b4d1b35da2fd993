"""An event's effect restated on a finished run's forecast, for the capacity and routes notebook's what-if.

Every forecast method multiplies a stated effect in at the target time, so scaling the affected
buckets' quantiles by new over old effect is the forecast the pipeline would make with the new effect.
Without a planned event to restate, the notebook adds a campaign on the largest model over the
horizon's last ``CAMPAIGN_DAYS`` days, or the whole horizon when it is shorter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CAMPAIGN_DAYS", "added_campaign", "restate_event"]

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
