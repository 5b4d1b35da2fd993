"""A LiteLLM proxy config whose per-deployment limits keep traffic under the provider's.

Rule: every series (a model, or a model in one workspace) with forecast traffic in a
model group becomes one deployment. Its limit of each kind (LiteLLM's ``rpm``, ``itpm``,
``otpm``, and ``tpm``, which like OpenAI's counts every token of a call) is

    floor(budget * min(1, the series' P90 horizon peak / max(G, min(S, budget))))

with ``budget = provider limit * (1 - safety_margin)``, ``G`` the group's P90 horizon peak
(the capacity plan's, of the group's traffic minute by minute) and ``S`` the sum of its
series' own P90 peaks (one series: the whole budget). The series' busiest minutes need not
coincide, so ``G`` is below ``S``:

- ``S`` within the budget: the budget split by shares of ``S``; every deployment's own P90
  minute passes and the limits add up to the budget.
- ``G`` within the budget but not ``S``: each deployment its own P90 peak. The limits add up
  to more than the budget (by as much as the busiest minutes do not coincide), but none is
  throttled at its own P90 minute while the group's stays under the provider's limit.
- ``G`` over the budget: each deployment held to the same share of its own P90
  (``budget / G``), bringing the group's P90 minute down to the budget; the report names them.

Split by shares of ``S`` in every case, the demo organisation's Opus deployments were each held
to 0.86 of their own P90 minute while the group's P90 (108 requests a minute) was under its
margined limit (112), and Sonnet's to 0.81 while the group's was 5% under the provider's: four
of six Sonnet deployments over their gateway limit at the simulator's true peak.

A limit the provider does not set is not set either, and a series whose model the limits
do not list is a deployment of its own with no limit: left out, the proxy would refuse
its traffic. LiteLLM enforces the limits only with
``router_settings.optional_pre_call_checks: ["enforce_model_rate_limits"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.planning.rate_limits import METRICS

PRE_CALL_CHECK = "enforce_model_rate_limits"

__all__ = ["PRE_CALL_CHECK", "deployment_shares", "deployments_held_back", "gateway_config", "gateway_rule",
           "gateway_yaml", "group_budgets"]


def deployment_shares(series_demand: pd.DataFrame, group_peaks: pd.DataFrame | None = None,
                      budgets: pd.Series | None = None) -> pd.DataFrame:
    """Per group, series and metric: the share of the group's budget its deployment gets (``share``).

    ``group_peaks``: ``model_group, metric, p90``, the group's own P90 horizon peak (the capacity
    plan's; missing: the sum of its series' P90 peaks); ``budgets``: per ``model_group, metric``, the
    provider limit less the safety margin. A series' share is its P90 peak over
    ``max(group P90, min(sum of the series' P90s, budget))``: shares of the summed P90s where those
    fit the budget (every deployment's own P90 passes, and the limits add up to the budget); one,
    each its own P90, where only the group's P90 fits it; the group's P90 over the budget, each
    cut alike. A series without a forecast of one metric (no request counts, say) takes its share
    of another metric, else an equal share. A series in no group (its model not in the limits) is
    a group of its own.
    """
    demand = series_demand.dropna(subset=["series"])
    demand = demand.assign(model_group=demand["model_group"].fillna(demand["series"]))
    peaks = (group_peaks.set_index(["model_group", "metric"])["p90"] if group_peaks is not None and len(group_peaks)
             else pd.Series(dtype=float))
    budgets = budgets if budgets is not None else pd.Series(dtype=float)
    rows = []
    for group, members in demand.groupby("model_group", sort=True):
        wide = members.pivot_table(index="series", columns="metric", values="p90", aggfunc="first")
        wide = wide.reindex(index=sorted(members["series"].unique()), columns=list(METRICS))
        summed = wide.sum().where(wide.sum() > 0)
        whole = pd.Series({m: peaks.get((group, m), np.nan) for m in METRICS}, dtype=float)
        whole = whole.where(whole > 0, summed)
        budget = pd.Series({m: budgets.get((group, m), np.nan) for m in METRICS}, dtype=float)
        whole = np.maximum(whole, np.fmin(summed, budget))  # fmin: no budget, the sum
        # One series is the whole group (its own peak and the group's differ only by their draws).
        shares = wide / whole if len(wide) > 1 else wide * 0.0 + 1.0
        fallback = shares.mean(axis=1).fillna(1.0 / len(wide))
        shares = shares.apply(lambda column: column.fillna(fallback))
        for series, row in shares.iterrows():
            rows += [{"model_group": group, "series": series, "metric": m, "share": float(row[m])} for m in METRICS]
    return pd.DataFrame(rows, columns=["model_group", "series", "metric", "share"])


def _alias(series: str) -> str:
    model, _, rest = str(series).partition("/")
    return f"{model}:{rest.replace('/', ':')}" if rest else model


def gateway_config(limits: pd.DataFrame, series_demand: pd.DataFrame, safety_margin: float,
                   api_key: str = "os.environ/ANTHROPIC_API_KEY", provider: str = "anthropic",
                   model_ids: Mapping[str, str] | None = None,
                   group_peaks: pd.DataFrame | None = None) -> dict[str, Any]:
    """The proxy config: ``model_list`` (one deployment per series with traffic) and ``router_settings``.

    ``limits`` is indexed by model group; ``model_ids`` maps a series' model to the
    provider's model id where they differ (default: the series' model itself);
    ``group_peaks``: each group's P90 horizon peak per metric (:func:`deployment_shares`).
    """
    if not 0.0 <= safety_margin < 1.0:
        raise ValueError(f"planning.capacity.gateway.safety_margin must be in [0, 1), got {safety_margin!r}")
    ids = dict(model_ids or {})
    shares = deployment_shares(series_demand, group_peaks, group_budgets(limits, safety_margin))
    model_list = []
    for (group, series), rows in shares.groupby(["model_group", "series"], sort=True):
        model = str(series).split("/")[0]
        params: dict[str, Any] = {"model": f"{provider}/{ids.get(model, model)}", "api_key": api_key}
        for metric, share in zip(rows["metric"], rows["share"], strict=True):
            limit = float(limits.loc[group, metric]) if group in limits.index and metric in limits.columns else np.nan
            if np.isfinite(limit):
                # The tolerance: budget x (P90 / budget) may land a hair under the P90 it is.
                params[metric] = max(int(np.floor(limit * (1.0 - safety_margin) * min(share, 1.0) + 1e-9)), 1)
        model_list.append({"model_name": _alias(series), "litellm_params": params})
    return {"model_list": model_list, "router_settings": {"optional_pre_call_checks": [PRE_CALL_CHECK]}}


def gateway_rule(safety_margin: float) -> str:
    """The rule the config follows, in words (for the report and the file's header)."""
    return (f"with a group's budget = its provider limit x (1 - {safety_margin:g} safety margin): each deployment's "
            "limit is its share of the budget by the series' P90 horizon peaks where those add up to within it; "
            "its own P90 peak where only the group's P90 peak (its busiest minute, all series together) is within "
            "it; and its own P90 peak x the budget / the group's P90 peak where the group's is over it; no provider "
            "limit, no gateway limit (a series whose model the limits do not list has none)")


def group_budgets(limits: pd.DataFrame, safety_margin: float) -> pd.Series:
    """Per ``model_group, metric``: the provider limit less the safety margin (``limits`` indexed by group)."""
    return (limits[[m for m in METRICS if m in limits.columns]].astype(float) * (1.0 - safety_margin)).stack()


def deployments_held_back(config: Mapping[str, Any], series_demand: pd.DataFrame, group_peaks: pd.DataFrame,
                          budgets: pd.Series) -> list[dict[str, Any]]:
    """The deployments of each group and metric whose P90 horizon peak (``group_peaks``: ``model_group, metric,
    p90``) is over its budget (:func:`group_budgets`), each held to the same share of its own P90:
    ``model_name, metric, limit, p90``."""
    over = {(g, m) for g, m, v in zip(group_peaks["model_group"], group_peaks["metric"], group_peaks["p90"],
                                      strict=True) if np.isfinite(budgets.get((g, m), np.nan)) and v > budgets[g, m]}
    demand = series_demand.dropna(subset=["series", "p90", "model_group"])
    demand = demand[[(g, m) in over for g, m in zip(demand["model_group"], demand["metric"], strict=True)]]
    p90 = {(_alias(s), m): float(v) for s, m, v in zip(demand["series"], demand["metric"], demand["p90"],
                                                         strict=True)}
    held = []
    for entry in config.get("model_list", []):
        for metric in METRICS:
            limit, peak = entry["litellm_params"].get(metric), p90.get((entry["model_name"], metric))
            if limit is not None and peak is not None:
                held.append({"model_name": entry["model_name"], "metric": metric, "limit": int(limit), "p90": peak})
    return held


def gateway_yaml(config: Mapping[str, Any], header: str) -> str:
    """The config as YAML text with ``header`` as comment lines on top."""
    import yaml

    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + yaml.safe_dump(dict(config), sort_keys=False)
