"""A LiteLLM proxy config whose per-deployment limits keep traffic under the provider's.

Rule: every series (a model, or a model in one workspace) with forecast traffic in a
model group becomes one deployment. Its limit of each kind (LiteLLM's ``rpm``, ``itpm``,
``otpm``, and ``tpm``, which like OpenAI's counts every token of a call) is

    floor(provider limit * (1 - safety_margin) * share)

where ``share`` is the series' P90 horizon peak of that metric over the sum of the
group's series' P90 peaks (one series: share 1). A limit the provider does not set is
not set either, and a series whose model the limits do not list is a deployment of its
own with no limit: left out, the proxy would refuse its traffic. LiteLLM enforces the limits only with
``router_settings.optional_pre_call_checks: ["enforce_model_rate_limits"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.planning.rate_limits import METRICS

PRE_CALL_CHECK = "enforce_model_rate_limits"

__all__ = ["PRE_CALL_CHECK", "deployment_shares", "gateway_config", "gateway_rule", "gateway_yaml"]


def deployment_shares(series_demand: pd.DataFrame) -> pd.DataFrame:
    """Per group, series and metric: the series' share of the group's P90 horizon peak.

    A series without a forecast of one metric (no request counts, say) takes its share
    of another metric, else an equal share. A series in no group (its model not in the
    limits) is a group of its own.
    """
    demand = series_demand.dropna(subset=["series"])
    demand = demand.assign(model_group=demand["model_group"].fillna(demand["series"]))
    rows = []
    for group, members in demand.groupby("model_group", sort=True):
        wide = members.pivot_table(index="series", columns="metric", values="p90", aggfunc="first")
        wide = wide.reindex(index=sorted(members["series"].unique()), columns=list(METRICS))
        shares = wide / wide.sum()
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
                   model_ids: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The proxy config: ``model_list`` (one deployment per series with traffic) and ``router_settings``.

    ``limits`` is indexed by model group; ``model_ids`` maps a series' model to the
    provider's model id where they differ (default: the series' model itself).
    """
    if not 0.0 <= safety_margin < 1.0:
        raise ValueError(f"planning.capacity.gateway.safety_margin must be in [0, 1), got {safety_margin!r}")
    ids = dict(model_ids or {})
    shares = deployment_shares(series_demand)
    model_list = []
    for (group, series), rows in shares.groupby(["model_group", "series"], sort=True):
        model = str(series).split("/")[0]
        params: dict[str, Any] = {"model": f"{provider}/{ids.get(model, model)}", "api_key": api_key}
        for metric, share in zip(rows["metric"], rows["share"], strict=True):
            limit = float(limits.loc[group, metric]) if group in limits.index and metric in limits.columns else np.nan
            if np.isfinite(limit):
                params[metric] = max(int(np.floor(limit * (1.0 - safety_margin) * share)), 1)
        model_list.append({"model_name": _alias(series), "litellm_params": params})
    return {"model_list": model_list, "router_settings": {"optional_pre_call_checks": [PRE_CALL_CHECK]}}


def gateway_rule(safety_margin: float) -> str:
    """The rule the config follows, in words (for the report and the file's header)."""
    return (f"each deployment's limit = floor(the model group's provider limit x (1 - {safety_margin:g} safety "
            "margin) x the series' share of the group's P90 horizon peak); no provider limit, no gateway limit "
            "(a series whose model the limits do not list has none)")


def gateway_yaml(config: Mapping[str, Any], header: str) -> str:
    """The config as YAML text with ``header`` as comment lines on top."""
    import yaml

    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + yaml.safe_dump(dict(config), sort_keys=False)
