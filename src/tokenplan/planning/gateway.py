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

Each deployment goes to its own model's provider (:func:`deployment_endpoints`): the one
genai-prices prices it at (``gpt-*``: ``openai/`` and ``OPENAI_API_KEY``; ``claude-*``:
``anthropic/`` and ``ANTHROPIC_API_KEY``), so one config serves a log of Claude and OpenAI
models. A provider and key set for every deployment would send one vendor's models to the
other's API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.planning.rate_limits import METRICS

PRE_CALL_CHECK = "enforce_model_rate_limits"
# genai-prices provider id -> LiteLLM's provider prefix, where the two libraries name a provider differently.
LITELLM_PREFIXES = {"google": "gemini", "aws": "bedrock", "x-ai": "xai", "fireworks": "fireworks_ai",
                    "together": "together_ai", "moonshotai": "moonshot", "voyageai": "voyage"}
# LiteLLM prefixes whose deployments sign in with the cloud's own credentials, not an API key.
CLOUD_CREDENTIALS = frozenset({"bedrock", "vertex_ai", "sagemaker"})

__all__ = ["CLOUD_CREDENTIALS", "LITELLM_PREFIXES", "PRE_CALL_CHECK", "deployment_endpoints", "deployment_name",
           "deployment_shares", "deployments_held_back", "gateway_config", "gateway_rule", "gateway_yaml",
           "group_budgets"]


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
        # One series is the whole group (its peak is the group's: the plan's rows, not draws of its own).
        shares = wide / whole if len(wide) > 1 else wide * 0.0 + 1.0
        fallback = shares.mean(axis=1).fillna(1.0 / len(wide))
        shares = shares.apply(lambda column: column.fillna(fallback))
        for series, row in shares.iterrows():
            rows += [{"model_group": group, "series": series, "metric": m, "share": float(row[m])} for m in METRICS]
    return pd.DataFrame(rows, columns=["model_group", "series", "metric", "share"])


def deployment_name(series: str) -> str:
    """A series' deployment name: ``claude-sonnet-4-5/team-a`` -> ``claude-sonnet-4-5:team-a``."""
    model, _, rest = str(series).partition("/")
    return f"{model}:{rest.replace('/', ':')}" if rest else model


def _endpoint(provider: str, api_key: str | None = None) -> dict[str, str | None]:
    """A deployment's provider prefix and key: ``os.environ/<PREFIX>_API_KEY`` (LiteLLM's own variable for
    anthropic, openai, gemini, mistral, ...) unless given; none for a cloud that signs in with its credentials."""
    key = api_key or (None if provider in CLOUD_CREDENTIALS else f"os.environ/{provider.upper()}_API_KEY")
    return {"provider": provider, "api_key": key}


