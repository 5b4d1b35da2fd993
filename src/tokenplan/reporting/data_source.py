"""Which data a report was made from, so a later run compares itself only with a report of the same data.

Each report folder holds ``data_source.json``: the kind of source (the built-in simulated
demo, or the user's usage data), the source as the catalog named it, the series the
history held, and a fingerprint of kind and series. A previous report is an earlier plan
of this run's usage when both record a source of the same kind (the simulated demo is
never a user's baseline, nor the reverse) and their series overlap (a model added or
retired since still leaves the shared ones comparable; the summary compares those and
names the rest); otherwise the summary says why it was not compared. A report that
records no source (made before reports recorded one) is never compared: it may be the
demo's. A different source (another file, another environment's dataset) does not stop
the comparison, since each quarter's export is a new file, but is stated beside it (unless
its plan ended before this run's history begins: ``since_last_report``). A
report from another file is not compared when the days both histories record disagree:
each report also records its history's last ``TAIL_DAYS`` days of every count per series
and day (``history_tail``), compared with this run's whole history on those days
(``since_last_report``), and on a count both record (requests first, so a Console export
without request counts is checked on its tokens), where the two runs share complete days,
the days' differences may add up to at most ``TAIL_TOLERANCE`` of this run's total over
them (an export revises its last days a little; two services that both call a model
``claude-sonnet-4-5`` differ by far more).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["DATA_SOURCE_FILE", "TAIL_DAYS", "TAIL_TOLERANCE", "data_source_identity", "data_source_json",
           "history_tail", "other_settings", "other_source", "series_difference", "why_not_comparable"]

DATA_SOURCE_FILE = "data_source.json"
SIMULATED, USER_DATA = "simulated demo", "usage data"
_SAID = {SIMULATED: "the simulated demo", USER_DATA: "your usage data"}
_NAMES_SHOWN = 3
TAIL_DAYS = 28
TAIL_TOLERANCE = 0.10  # the shared days may differ by this share of this run's total before "other data"


def data_source_identity(simulated: bool, source: str | None, series: Iterable[str],
                         tail: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"kind", "source", "series", "fingerprint"}`` of a run's input, and its ``history_tail`` when given
    (:func:`history_tail`); the fingerprint covers kind and series."""
    kind = SIMULATED if simulated else USER_DATA
    names = sorted({str(s) for s in series})
    digest = hashlib.sha256(json.dumps({"kind": kind, "series": names}).encode()).hexdigest()[:16]
    identity = {"kind": kind, "source": source or "unknown", "series": names, "fingerprint": digest}
    return identity | ({"history_tail": tail} if tail else {})


def history_tail(history: pd.DataFrame, days: int = TAIL_DAYS) -> dict[str, Any]:
    """``{"by_target": {target: {series: {YYYY-MM-DD: total}}}}``: the last ``days`` days of the history per
    target, series and day, from ``target_series`` (``series, target, ds, y``)."""
    if history is None or history.empty:
        return {}
    rows = history[history["y"].notna()]
    if rows.empty:
        return {}
    day = pd.to_datetime(rows["ds"]).dt.normalize()
    rows = rows.assign(day=day)[day > day.max() - pd.Timedelta(days=days)]
    sums = rows.groupby([rows["target"].astype(str), rows["series"].astype(str), "day"])["y"].sum()
    by_target = {t: {s: {f"{d:%Y-%m-%d}": float(v) for d, v in part.droplevel([0, 1]).items()}
                     for s, part in per_target.groupby(level=1)} for t, per_target in sums.groupby(level=0)}
    return {"by_target": by_target}


def _shared_tail(then: dict[str, Any], now: dict[str, Any]) -> tuple[str, dict, dict] | None:
    """The count both tails record (requests first), with each one's days; None when they share none. A report
    from a source without request counts (a Console export) is still checked on its tokens."""
    tails = [t.get("by_target") or {} for t in (then, now)]
    shared = sorted(tails[0].keys() & tails[1].keys())
    if not shared:
        return None
    target = "requests" if "requests" in shared else shared[0]
    return target, tails[0][target], tails[1][target]


