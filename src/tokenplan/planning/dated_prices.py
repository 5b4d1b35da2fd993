"""The list price changes inside a span of days (an introductory rate ending, a price cut), per model.

genai-prices dates its prices (``StartDateConstraint``), and the price table dates its rows:
a model's price can change inside the forecast horizon (``gemini-3.6-flash`` doubles on
2027-01-01 when its introductory rates end). Every cost pays the price in force on its day
(``tokenplan.planning.routes.route_rates``), and the report states each change beside the
cost: which model, the day, the rate before and from it.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tokenplan.planning.prices import PRICED_TARGETS
from tokenplan.planning.routes import Pricer

__all__ = ["PRICE_CHANGE_COLUMNS", "price_changes"]

PRICE_CHANGE_COLUMNS = ("model", "date", "token_type", "usd_per_mtok_before", "usd_per_mtok_from", "source")


def price_changes(pricer: Pricer, models: list[str], first: dt.date, last: dt.date) -> pd.DataFrame:
    """One row per model, day after ``first`` up to ``last`` and token type whose standard rate changes that
    day (``PRICE_CHANGE_COLUMNS``; USD per million tokens, as the model's costs blend them)."""
    rows = []
    for model in models:
        before = pricer.standard(model, first)
        for day in pricer.change_days(model, first, last):
            now = pricer.standard(model, day)
            rows += [{"model": model, "date": day, "token_type": t,
                      "usd_per_mtok_before": before.usd_per_mtok[t] if before else float("nan"),
                      "usd_per_mtok_from": now.usd_per_mtok[t] if now else float("nan"),
                      "source": (now or before).source}
                     for t in PRICED_TARGETS if (before and before.usd_per_mtok[t]) != (now and now.usd_per_mtok[t])]
            before = now
    return pd.DataFrame(rows, columns=list(PRICE_CHANGE_COLUMNS))
