"""The emitted gateway config loads in LiteLLM (offline) and splits limits by P90 demand."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tokenplan.planning.gateway import (
    PRE_CALL_CHECK,
    deployment_endpoints,
    deployments_held_back,
    gateway_config,
    gateway_yaml,
    group_budgets,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]

LIMITS = pd.DataFrame({"rpm": [1000.0, 50.0], "itpm": [450_000.0, np.nan], "otpm": [90_000.0, 8_000.0],
                       "itpm_counts_cache_reads": [False, False]},
                      index=pd.Index(["Claude Sonnet 4.x", "Claude Opus 4.x"], name="model_group"))


def _demand() -> pd.DataFrame:
    rows = []
    for series, share in (("claude-sonnet-4-5/team-a", 3.0), ("claude-sonnet-4-5/team-b", 1.0)):
        rows += [{"model_group": "Claude Sonnet 4.x", "series": series, "metric": m, "p50": share, "p90": share}
                 for m in ("rpm", "itpm", "otpm")]
    rows += [{"model_group": "Claude Opus 4.x", "series": "claude-opus-4-5", "metric": m, "p50": 1.0, "p90": 2.0}
             for m in ("itpm", "otpm")]  # no request counts: rpm not forecast
    return pd.DataFrame(rows)


# A log of Claude and OpenAI models: OpenAI's limits are RPM and TPM per model.
MIXED_LIMITS = pd.concat([LIMITS.assign(tpm=np.nan), pd.DataFrame(
    {"rpm": [500.0], "itpm": [np.nan], "otpm": [np.nan], "tpm": [200_000.0], "itpm_counts_cache_reads": [False]},
    index=pd.Index(["GPT-4o mini"], name="model_group"))])


def _mixed_demand() -> pd.DataFrame:
    gpt = pd.DataFrame([{"model_group": "GPT-4o mini", "series": "gpt-4o-mini-2024-07-18", "metric": m, "p50": 1.0,
                         "p90": 2.0} for m in ("rpm", "tpm")])
    return pd.concat([_demand(), gpt], ignore_index=True)


def test_each_deployment_goes_to_its_own_models_provider():
    """A log of Claude and OpenAI models: every deployment had gone to ``anthropic/`` with the Anthropic key
    (``anthropic/gpt-4o-mini``); each now goes to the provider genai-prices prices its model at, and the
    OpenAI model's TPM limit reaches its deployment."""
    entries = {e["model_name"]: e["litellm_params"]
               for e in gateway_config(MIXED_LIMITS, _mixed_demand(), safety_margin=0.1)["model_list"]}
    assert entries["gpt-4o-mini-2024-07-18"] == {"model": "openai/gpt-4o-mini-2024-07-18",
                                                 "api_key": "os.environ/OPENAI_API_KEY", "rpm": 450, "tpm": 180_000}
    for name in ("claude-sonnet-4-5:team-a", "claude-opus-4-5"):
        assert entries[name]["model"] == f"anthropic/{name.split(':')[0]}"
        assert entries[name]["api_key"] == "os.environ/ANTHROPIC_API_KEY" and "tpm" not in entries[name]


def test_the_planning_node_with_the_shipped_parameters_sends_each_model_to_its_provider():
    """``conf/base`` had ``provider: anthropic`` for every deployment, so an OpenAI run without
    ``--params planning.capacity.gateway.provider=openai`` wrote ``anthropic/gpt-4.1``."""
    from tokenplan.pipelines.planning.nodes import build_gateway_config

    params = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_planning.yml").read_text())["planning"]
    plan = pd.DataFrame({"model_group": ["GPT-4o mini"], "metric": ["rpm"], "p90": [2.0], "period": ["horizon"]})
    config = build_gateway_config(MIXED_LIMITS.reset_index(), _mixed_demand(), plan, params["capacity"])
    models = {e["model_name"]: e["litellm_params"]["model"] for e in config["model_list"]}
    assert models == {"claude-opus-4-5": "anthropic/claude-opus-4-5",
                      "claude-sonnet-4-5:team-a": "anthropic/claude-sonnet-4-5",
                      "claude-sonnet-4-5:team-b": "anthropic/claude-sonnet-4-5",
                      "gpt-4o-mini-2024-07-18": "openai/gpt-4o-mini-2024-07-18"}


