"""Series that look like another's successor: a model of the same family that began as the other stopped.

A migration (``claude-sonnet-4`` to ``claude-sonnet-4-5``) leaves two series: one that
stops and one that starts, each with part of the history. The new one is forecast from
its own few weeks, so its intervals are wide (a successor with two months of history
read $79,872–$190,729 on a P50 of $117,471 for the quarter), while the two together
hold the whole history of that traffic. ``ingestion.model_aliases`` merges them into
one series; nothing merges them unasked, since a new model of the same family may be
new traffic rather than the old moved (the report names the pair and the setting).

A pair is a *successor* and a *predecessor* where:

- their models differ and the rest of their series ids (a team, a key: ``model/team``)
  agree, since ``model_aliases`` maps model ids (a key rotated within one model is not
  a model's successor);
- both models have the same family: the parts of their ids without digits agree
  (``claude-sonnet-4`` and ``claude-sonnet-4-5``: ``claude sonnet``; ``gpt-4o-mini`` and
  ``gpt-5-mini``: ``gpt mini``);
- the successor's first day with usage is at least ``MIN_BEFORE_DAYS`` after the history
  starts and at most ``RECENT_DAYS`` before it ends (a short history of its own);
- the predecessor's last day with usage is at least ``STOPPED_DAYS`` before the history
  ends (it stopped) and no more than ``GAP_DAYS`` before the successor's first day, or
  after it (an overlap while traffic moves);
- their volumes match: the predecessor's mean over its last ``LEVEL_DAYS`` days with
  usage within a factor ``LEVEL_RATIO`` of the successor's over its last ones.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["family", "level_target", "likely_successors", "split_series_id"]

MIN_BEFORE_DAYS = 28
RECENT_DAYS = 120
STOPPED_DAYS = 7
GAP_DAYS = 14
LEVEL_DAYS = 28
LEVEL_RATIO = 2.0


def family(model: str) -> str:
    """The parts of a model id without digits, in order (``claude-sonnet-4-5-20250929``: ``claude sonnet``)."""
    return " ".join(part for part in re.split(r"[-_.@:/ ]+", str(model).lower()) if part and not re.search(r"\d", part))


def level_target(history: pd.DataFrame) -> str:
    """The target volumes are compared on: requests, else the first target."""
    targets = sorted(history["target"].astype(str).unique())
    return "requests" if "requests" in targets else targets[0]


def _daily(history: pd.DataFrame, target: str) -> pd.DataFrame:
    """Per series and day, the ``target`` recorded: ``series, day, y``."""
    rows = history[(history["target"].astype(str) == target) & history["y"].notna()]
    day = pd.to_datetime(rows["ds"]).dt.normalize()
    return rows.groupby([rows["series"].astype(str), day.rename("day")])["y"].sum().rename("y").reset_index()


def _active(days: pd.DataFrame) -> pd.DataFrame:
    """Per series: its first and last day with usage and its mean over its last ``LEVEL_DAYS`` days with usage."""
    used = days[days["y"] > 0].sort_values("day")
    return used.groupby("series").agg(first=("day", "min"), last=("day", "max"),
                                      level=("y", lambda y: float(y.tail(LEVEL_DAYS).mean())))


def split_series_id(series: str) -> tuple[str, str]:
    """A series id's model and the rest (its dimensions, ``""`` for none)."""
    model, _, rest = str(series).partition("/")
    return model, rest


def likely_successors(history: pd.DataFrame) -> list[dict]:
    """Each likely ``successor`` with its ``predecessor``, the day it ``started``, the day the predecessor
    ``stopped``, both ``levels`` (a day, of ``target``: requests, else the first target) and the successor's
    ``days`` of history, and ``models``: the two model ids, predecessor first (the ``model_aliases`` entry);
    ``history``: ``target_series`` (``series, target, ds, y``). Newest successor first."""
    if history is None or history.empty:
        return []
    target = level_target(history)
    days = _daily(history, target)
    start, end = days["day"].min(), days["day"].max()
    active = _active(days)
    pairs = []
    for new, row in active.iterrows():
        if not (row["first"] - start).days >= MIN_BEFORE_DAYS or (end - row["first"]).days > RECENT_DAYS:
            continue
        for old, before in active.drop(index=new).iterrows():
            stopped = (end - before["last"]).days >= STOPPED_DAYS
            near = (row["first"] - before["last"]).days <= GAP_DAYS and before["first"] < row["first"]
            alike = min(before["level"], row["level"]) * LEVEL_RATIO >= max(before["level"], row["level"]) > 0
            (old_model, old_rest), (new_model, new_rest) = split_series_id(old), split_series_id(new)
            related = old_model != new_model and old_rest == new_rest and family(old_model) == family(new_model) != ""
            if related and stopped and near and alike:
                pairs.append({"successor": new, "predecessor": old, "started": row["first"],
                              "stopped": before["last"], "levels": (before["level"], row["level"]), "target": target,
                              "models": (old_model, new_model),
                              "days": (end - row["first"]).days + 1})
    return sorted(pairs, key=lambda p: p["started"], reverse=True)
