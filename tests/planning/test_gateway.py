"""The emitted gateway config loads in LiteLLM (offline) and splits limits by P90 demand."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from tokenplan.planning.gateway import PRE_CALL_CHECK, gateway_config, gateway_yaml

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

    text = gateway_yaml(gateway_config(LIMITS, _demand(), safety_margin=0.1), "test config")
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
        for metric in ("rpm", "itpm", "otpm"):
            assert deployment["litellm_params"].get(metric) == entry["litellm_params"].get(metric)
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