def test_a_provider_set_for_the_run_applies_where_the_models_come_from_one_provider():
    found = {"claude-sonnet-4-5": "anthropic", "gpt-4.1": "openai", "my-finetune": None}
    # Nothing set: each model its own provider and key; no provider known, no deployment, and said.
    endpoints, notes = deployment_endpoints(found)
    assert endpoints == {"claude-sonnet-4-5": {"provider": "anthropic", "api_key": "os.environ/ANTHROPIC_API_KEY"},
                         "gpt-4.1": {"provider": "openai", "api_key": "os.environ/OPENAI_API_KEY"}}
    assert notes == ["no gateway deployment for my-finetune: genai-prices does not know its provider; set "
                     "planning.capacity.gateway.providers: {my-finetune: <LiteLLM provider prefix>}"]
    # One provider's models (Azure OpenAI, say): the run's setting is every deployment's.
    endpoints, notes = deployment_endpoints({"gpt-4.1": "openai", "gpt-4o-mini": "openai"}, provider="azure")
    assert set(map(str, endpoints.values())) == {str({"provider": "azure", "api_key": "os.environ/AZURE_API_KEY"})}
    assert notes == []
    # Several providers: the run's setting only where it is the model's own provider or none is known.
    endpoints, notes = deployment_endpoints(found, provider="openai", api_key="os.environ/MY_OPENAI_KEY")
    assert endpoints["gpt-4.1"] == endpoints["my-finetune"] == {"provider": "openai",
                                                                 "api_key": "os.environ/MY_OPENAI_KEY"}
    assert endpoints["claude-sonnet-4-5"]["provider"] == "anthropic"
    assert notes == ["planning.capacity.gateway.provider/api_key not applied to claude-sonnet-4-5: the usage's "
                     "models come from several providers (anthropic, openai), so each goes to its own; set "
                     "planning.capacity.gateway.providers per model to override"]
    # Per model, the user's choice wins; a cloud signing in with its own credentials gets no api_key.
    endpoints, _ = deployment_endpoints(found, {"claude-sonnet-4-5": "bedrock",
                                                "my-finetune": {"provider": "hosted_vllm", "api_key": "none"}})
    assert endpoints["claude-sonnet-4-5"] == {"provider": "bedrock", "api_key": None}
    assert endpoints["my-finetune"] == {"provider": "hosted_vllm", "api_key": "none"}
    # genai-prices' names become LiteLLM's.
    assert deployment_endpoints({"gemini-2.5-pro": "google"})[0]["gemini-2.5-pro"]["provider"] == "gemini"


def test_limits_split_by_p90_share_with_margin():
    config = gateway_config(LIMITS, _demand(), safety_margin=0.1,
                            model_ids={"claude-sonnet-4-5": "claude-sonnet-4-5-20250929"})
    entries = {e["model_name"]: e["litellm_params"] for e in config["model_list"]}
    assert set(entries) == {"claude-sonnet-4-5:team-a", "claude-sonnet-4-5:team-b", "claude-opus-4-5"}
    team_a, team_b = entries["claude-sonnet-4-5:team-a"], entries["claude-sonnet-4-5:team-b"]
    assert team_a["model"] == "anthropic/claude-sonnet-4-5-20250929"
    assert (team_a["rpm"], team_b["rpm"]) == (675, 225)           # 1000 x 0.9 x 3/4 and 1/4
    assert team_a["itpm"] + team_b["itpm"] <= 450_000 * 0.9
    opus = entries["claude-opus-4-5"]
    assert "itpm" not in opus                                       # no provider limit, no gateway limit
    assert opus["rpm"] == 45 and opus["otpm"] == 7200              # one series: the whole (margined) limit
    assert config["router_settings"] == {"optional_pre_call_checks": [PRE_CALL_CHECK]}