def deployment_endpoints(found: Mapping[str, str | None], per_model: Mapping[str, Any] | None = None,
                         provider: str | None = None,
                         api_key: str | None = None) -> tuple[dict[str, dict[str, str | None]], list[str]]:
    """Per model: its deployments' LiteLLM ``provider`` prefix and ``api_key``, and notes saying what was not
    applied or not known.

    ``found``: model -> the genai-prices provider that prices it (None: unknown). ``per_model``: model ->
    a LiteLLM prefix, or ``{provider, api_key}``, set by the user for that model: it wins. ``provider``
    and ``api_key``: set for the whole run, they apply to every other model where the models come from
    one provider (a run through Azure or Bedrock, say), and in a run of several providers only to the
    models genai-prices does not know or finds at that same provider: there, one setting for all would
    send one vendor's models to the other's API. A model with no provider known or set is left out of
    the result (no deployment could reach it) and named in the notes.
    """
    per_model = dict(per_model or {})
    own = {m: LITELLM_PREFIXES.get(p, p) if p else None for m, p in found.items() if m not in per_model}
    providers_found = sorted({p for p in own.values() if p})
    one_provider = len(providers_found) <= 1
    endpoints: dict[str, dict[str, str | None]] = {}
    notes, not_overridden = [], []
    for model in sorted(found):
        if model in per_model:
            chosen = per_model[model]
            endpoints[model] = (_endpoint(str(chosen)) if isinstance(chosen, str) else
                                _endpoint(str(chosen["provider"]), chosen.get("api_key")))
        elif (provider or api_key) and (one_provider or own[model] in (None, provider)):
            prefix = provider or own[model]
            if prefix:
                endpoints[model] = _endpoint(prefix, api_key)
        elif own[model]:
            endpoints[model] = _endpoint(own[model])
            not_overridden += [model] if provider or api_key else []
        if model not in endpoints:
            notes.append(f"no gateway deployment for {model}: genai-prices does not know its provider; set "
                         f"planning.capacity.gateway.providers: {{{model}: <LiteLLM provider prefix>}}")
    if not_overridden:
        notes.append("planning.capacity.gateway.provider/api_key not applied to " + ", ".join(not_overridden)
                     + f": the usage's models come from several providers ({', '.join(providers_found)}), so each "
                     "goes to its own; set planning.capacity.gateway.providers per model to override")
    return endpoints, notes


def gateway_config(limits: pd.DataFrame, series_demand: pd.DataFrame, safety_margin: float,
                   endpoints: Mapping[str, Mapping[str, str | None]] | None = None,
                   model_ids: Mapping[str, str] | None = None,
                   group_peaks: pd.DataFrame | None = None) -> dict[str, Any]:
    """The proxy config: ``model_list`` (one deployment per series with traffic) and ``router_settings``.

    ``limits`` is indexed by model group; ``endpoints``: model -> its ``provider`` prefix and ``api_key``
    (:func:`deployment_endpoints`; None: each model's genai-prices provider); a series whose model has
    none gets no deployment. ``model_ids`` maps a series' model to the provider's model id where they
    differ (default: the series' model itself); ``group_peaks``: each group's P90 horizon peak per metric
    (:func:`deployment_shares`).
    """
    if not 0.0 <= safety_margin < 1.0:
        raise ValueError(f"planning.capacity.gateway.safety_margin must be in [0, 1), got {safety_margin!r}")
    ids = dict(model_ids or {})
    if endpoints is None:
        from tokenplan.planning.prices import model_provider

        models = {str(s).split("/")[0] for s in series_demand["series"].dropna()}
        endpoints, _ = deployment_endpoints({m: model_provider(m) for m in models})
    shares = deployment_shares(series_demand, group_peaks, group_budgets(limits, safety_margin))
    model_list = []
    for (group, series), rows in shares.groupby(["model_group", "series"], sort=True):
        model = str(series).split("/")[0]
        if model not in endpoints:
            continue
        endpoint = endpoints[model]
        params: dict[str, Any] = {"model": f"{endpoint['provider']}/{ids.get(model, model)}"}
        if endpoint.get("api_key"):
            params["api_key"] = endpoint["api_key"]
        for metric, share in zip(rows["metric"], rows["share"], strict=True):
            limit = float(limits.loc[group, metric]) if group in limits.index and metric in limits.columns else np.nan
            if np.isfinite(limit):
                # The tolerance: budget x (P90 / budget) may land a hair under the P90 it is.
                params[metric] = max(int(np.floor(limit * (1.0 - safety_margin) * min(share, 1.0) + 1e-9)), 1)
        model_list.append({"model_name": deployment_name(series), "litellm_params": params})
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
    # A boolean array, not a list: an empty list would select no columns of a demand with no rows left.
    demand = demand[np.array([(g, m) in over for g, m in zip(demand["model_group"], demand["metric"], strict=True)],
                             dtype=bool)]
    p90 = {(deployment_name(s), m): float(v)
           for s, m, v in zip(demand["series"], demand["metric"], demand["p90"], strict=True)}
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
