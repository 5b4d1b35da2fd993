"""Which series the report draws and tabulates when there are many: the largest few, by volume.

A run over hundreds of series (workspaces, API keys) would otherwise draw a forecast
figure per series and print tables of thousands of rows. The report shows the
``limit`` largest series by their forecast P50 over the horizon of the headline quantity
(requests where forecast, else the first token type), says which ones and by what,
and leaves every series to the CSV tables beside it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["HEADLINE_ORDER", "largest_series", "only_shown"]

HEADLINE_ORDER = ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def largest_series(totals: pd.DataFrame, median: str, limit: int | None) -> dict[str, Any]:
    """``{"series": [largest first], "of": all series, "by": target, "limited": bool}`` from
    ``forecast_totals``' horizon rows; ``limit`` None or 0 shows every series."""
    horizon = totals[totals["period"] == "horizon"]
    targets = [str(t) for t in horizon["target"].unique()]
    by = next((t for t in HEADLINE_ORDER if t in targets), sorted(targets)[0] if targets else "")
    volume = horizon[horizon["target"] == by].groupby(horizon["series"].astype(str))[median].sum()
    every = sorted(horizon["series"].astype(str).unique())
    # Largest first; series of equal volume (or none) by name, so the choice is reproducible.
    ranked = sorted(every, key=lambda s: (-float(volume.get(s, 0.0)), s))
    shown = ranked if not limit or limit >= len(ranked) else ranked[:limit]
    return {"series": shown, "of": len(every), "by": by, "limited": len(shown) < len(every)}


def only_shown(frame: pd.DataFrame | None, shown: dict[str, Any] | None, column: str = "series") -> pd.DataFrame | None:
    """The rows of ``frame`` whose ``column`` is a shown series (all rows when nothing is left out)."""
    if frame is None or not shown or not shown.get("limited") or column not in frame.columns:
        return frame
    return frame[frame[column].astype(str).isin(shown["series"])]