def test_config_loads_in_litellm(tmp_path):
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no price-map download
    litellm_router = pytest.importorskip("litellm.router")
    from litellm.types.router import Deployment, LiteLLMParamsTypedDict

    # Claude and OpenAI models in one config, each with its own provider, key and kinds of limit.
    text = gateway_yaml(gateway_config(MIXED_LIMITS, _mixed_demand(), safety_margin=0.1), "test config")
    path = tmp_path / "litellm_config.yaml"
    path.write_text(text)
    config = yaml.safe_load(path.read_text())
    known = set(LiteLLMParamsTypedDict.__annotations__)
    for entry in config["model_list"]:
        deployment = Deployment(**entry)  # pydantic validation of every entry
        assert deployment.litellm_params.model == entry["litellm_params"]["model"]
        assert set(entry["litellm_params"]) <= known, set(entry["litellm_params"]) - known
        assert set(entry) <= set(Deployment.model_fields)

    async def build():
        return litellm_router.Router(model_list=config["model_list"], **config["router_settings"])

    router = asyncio.run(build())
    loaded = router.get_model_list()
    assert len(loaded) == len(config["model_list"])
    for entry, deployment in zip(config["model_list"], loaded, strict=True):
        for key in ("model", "rpm", "itpm", "otpm", "tpm"):
            assert deployment["litellm_params"].get(key) == entry["litellm_params"].get(key)
    assert {d["litellm_params"]["model"].split("/")[0] for d in loaded} == {"anthropic", "openai"}
    assert loaded[-1]["litellm_params"]["tpm"] == 180_000
    # The check that enforces rpm/itpm/otpm is registered (LiteLLM ignores the limits without it).
    assert "ModelRateLimitingCheck" in [type(c).__name__ for c in (router.optional_callbacks or [])]


def test_a_series_the_limits_do_not_list_gets_a_deployment_without_limits():
    """A dated-only limits file that lists Sonnet alone: Haiku's traffic still needs a deployment, or the proxy
    refuses every Haiku call; with no limit known, it has none."""
    haiku = pd.DataFrame([{"model_group": np.nan, "series": "claude-haiku-4-5", "metric": m, "p50": 1.0, "p90": 2.0}
                          for m in ("rpm", "itpm", "otpm")])
    unplanned = pd.DataFrame({"model_group": [np.nan], "series": ["claude-3-haiku"]})  # traffic, no peaks
    config = gateway_config(LIMITS, pd.concat([_demand(), haiku, unplanned], ignore_index=True), safety_margin=0.1)
    entries = {e["model_name"]: e["litellm_params"] for e in config["model_list"]}
    for name in ("claude-haiku-4-5", "claude-3-haiku"):
        assert entries[name] == {"model": f"anthropic/{name}", "api_key": "os.environ/ANTHROPIC_API_KEY"}
    assert entries["claude-sonnet-4-5:team-a"]["rpm"] == 675  # the listed groups' split is unchanged
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no price-map download
    litellm_types = pytest.importorskip("litellm.types.router")
    for entry in config["model_list"]:
        litellm_types.Deployment(**entry)


def _teams(p90s: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"model_group": "Claude Sonnet 4.x", "series": f"claude-sonnet-4-5/{team}", "metric": "rpm",
                          "p50": p90 * 0.9, "p90": p90} for team, p90 in p90s.items()])


