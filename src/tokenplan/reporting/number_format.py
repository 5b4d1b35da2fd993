"""Numbers as a reader says them: 1.25M tokens, $12,400, +4.2%; shared by the report and its figures."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["SCALES", "apart", "chance", "day_count", "human", "percent", "times", "usd"]

SCALES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def _missing(value) -> bool:
    try:
        return value is None or not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def human(value, digits: int = 2) -> str:
    """``value`` with a K/M/B/T suffix from 10,000 up (``9,450``, ``12.50K``, ``1.25M``); an
    en dash when missing."""
    if _missing(value):
        return "–"
    value = float(value)
    for limit, suffix in SCALES:
        if abs(value) >= max(limit, 1e4):
            return f"{value / limit:,.{digits}f}{suffix}"
    return f"{value:,.0f}"


def usd(value, digits: int = 0) -> str:
    """US dollars, K/M suffix from a million up (``$12,400``, ``$1.3M``); an en dash when missing."""
    if _missing(value):
        return "–"
    value = float(value)
    sign = "-" if value < 0 else ""
    if abs(value) >= 1e6:
        return f"{sign}${human(abs(value), 2)}"
    return f"{sign}${abs(value):,.{digits}f}"


def percent(value, digits: int = 0, signed: bool = False) -> str:
    """A fraction as a percentage (0.042 -> ``4%``; ``+4%`` when ``signed``); an en dash when missing."""
    if _missing(value):
        return "–"
    shown = round(float(value) * 100, digits) + 0.0  # + 0.0: a change that rounds to zero is not "-0.0%"
    return f"{shown:{'+' if signed else ''}.{digits}f}%"


def chance(value) -> str:
    """A probability as a percentage that never claims certainty a model cannot give: ``>99%`` from 0.995 up,
    ``<1%`` below 0.005 (a lognormal's chance of exceeding a budget is never 0 or 1; "100%" in the at-risk
    table sat beside the summary's "over 99% likely over" for the same team)."""
    if _missing(value):
        return "–"
    if float(value) >= 0.995:
        return ">99%"
    return "<1%" if float(value) < 0.005 else percent(value)


def times(value) -> str:
    """A ratio as a multiple (``3.4x``, ``12.50Kx``); "infinitely" against a bound of 0."""
    if value is not None and math.isinf(float(value)):
        return "infinitely"
    return f"{float(value):.1f}x" if abs(float(value)) < 1e4 else f"{human(value)}x"


def apart(a: float, b: float, digits: int = 2, most: int = 6) -> tuple[str, str]:
    """``a`` and ``b`` with ``digits`` decimals, or as many more (up to ``most``) as it takes for them to read
    differently: a baseline said to beat a method must not read as a tie (``1.0987`` vs ``1.0962``)."""
    for shown in range(digits, most + 1):
        left, right = f"{a:.{shown}f}", f"{b:.{shown}f}"
        if left != right:
            return left, right
    return left, right


def day_count(value) -> str:
    """A count of days to one decimal, without a trailing zero (7.0 -> ``7``, 7.25 -> ``7.2``)."""
    return "–" if _missing(value) else f"{round(float(value), 1):g}"


def partial_month(period: str, first, last, days, month_days) -> str:
    """A month's heading with the days a table covers of it: ``2026-11 (11-27 – 11-30: 4 of 30 days)``."""
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    return f"{period} ({first:%m-%d} – {last:%m-%d}: {day_count(days)} of {int(month_days)} days)"
