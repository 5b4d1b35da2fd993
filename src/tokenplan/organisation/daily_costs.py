"""USD per series and day: token counts (forecast quantiles, backtest folds or history) times each model's rates.

Quantiles add over token types (comonotone), as in ``tokenplan.planning.costs``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tokenplan.planning.prices import PRICED_TARGETS, UnitPrices, usd_per_token
from tokenplan.planning.recorded_prices import history_rate_lookup

__all__ = ["daily_costs"]


def daily_costs(frame: pd.DataFrame, prices: Mapping[str, UnitPrices | None] | pd.DataFrame, value_columns: list[str],
                keys: list[str], model_of: Mapping[str, str]) -> pd.DataFrame:
    """``keys`` (series, ``ds``, ...) and one USD column per ``value_columns`` (NaN counts as 0), per day.

    ``prices``: one price per model, or ``history_rates`` (a day of history at its own rates,
    ``tokenplan.planning.recorded_prices``). ``model_of`` maps a series to its model; series of an unpriced
    model are left out.
    """
    priced = frame[frame["target"].isin(PRICED_TARGETS)]
    rate = (history_rate_lookup(priced, prices) if isinstance(prices, pd.DataFrame)
            else usd_per_token(prices, priced["series"].map(model_of), priced["target"]))
    usd = priced[keys].copy()
    for column in value_columns:
        usd[column] = priced[column].fillna(0.0).to_numpy() * rate
    usd = usd[pd.notna(rate)]
    if "ds" in keys:  # hourly buckets add up to their (UTC) day
        usd["ds"] = pd.to_datetime(usd["ds"]).dt.floor("D")
    return usd.groupby(keys, as_index=False, sort=True)[value_columns].sum()
