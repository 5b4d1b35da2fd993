"""Which series and targets the driver breakdown and SHAP explain, and which they leave out.

Both explain the tuned model's (XGBoost's) forecasts only: a series and target forecast by another method (the
ensemble, MSTL) has no drivers. The report and notebook 02 name those with their method, from ``model_selection``,
so a breakdown of 4 of 9 series-targets does not read as the whole forecast's.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tokenplan.reporting.plots import METHOD_LABELS, TARGET_LABELS
from tokenplan.reporting.series_shown import only_shown

__all__ = ["drawn_panels", "not_explained", "not_explained_text", "planned_methods", "series_not_explained",
           "why_none_explained"]


def planned_methods(forecast: pd.DataFrame | None) -> dict[str, str] | None:
    """``series|target`` -> the method the forecast used (its ``method`` column); None without one."""
    if forecast is None or "method" not in forecast:
        return None
    keys = forecast["series"].astype(str) + "|" + forecast["target"].astype(str)
    return dict(zip(keys, forecast["method"].astype(str), strict=True))


def _methods(selection: dict[str, Any] | None, forecast: pd.DataFrame | None) -> dict[str, str]:
    """``series|target`` -> the method the plan forecasts it with: ``forecast``'s (a series chosen for XGBoost that
    fell back to the ensemble at the origin is the ensemble's) where it has any, else the selection's."""
    return planned_methods(forecast) or (selection or {}).get("methods", {})


def not_explained(selection: dict[str, Any] | None, drivers: pd.DataFrame | None,
                  ended: dict[str, str] | None = None, forecast: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per series and target forecast (``forecast``'s methods, else ``model_selection``'s ``methods``) that
    ``forecast_drivers`` does not cover: ``series``, ``target`` and ``method`` (its label, ``"MSTL"``), requests
    first. A series in ``ended`` (``forecast.attrs["ended"]``) is not forecast at all, so it is not one of them."""
    covered = set() if drivers is None or drivers.empty else set(
        zip(drivers["series"].astype(str), drivers["target"].astype(str), strict=True))
    rows = [{"series": series, "target": target, "method": METHOD_LABELS.get(method, method)}
            for key, method in _methods(selection, forecast).items()
            for series, _, target in [key.rpartition("|")]
            if (series, target) not in covered and series not in (ended or {})]
    order = {t: i for i, t in enumerate(TARGET_LABELS)}
    table = pd.DataFrame(rows, columns=["series", "target", "method"])
    return table.sort_values(["target", "series"], key=lambda c: c.map(order).fillna(99) if c.name == "target" else c,
                             kind="stable").reset_index(drop=True)


def series_not_explained(selection: dict[str, Any] | None, drivers: pd.DataFrame | None,
                         target: str, ended: dict[str, str] | None = None,
                         forecast: pd.DataFrame | None = None) -> dict[str, str]:
    """Series forecast that the driver breakdown of ``target`` does not cover, each with how it is forecast
    (``"MSTL"``): ``not_explained`` of that target."""
    rows = not_explained(selection, drivers, ended, forecast)
    rows = rows[rows["target"] == target]
    return dict(zip(rows["series"], rows["method"], strict=True))


def not_explained_text(rows: pd.DataFrame) -> str:
    """``requests of a, b and c (ensemble); output tokens of a (MSTL)``: ``not_explained``'s rows per target and
    method; empty when there are none."""
    parts = []
    for (target, method), group in rows.groupby(["target", "method"], sort=False):
        names = list(group["series"])
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        parts.append(f"{TARGET_LABELS.get(target, target)} of {listed} ({method})")
    return "; ".join(parts)


def why_none_explained(selection: dict[str, Any] | None) -> str:
    """Why no series and target is forecast by the tuned model alone, from ``model_selection``: untrained (too short
    a history), or trained and a member of some ensembles while the ensemble was kept (windows too short for the
    horizon to let one method win, or none beat it on enough series) or another method won."""
    selection = selection or {}
    methods = selection.get("methods") or {}
    if not selection.get("model_trained", True) or not methods:
        return "The tuned model was not trained (too short a history to train it): nothing for SHAP to explain."
    members = selection.get("ensemble_members") or {}
    inside = sum("xgboost" in members.get(key, []) for key, method in methods.items() if method == "ensemble")
    used = sorted({METHOD_LABELS.get(m, m) for m in methods.values()})
    if inside:
        why = ("the windows are too short for the horizon for one method to win, so every series keeps the ensemble"
               if not selection.get("single_method_allowed", True)
               else "no method alone beat the ensemble on the tuning folds")
        return (f"The tuned model was trained and is a member of the ensemble of {inside} of {len(methods)} "
                f"series-targets, but forecasts none alone ({why}): SHAP explains its own forecasts only, so "
                "nothing here.")
    return (f"The tuned model was trained but forecasts no series-target ({', '.join(used)} won on the tuning "
            "folds): nothing for SHAP to explain.")


def drawn_panels(drivers: pd.DataFrame, target: str, shown: dict[str, Any] | None) -> str:
    """How many models ``drivers.png`` draws a panel for (those of the series shown that the breakdown of ``target``
    covers) out of the models shown: "2 of the 4 models shown" where the other two are forecast by another method
    (a count of the models shown alone had read "4 of 4" over two panels)."""
    drawn = only_shown(drivers[drivers["target"] == target], shown)["series"].nunique()
    models = len(shown["series"]) if shown and shown.get("series") is not None else drawn
    limited = bool(shown and shown.get("limited"))
    return f"{drawn} of the {models} models {'shown' if limited else 'planned'}"