def test_each_deployment_passes_its_own_p90_minute_where_the_group_fits_the_limit():
    """Teams' busiest minutes do not coincide: the group's P90 (191) is under the margined limit (220 x 0.9 =
    198) while their own P90s add up to 221. Split by shares of that sum, every team was held to 0.9 of its own
    P90 minute; now each gets its own P90 (the least overbooking that throttles none at its own P90 minute)."""
    demand = _teams({"support": 48.0, "search": 56.0, "finance": 22.0, "batch": 48.0, "marketing": 29.0,
                     "pilots": 18.0})
    limits = pd.DataFrame({"rpm": [220.0], "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False]},
                          index=pd.Index(["Claude Sonnet 4.x"], name="model_group"))
    group = pd.DataFrame({"model_group": ["Claude Sonnet 4.x"], "metric": ["rpm"], "p90": [191.0]})
    config = gateway_config(limits, demand, safety_margin=0.1, group_peaks=group)
    rpm = {e["model_name"].split(":")[1]: e["litellm_params"]["rpm"] for e in config["model_list"]}
    p90 = dict(zip(demand["series"].str.split("/").str[1], demand["p90"], strict=True))
    assert rpm == {team: int(v) for team, v in p90.items()}
    assert sum(rpm.values()) > 198  # overbooked by as much as the busiest minutes do not coincide
    assert deployments_held_back(config, demand, group, group_budgets(limits, 0.1)) == []
    # The old split (no group peak): the limits add up to the margined limit, every team under its own P90.
    old = gateway_config(limits, demand, safety_margin=0.1)
    assert sum(e["litellm_params"]["rpm"] for e in old["model_list"]) <= 198
    assert all(e["litellm_params"]["rpm"] < p90[e["model_name"].split(":")[1]] for e in old["model_list"])
    # A whole P90 computed as the budget's share of itself lands on itself, not one under (117 x 60 / 117).
    tight = gateway_config(limits.assign(rpm=130.0), _teams({"a": 100.0, "b": 60.0}), safety_margin=0.1,
                           group_peaks=group.assign(p90=110.0))
    assert [e["litellm_params"]["rpm"] for e in tight["model_list"]] == [100, 60]


def test_a_group_over_its_limit_holds_every_deployment_to_the_same_share_of_its_p90():
    demand = _teams({"a": 80.0, "b": 40.0})
    limits = pd.DataFrame({"rpm": [100.0], "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False]},
                          index=pd.Index(["Claude Sonnet 4.x"], name="model_group"))
    group = pd.DataFrame({"model_group": ["Claude Sonnet 4.x"], "metric": ["rpm"], "p90": [110.0]})
    config = gateway_config(limits, demand, safety_margin=0.1, group_peaks=group)
    rpm = {e["model_name"].split(":")[1]: e["litellm_params"]["rpm"] for e in config["model_list"]}
    assert rpm == {"a": int(np.floor(80 * 90 / 110)), "b": int(np.floor(40 * 90 / 110))}
    held = deployments_held_back(config, demand, group, group_budgets(limits, 0.1))
    assert [(h["model_name"], h["metric"]) for h in held] == [("claude-sonnet-4-5:a", "rpm"),
                                                              ("claude-sonnet-4-5:b", "rpm")]
    # Every deployment of a group over its budget is named, one whose limit floors to its own P90's floor too.
    close = deployments_held_back(config, _teams({"a": 80.0, "b": 36.01}), group, group_budgets(limits, 0.1))
    assert len(close) == 2
    # Own P90s that add up to within the budget: the budget split by their shares, adding up to it.
    roomy = gateway_config(limits.assign(rpm=200.0), demand, safety_margin=0.1, group_peaks=group)
    assert {e["model_name"]: e["litellm_params"]["rpm"] for e in roomy["model_list"]} == {
        "claude-sonnet-4-5:a": 120, "claude-sonnet-4-5:b": 60}
    # One series is the whole group: the whole margined limit, never more.
    one = gateway_config(limits, _teams({"a": 80.0}), safety_margin=0.1,
                         group_peaks=group.assign(p90=60.0))
    assert one["model_list"][0]["litellm_params"]["rpm"] == 90


def test_a_series_in_use_that_the_forecast_left_out_gets_a_deployment_sized_by_its_history():
    from tokenplan.pipelines.planning.nodes import _live_without_forecast

    days = pd.date_range("2026-11-16", "2026-12-06", freq="D")
    rows = []
    for unit, start, peak in (("claude-sonnet-4-5/team_code", "2026-12-05", 95.0),  # two days old: no forecast
                              ("claude-sonnet-4/team_old", "2026-11-16", 50.0),  # stopped three weeks ago
                              ("claude-sonnet-4-5/team_chat", "2026-11-16", 300.0)):  # forecast
        for day in days[days >= start]:
            used = unit != "claude-sonnet-4/team_old" or day < pd.Timestamp("2026-11-20")
            rows += [{"unit": unit, "metric": m, "ds": day, "total": 1000.0 * used, "peak": peak * used,
                      "level": "series"} for m in ("rpm", "otpm")]
    history = pd.DataFrame(rows)

    demand = _live_without_forecast(history, ["claude-sonnet-4-5/team_chat", "claude-sonnet-4/team_old"])

    assert set(demand["series"]) == {"claude-sonnet-4-5/team_code"}
    assert demand.set_index("metric")["p90"].to_dict() == {"otpm": 95.0, "rpm": 95.0}
    config = gateway_config(pd.DataFrame({"rpm": [450.0], "otpm": [4e5]}, index=["Claude Sonnet 4.x"]),
                            demand.assign(model_group="Claude Sonnet 4.x"), 0.1)
    assert [d["model_name"] for d in config["model_list"]] == ["claude-sonnet-4-5:team_code"]
