"""A LiteLLM proxy config whose per-deployment limits keep traffic under the provider's.

Rule: every series (a model, or a model in one workspace) with forecast traffic in a
model group becomes one deployment. Its limit of each kind (LiteLLM's ``rpm``, ``itpm``,
``otpm``, and ``tpm``, which like OpenAI's counts every token of a call) is

    floor(min(budget, the series' P90 horizon peak * budget / the group's P90 horizon peak))

with ``budget = provider limit * (1 - safety_margin)`` (one series: the whole budget).
The group's P90 peak is the capacity plan's, of the group's traffic minute by minute: the
series' busiest minutes need not coincide, so it is below the sum of their own P90
peaks. Where it is under the budget, every deployment's own P90 minute passes (each
gets its P90 times the group's spare factor), and the limits add up to more than the
budget by as much as the busiest minutes do not coincide; where it is over, each
deployment is held to the same fraction of its own P90, so that the group's P90 minute
fits the budget. Split instead by shares of the summed P90 peaks (the sum of the limits
equal to the budget), the demo organisation's Sonnet teams were each held to about 0.81
of their own P90 minute while the group's P90 was 5% under the provider's limit: four
of six over their gateway limit at the simulator's true peak. Without the group's peak,
the split falls back to those shares.

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
           "gateway_yaml"]


def deployment_shares(series_demand: pd.DataFrame, group_peaks: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per group, series and metric: the series' P90 horizon peak over the group's (``share``).

    ``group_peaks``: ``model_group, metric, p90``, the group's own P90 horizon peak (the capacity
    plan's); where it is missing, the sum of the series' P90 peaks stands in (shares that add up
    to one). A series without a forecast of one metric (no request counts, say) takes its share
    of another metric, else an equal share. A series in no group (its model not in the limits)
    is a group of its own.
    """
    demand = series_demand.dropna(subset=["series"])
    demand = demand.assign(model_group=demand["model_group"].fillna(demand["series"]))
    peaks = (group_peaks.set_index(["model_group", "metric"])["p90"] if group_peaks is not None and len(group_peaks)
             else pd.Series(dtype=float))
    rows = []
    for group, members in demand.groupby("model_group", sort=True):
        wide = members.pivot_table(index="series", columns="metric", values="p90", aggfunc="first")
        wide = wide.reindex(index=sorted(members["series"].unique()), columns=list(METRICS))
        whole = pd.Series({m: peaks.get((group, m), np.nan) for m in METRICS}, dtype=float)
        whole = whole.where(whole > 0, wide.sum().where(wide.sum() > 0))
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
    shares = deployment_shares(series_demand, group_peaks)
    model_list = []
    for (group, series), rows in shares.groupby(["model_group", "series"], sort=True):
        model = str(series).split("/")[0]
        params: dict[str, Any] = {"model": f"{provider}/{ids.get(model, model)}", "api_key": api_key}
        for metric, share in zip(rows["metric"], rows["share"], strict=True):
            limit = float(limits.loc[group, metric]) if group in limits.index and metric in limits.columns else np.nan
            if np.isfinite(limit):
                params[metric] = max(int(np.floor(limit * (1.0 - safety_margin) * min(share, 1.0))), 1)
        model_list.append({"model_name": _alias(series), "litellm_params": params})
    return {"model_list": model_list, "router_settings": {"optional_pre_call_checks": [PRE_CALL_CHECK]}}


def gateway_rule(safety_margin: float) -> str:
    """The rule the config follows, in words (for the report and the file's header)."""
    return (f"each deployment's limit = floor(its own P90 horizon peak x the model group's provider limit x "
            f"(1 - {safety_margin:g} safety margin) / the group's P90 horizon peak), at most the group's limit x "
            f"(1 - {safety_margin:g}): where the group's P90 minute fits the margined limit, every deployment's own "
            "P90 minute passes, and the limits add up to more than the group's because the series' busiest minutes "
            "do not coincide; no provider limit, no gateway limit (a series whose model the limits do not list has "
            "none)")


def deployments_held_back(config: Mapping[str, Any], series_demand: pd.DataFrame) -> list[dict[str, Any]]:
    """The deployments whose gateway limit of a metric is under their own P90 horizon peak:
    ``model_name, metric, limit, p90`` (the group's P90 minute is over its margined provider limit)."""
    demand = series_demand.dropna(subset=["series", "p90"])
    p90 = {(_alias(s), m): float(v) for s, m, v in zip(demand["series"], demand["metric"], demand["p90"],
                                                         strict=True)}
    held = []
    for entry in config.get("model_list", []):
        for metric in METRICS:
            limit, peak = entry["litellm_params"].get(metric), p90.get((entry["model_name"], metric))
            if limit is not None and peak is not None and limit < np.floor(peak):
                held.append({"model_name": entry["model_name"], "metric": metric, "limit": int(limit), "p90": peak})
    return held


def gateway_yaml(config: Mapping[str, Any], header: str) -> str:
    """The config as YAML text with ``header`` as comment lines on top."""
    import yaml

    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + yaml.safe_dump(dict(config), sort_keys=False)