def _tail_disagreement(previous: dict[str, Any], current: dict[str, Any]) -> str | None:
    """Why the histories both reports record disagree on the complete days they share; None when they agree (or
    share none: a new quarter's export need not overlap the last one)."""
    shared = _shared_tail(previous.get("history_tail") or {}, current.get("history_tail") or {})
    if shared is None:
        return None
    target, then_days, now_days = shared
    pairs = []
    for series in then_days.keys() & now_days.keys():
        a, b = then_days[series], now_days[series]
        complete = sorted((a.keys() & b.keys()) - {max(a), max(b)})  # a history's last day may be cut short
        pairs += [(a[d], b[d]) for d in complete]
    if not pairs:
        return None
    here = sum(p[1] for p in pairs)
    apart = sum(abs(a - b) for a, b in pairs)
    if apart <= TAIL_TOLERANCE * max(here, 1e-9):
        return None
    # The rule's own measure, not the two totals: day-by-day differences that cancel in the totals still count.
    return (f"its history disagrees with this run's on the {len(pairs)} series-days both record (their {target} "
            f"differ by {apart:,.0f} day by day, {apart / max(here, 1e-9):.0%} of this run's {here:,.0f} on them, "
            f"where at most {TAIL_TOLERANCE:.0%} is allowed), so it was made from other usage data")


def data_source_json(identity: dict[str, Any]) -> str:
    """The identity as the report folder's ``data_source.json`` text."""
    return json.dumps(identity, indent=2) + "\n"


def _names(series: set[str]) -> str:
    shown = sorted(series)
    more = len(shown) - _NAMES_SHOWN
    return ", ".join(shown[:_NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")


def series_difference(previous: dict[str, Any], current: dict[str, Any]) -> str:
    """The series only in ``previous`` and only in ``current``, named briefly ("" when they are the same)."""
    then, now = set(previous.get("series", [])), set(current["series"])
    parts = [f"only in it: {_names(then - now)}" if then - now else "",
             f"only in this run: {_names(now - then)}" if now - then else ""]
    return "; ".join(p for p in parts if p)


def why_not_comparable(previous: dict[str, Any] | None, current: dict[str, Any] | None) -> str | None:
    """Why a report made from ``previous`` is not an earlier plan of ``current``'s data; None when it is:
    the same kind of data and at least one series in common."""
    if not previous:
        return ("it does not record which data it was made from (reports from before this was recorded), so it "
                "may come from other data, such as the simulated demo")
    if not current:
        return "this run does not record which data it was made from"
    if previous.get("kind") != current["kind"]:
        then = _SAID.get(previous.get("kind"), f"{previous.get('kind')} data")
        return f"it was made from {then}, this run from {_SAID[current['kind']]}"
    if not set(previous.get("series", [])) & set(current["series"]):
        return f"it was made from other series, none in common ({series_difference(previous, current)})"
    return _tail_disagreement(previous, current)


def other_settings(previous: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The command ``previous`` was made with when its environment or ``--params`` differ from ``current``'s
    (``run`` records, ``tokenplan.run_record``), a file's path aside: each quarter's export is a new file.
    None when either run has no record (a report written before runs were recorded)."""
    then, now = previous.get("run"), current.get("run")
    if not then or not now:
        return None

    def settings(run: dict[str, Any]) -> tuple:
        params = {k: v for k, v in (run.get("runtime_params") or {}).items() if not str(k).endswith("_file")}
        return run.get("env") or "local", json.dumps(params, sort_keys=True, default=str)

    return then.get("command") if settings(then) != settings(now) else None


def other_source(previous: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The source ``previous`` was read from when it is not ``current``'s (another file, another dataset)."""
    then, now = previous.get("source"), current.get("source")
    return then if then and now and then != now else None
