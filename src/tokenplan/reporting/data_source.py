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
the comparison, since each quarter's export is a new file, but is stated beside it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

__all__ = ["DATA_SOURCE_FILE", "data_source_identity", "data_source_json", "other_source", "series_difference",
           "why_not_comparable"]

DATA_SOURCE_FILE = "data_source.json"
SIMULATED, USER_DATA = "simulated demo", "usage data"
_SAID = {SIMULATED: "the simulated demo", USER_DATA: "your usage data"}
_NAMES_SHOWN = 3


def data_source_identity(simulated: bool, source: str | None, series: Iterable[str]) -> dict[str, Any]:
    """``{"kind", "source", "series", "fingerprint"}`` of a run's input; the fingerprint covers kind and series."""
    kind = SIMULATED if simulated else USER_DATA
    names = sorted({str(s) for s in series})
    digest = hashlib.sha256(json.dumps({"kind": kind, "series": names}).encode()).hexdigest()[:16]
    return {"kind": kind, "source": source or "unknown", "series": names, "fingerprint": digest}


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
    return None


def other_source(previous: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The source ``previous`` was read from when it is not ``current``'s (another file, another dataset)."""
    then, now = previous.get("source"), current.get("source")
    return then if then and now and then != now else None
